"""The backends against each other on real weights and real photographs, the choice backend=None
makes, the compiled-graph cache (hit, miss, invalidation, damage), one inference thread, and
determinism under VapourSynth threads."""

from __future__ import annotations

import gc
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsrife
from vsrife import registry
from vsrife.backends import DEFAULT_ENV, _extremes3, choose
from vsrife.synthetic import clip_from_frames, photo, window

from helpers import assert_independent_of_threads_and_order, planes, psnr, random_clip, random_state

pytestmark = pytest.mark.network

W, H = 192, 128
MOTIONS = [("astronaut", 3.3, 1.7), ("coffee", -4.6, 2.2), ("chelsea", 2.5, -3.1)]


@pytest.fixture(autouse=True)
def compiled(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One compiled-graph cache for the module (so each graph converts once), and no backend
    preset: these tests choose it."""
    root = tmp_path_factory.getbasetemp() / "compiled"
    monkeypatch.setenv("VSRIFE_COMPILED_DIR", str(root))
    monkeypatch.delenv(DEFAULT_ENV, raising=False)
    return root


def _pairs() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for name, dx, dy in MOTIONS:
        img = photo(name)
        out.append(
            (
                window(img, 30, 30, W, H),
                window(img, 30 + dx, 30 + dy, W, H),
                window(img, 30 + dx / 2, 30 + dy / 2, W, H),
            )
        )
    return out


def _mean_psnr(model: str, **kwargs: object) -> tuple[float, list[np.ndarray]]:
    scores, mids = [], []
    for f0, f1, truth in _pairs():
        mid = planes(vsrife.RIFE(clip_from_frames([f0, f1]), 2, model=model, **kwargs).get_frame(1))
        mids.append(mid)
        scores.append(psnr(mid, truth, 8))
    return float(np.mean(scores)), mids


@pytest.mark.parametrize("model", ["4.25", "hdv3"])
def test_openvino_matches_torch_fp32_on_real_weights(model: str, hdv3_path: str, v425_path: str) -> None:
    ref, ref_mids = _mean_psnr(model, backend="torch", precision="fp32")
    ov32, ov_mids = _mean_psnr(model, backend="openvino", precision="fp32")
    mixed, _ = _mean_psnr(model, backend="openvino", precision="bf16")
    print(f"{model}: torch fp32 {ref:.3f} dB, OpenVINO f32 {ov32 - ref:+.4f} dB, mixed bf16 {mixed - ref:+.4f} dB")
    assert abs(ov32 - ref) <= 0.01
    assert max(float(np.abs(a - b).max()) for a, b in zip(ov_mids, ref_mids)) < 1e-3
    assert mixed >= ref - 0.05  # the reduced precision keeps the flow and warps in f32


def test_backend_none_picks_openvino_on_the_cpu_where_the_model_exports() -> None:
    import torch

    cpu = torch.device("cpu")
    assert choose(None, registry.get_spec("4.25"), cpu) == "openvino"
    assert choose(None, registry.HDV3, cpu) == "openvino"
    assert choose(None, registry.get_spec("4.0"), cpu) == "torch"  # a data-dependent branch
    assert choose("torch", registry.get_spec("4.25"), cpu) == "torch"
    with pytest.raises(ValueError, match="data-dependent branch"):
        choose("openvino", registry.get_spec("4.1"), cpu)


def test_compiled_graph_cache_hit_miss_invalidation_and_damage(
    compiled: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    sd = random_state(registry.get_spec("4.6"), seed=3)
    src = random_clip(3, 64, 48)

    def build(clip: vs.VideoNode = src) -> tuple[np.ndarray, str]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="vsrife"):
            out = planes(vsrife.RIFE(clip, model=sd, backend="openvino", precision="fp32").get_frame(1))
        return out, caplog.text

    before = set(compiled.iterdir()) if compiled.exists() else set()
    first, log1 = build()
    assert "converted 4.6 for OpenVINO" in log1  # miss: converted once
    (entry,) = {p for p in compiled.iterdir() if p.name != "blobs" and not p.name.startswith(".")} - before
    assert f"cached in {entry}" in log1
    again, log2 = build()
    assert "converted" not in log2 and np.array_equal(first, again)  # hit: read back, same output
    _, log3 = build(random_clip(3, 96, 48))  # another padded size: another graph
    assert "converted" in log3
    monkeypatch.setattr("vsrife.backends.openvino_cpu.__version__", "999.0")  # a new vsrife never reads old graphs
    _, log4 = build()
    assert "converted" in log4
    monkeypatch.undo()
    monkeypatch.setenv("VSRIFE_COMPILED_DIR", str(compiled))
    monkeypatch.delenv(DEFAULT_ENV, raising=False)
    # damage the first entry: it is rebuilt, with a warning, and the output is still right
    for f in entry.glob("*.xml"):
        f.write_text(f.read_text()[:200])
    for f in entry.glob("*.bin"):
        f.write_bytes(f.read_bytes()[:1000])
    healed, log5 = build()
    assert "unreadable" in log5 and "converted" in log5
    assert np.array_equal(healed, first)


@pytest.mark.parametrize("backend", ["torch", "openvino"])
def test_deterministic_across_threads_and_request_order(backend: str, core: vs.Core) -> None:
    sd = random_state(registry.get_spec("4.6"), seed=5)

    assert_independent_of_threads_and_order(
        core, lambda: vsrife.RIFE(random_clip(5, 48, 40, seed=11), 4, model=sd, backend=backend, precision="fp32")
    )


def test_one_inference_thread_that_stops_when_the_clip_is_freed() -> None:
    sd = random_state(registry.get_spec("4.6"), seed=6)
    before = {t.ident for t in threading.enumerate()}
    out = vsrife.RIFE(random_clip(3, 32, 32), model=sd, backend="torch", device="cpu")
    out.get_frame(1)
    workers = [t for t in threading.enumerate() if t.name == "vsrife-infer-cpu" and t.ident not in before]
    assert len(workers) <= 1
    worker = next(t for t in threading.enumerate() if t.name == "vsrife-infer-cpu")
    del out
    gc.collect()
    worker.join(10)
    assert not worker.is_alive()


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 3, 2, 7), (1, 1, 17, 5), (1, 3, 48, 64)])
def test_separable_3x3_extremes_equal_max_pooling(shape: tuple[int, ...]) -> None:
    import torch
    import torch.nn.functional as F

    x = torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))
    hi, lo = _extremes3(x)
    assert torch.equal(hi, F.max_pool2d(x, 3, 1, 1)) and torch.equal(lo, -F.max_pool2d(-x, 3, 1, 1))
