from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife import registry, store


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def hdv3_path() -> str:
    """The real HDv3 weights (fetched into the model store if this machine does not have them)."""
    return str(store.fetch(registry.HDV3, progress=False))


@pytest.fixture(scope="session")
def hdv3_state(hdv3_path: str) -> dict[str, torch.Tensor]:
    return store.load_state_dict(hdv3_path)


@pytest.fixture
def core() -> vs.Core:
    c = vs.core.core
    threads = c.num_threads
    yield c
    c.num_threads = threads


def planes(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(frame.format.num_planes)])


def random_clip(n: int, width: int, height: int, fmt: int = vs.RGBS, seed: int = 0, fps: tuple[int, int] = (24, 1)) -> vs.VideoNode:
    """A smooth random image moving right/down by a pixel per frame (same shot: the scene detector
    does not cut inside it even at 32 x 32, where faster motion is a large part of the frame)."""
    rng = np.random.default_rng(seed)
    ch, cw = max(2, (height + 16) // 8), max(2, (width + 16) // 8)
    coarse = torch.from_numpy(rng.random((1, 3, ch, cw), dtype=np.float32))
    big = torch.nn.functional.interpolate(coarse, size=(height + n + 1, width + n + 1), mode="bicubic")[0]
    big = big.clamp(0, 1).numpy()
    frames = [big[:, k : k + height, k : k + width] for k in range(n)]
    blank = vs.core.std.BlankClip(format=fmt, width=width, height=height, length=n, fpsnum=fps[0], fpsden=fps[1])
    dtype = np.float16 if fmt == vs.RGBH else np.float32

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), frames[n][p].astype(dtype))
        return out

    return blank.std.ModifyFrame(blank, fill)


@pytest.fixture(autouse=True)
def _model_dir_is_set_for_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Child processes (vspipe, the CLI) must see the same store as the tests.
    monkeypatch.setenv("VSRIFE_MODEL_DIR", os.fspath(store.model_dir()))


def random_state(spec, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for a registered network (betas perturbed so they are not all ones)."""
    torch.manual_seed(seed)
    net = spec.build()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("beta"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
    return {k: v.clone() for k, v in net.state_dict().items()}


def save_state(sd: dict[str, torch.Tensor], path, prefix: str = "module."):
    torch.save({prefix + k: v for k, v in sd.items()}, path)
    return path


@pytest.fixture(scope="session")
def v46_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Random-weight RIFE 4.6 (takes any timestep) saved like a release file."""
    spec = registry.get_spec("4.6")
    return str(save_state(random_state(spec), tmp_path_factory.mktemp("v46") / spec.filename))
