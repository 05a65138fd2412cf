"""The backends against each other on real weights and real photographs, the choice backend=None
makes, the compiled-graph cache (hit, miss, invalidation, damage), one inference thread, and
determinism under VapourSynth threads."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsrife
from vsrife import registry
from vsrife.backends import DEFAULT_ENV, choose
from vsrife.backends.graph import _extremes3
from vsrife.synthetic import clip_from_frames

from helpers import assert_independent_of_threads_and_order, moved_pairs, planes, psnr, random_clip, random_state

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


def _mean_psnr(model: str, **kwargs: object) -> tuple[float, list[np.ndarray]]:
    scores, mids = [], []
    for f0, f1, truth in moved_pairs(MOTIONS, W, H):
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
    assert any((entry / "blobs").iterdir())  # OpenVINO's compiled blobs live in the entry and go with it
    again, log2 = build()
    assert "converted" not in log2 and np.array_equal(first, again)  # hit: read back, same output
    _, log3 = build(random_clip(3, 96, 48))  # another padded size: another graph
    assert "converted" in log3
    monkeypatch.setattr("vsrife.backends.openvino_runtime.__version__", "999.0")  # a new vsrife never reads old graphs
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


_SERVE = """
import hashlib, json, sys
import vapoursynth as vs
import vsrife
from vsrife.synthetic import clip_from_frames, demo_frames

clip = clip_from_frames(demo_frames(96, 64))[:4].resize.Bicubic(format=vs.YUV420P8, matrix_s="709")
out = vsrife.RIFE(clip, 2, model=sys.argv[1], precision=sys.argv[2])
h = hashlib.sha256()
for f in out.frames():
    for p in range(f.format.num_planes):
        h.update(bytes(f[p]))
print(json.dumps({"torch": "torch" in sys.modules, "frames": h.hexdigest()}))
"""


def _serve(tmp_path: Path, compiled: Path, model: Path, precision: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "VSRIFE_COMPILED_DIR": str(compiled), "CUDA_VISIBLE_DEVICES": ""}
    env.pop(DEFAULT_ENV, None)
    run = subprocess.run(
        [sys.executable, "-c", _SERVE, str(model), precision], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_converted_graph_is_served_without_pytorch_and_gives_the_same_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that has not loaded PyTorch never does (0.7 GB): a checkpoint file it has never seen
    is recognised in a child process (and recorded by its hash), the graph converted in another;
    the next run finds both. Both give the same frames (the default precision: mixed bf16 on this
    CPU, whose rounding depends on the thread count). Other weights in the same file are other
    weights: no graph. A file that is not a model still gets the usual error."""
    from vsrife import loader
    from vsrife.backends import CPU, Target, cached, resolve_precision

    from helpers import save_state

    compiled = tmp_path / "compiled"
    ckpt = save_state(random_state(registry.get_spec("4.6"), seed=8), tmp_path / "mine.pkl")
    first = _serve(tmp_path, compiled, ckpt, "auto")
    assert not first["torch"]  # recognised and converted by child processes
    assert [p.name for p in compiled.iterdir() if len(p.name) == 32] and any((compiled / "recognised").iterdir())
    again = _serve(tmp_path, compiled, ckpt, "auto")
    assert not again["torch"] and again["frames"] == first["frames"]
    monkeypatch.setenv("VSRIFE_COMPILED_DIR", str(compiled))
    before = loader.resolve(ckpt).weights
    spec = registry.get_spec("4.6")
    target = Target(spec, CPU, resolve_precision("auto", spec, CPU, "openvino"), 64, 96, (64, 96), 1.0, False)
    assert cached("openvino", target, before) is not None  # the graph the runs above served
    save_state(random_state(registry.get_spec("4.6"), seed=9), ckpt)
    after = loader.resolve(ckpt)
    assert after.weights != before and cached("openvino", target, after.weights) is None
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a checkpoint" * 100)
    with pytest.raises(AssertionError, match="RIFE: model: cannot read checkpoint"):
        _serve(tmp_path, compiled, junk, "auto")


def test_the_converted_graph_builds_no_full_size_concatenation(tmp_path: Path) -> None:
    """The step graph is traced unconcatenated: no node joins full-size tensors (4.25's last block
    took 28 channels at full size; with OpenVINO's channel-last copy, 450 MB at 1080p), and the
    network so traced computes what it computes outside, where it matches the reference to the bit."""
    import openvino as ov
    import torch

    from vsrife.archs.common import Warp, unconcatenated
    from vsrife.backends import CPU, Target
    from vsrife.backends.openvino_cpu import OpenVINOBackend

    spec = registry.get_spec("4.25")
    net = spec.build()
    net.load_state_dict(random_state(spec, seed=4))
    net.eval()
    h, w = 64, 128
    warp = Warp(h, w)
    torch.manual_seed(5)
    img0, img1 = torch.rand(1, 3, h, w), torch.rand(1, 3, h, w)
    with torch.no_grad():
        f0, f1 = net.encode(img0), net.encode(img1)
        whole = net(img0, img1, 0.5, warp, 1.0, f0, f1)
        with unconcatenated(net):
            assert all(b.unconcatenated for b in net.blocks)
            parts = net(img0, img1, 0.5, warp, 1.0, f0, f1)
    assert not any(b.unconcatenated for b in net.blocks)
    assert not torch.equal(parts, whole) and (parts - whole).abs().max() < 1e-4  # another summation order

    target = Target(spec, CPU, "fp32", h, w, (h, w), 1.0, False)
    backend = OpenVINOBackend(net, target, warp, cache=tmp_path)
    (xml,) = tmp_path.glob("*/step.xml")
    joins = [
        op.get_output_partial_shape(0)
        for op in ov.Core().read_model(str(xml)).get_ops()
        if op.get_type_name() == "Concat"
    ]
    full = [s for s in joins if s.is_static and len(s) == 4 and (s[2].get_length(), s[3].get_length()) == (h, w)]
    assert joins and not full, full
    assert not any(b.unconcatenated for b in net.blocks)  # the torch network is left as it was
    frame, _ = backend.interpolate(*(x.numpy() for x in (img0, img1)), 0.5, f0.numpy(), f1.numpy())
    assert np.abs(frame - whole.numpy()).max() < 1e-4

    # results are written into new arrays (no copy out of the request): the next run leaves them be
    feat = backend.encode(img0.numpy())
    kept = [frame.copy(), feat.copy()]
    later, _ = backend.interpolate(*(x.numpy() for x in (img1, img0)), 0.25, f1.numpy(), f0.numpy())
    other = backend.encode(img1.numpy())
    assert not np.array_equal(later, kept[0]) and not np.array_equal(other, kept[1])
    assert np.array_equal(frame, kept[0]) and np.array_equal(feat, kept[1])


def test_host_tensors_repeat_the_edge_like_torch_padding() -> None:
    import torch

    from vsrife.backends import CPU, Target
    from vsrife.backends.openvino_runtime import GraphRuntime
    from vsrife.backends.torch_eager import pad_replicate

    rng = np.random.default_rng(3)
    planes_ = [rng.random((13, 21), dtype=np.float32) for _ in range(3)]
    for padded in ((13, 21), (16, 21), (13, 32), (32, 64)):
        target = Target(registry.get_spec("4.6"), CPU, "fp32", 13, 21, padded, 1.0, False)
        runtime = GraphRuntime.__new__(GraphRuntime)
        runtime.target = target
        ours = runtime.host_tensor(planes_)
        theirs = pad_replicate(torch.from_numpy(np.stack(planes_))[None], *padded).numpy()
        assert ours.dtype == np.float32 and np.array_equal(ours, theirs)


def test_the_torch_backend_warps_on_its_own_device(v46_random: dict) -> None:
    # a warp built for another device (the benchmark once passed a CPU warp to a CUDA backend, and
    # the first warp failed on mixed devices) is rebuilt on the backend's; one of its own is kept
    from vsrife import loader
    from vsrife.archs.common import Warp
    from vsrife.backends import CPU, Target
    from vsrife.backends.torch_eager import TorchBackend

    spec = registry.get_spec("4.6")
    target = Target(spec, CPU, "fp32", 32, 32, (32, 32), 1.0, False)
    own = Warp(32, 32, "cpu")
    assert TorchBackend(loader.build(loader.load(v46_random)), target, own).graph.warp is own
    moved = TorchBackend(loader.build(loader.load(v46_random)), target, Warp(32, 32, "meta")).graph.warp
    assert moved.grid.device.type == "cpu" and (moved.height, moved.width) == (32, 32)


def test_inference_threads_without_pytorch_follow_omp_num_threads() -> None:
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys; from vsrife.backends import openvino_runtime as r, limit_threads; "
        "a = r.inference_threads(); limit_threads(1); "
        "print(json.dumps([a, r.inference_threads(), 'torch' in sys.modules]))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == [3, 1, False]


def test_the_compiled_graph_cache_stays_under_its_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from vsrife.backends.openvino_runtime import MAX_MB_ENV, RECENT_S, max_bytes, prune

    now = 1_000_000_000.0

    def entry(name: str, mb: int, age: float) -> Path:
        path = tmp_path / (name * 32)[:32]
        (path / "blobs").mkdir(parents=True)
        (path / "step.bin").write_bytes(b"\0" * (mb << 20))
        (path / "blobs" / "x.blob").write_bytes(b"\0" * (1 << 20))
        os.utime(path, (now - age, now - age))
        return path

    old, older, oldest = entry("a", 3, 3000), entry("b", 3, 4000), entry("c", 3, 5000)
    recent = entry("d", 3, RECENT_S / 2)  # in use by another process, perhaps: never removed
    new = entry("e", 3, 10**6)  # the entry just converted (kept whatever its time says)
    legacy = tmp_path / "blobs"
    legacy.mkdir()
    (legacy / "y.blob").write_bytes(b"\0" * 1000)
    (tmp_path / "recognised").mkdir()  # not an entry: left alone
    removed = prune(tmp_path, keep=new, limit=13 << 20, now=now)  # 5 entries of 4 MB: 20 MB
    assert set(removed) == {legacy, oldest, older}
    assert all(p.is_dir() for p in (old, recent, new, tmp_path / "recognised"))
    assert prune(tmp_path, keep=new, limit=0 << 20, now=now) == [old]  # limit 0 bytes: all it may remove
    monkeypatch.setenv(MAX_MB_ENV, "0")
    assert max_bytes() is None and prune(tmp_path) == []  # 0: no bound
    monkeypatch.setenv(MAX_MB_ENV, "lots")
    assert max_bytes() == 2048 << 20


def test_the_converting_child_ends_with_its_parent_and_is_not_used_beside_pytorch(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys
    import time

    from vsrife.backends import CPU, Target
    from vsrife.backends.openvino_child import convert_apart

    spec = registry.get_spec("4.6")
    target = Target(spec, CPU, "fp32", 48, 64, (64, 64), 1.0, False)
    assert not convert_apart("4.6", "sha256:0", target)  # PyTorch is loaded here: converting here is cheaper
    job = {"model": "4.6", "weights": "sha256:0", "precision": "fp32", "size": [48, 64], "padded": [64, 64],
           "scale": 1.0, "ensemble": False, "threads": 1}  # fmt: skip
    env = {**os.environ, "VSRIFE_COMPILED_DIR": str(tmp_path)}
    start = time.perf_counter()
    gone = str(2**22 + 12345)  # the parent's pid, last: one that is not there
    run = subprocess.run([sys.executable, "-m", "vsrife.backends.openvino_child", json.dumps(job), gone], env=env,
                         capture_output=True, timeout=60)  # fmt: skip
    assert run.returncode == 1 and not run.stderr  # its "parent" is gone: it stops at once, without a word
    assert time.perf_counter() - start < 30
    assert not any(tmp_path.iterdir())


def test_a_cache_that_cannot_be_written_costs_the_cache_not_the_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sd = random_state(registry.get_spec("4.6"), seed=4)

    def frame() -> np.ndarray:
        out = vsrife.RIFE(random_clip(3, 64, 48), model=sd, backend="openvino", precision="bf16")
        return planes(out.get_frame(1))

    monkeypatch.setenv("VSRIFE_COMPILED_DIR", str(tmp_path / "cache"))
    cached = frame()
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv("VSRIFE_COMPILED_DIR", str(tmp_path / "file" / "compiled"))
    with caplog.at_level(logging.INFO, logger="vsrife"):
        uncached = frame()
    assert "could not cache the OpenVINO graph" in caplog.text and "cached in" not in caplog.text
    assert np.array_equal(uncached, cached)  # the same graph as every start that reads the cache


def _allocated[T](call: Callable[[], T]) -> tuple[T, int]:
    """What ``call`` returns, and the most memory (bytes, traced by tracemalloc, which must be
    running) it held at once beyond what was held before it."""
    import tracemalloc

    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    out = call()
    return out, tracemalloc.get_traced_memory()[1] - before


def test_openvino_calls_copy_no_result(tmp_path: Path) -> None:
    """A call allocates its results once, where OpenVINO writes them: ``infer`` also returns a
    copy of every output unless told to share them (at 720p 11.8 MB per frame and 15.7 MB per
    frame's features, copied on the inference thread and thrown away)."""
    import tracemalloc

    import torch

    from vsrife.archs.common import Warp
    from vsrife.backends import CPU, Target
    from vsrife.backends.openvino_cpu import OpenVINOBackend

    spec = registry.get_spec("4.25")
    net = spec.build()
    net.load_state_dict(random_state(spec, seed=6))
    h, w = 64, 128
    backend = OpenVINOBackend(
        net.eval(), Target(spec, CPU, "fp32", h, w, (h, w), 1.0, False), Warp(h, w), cache=tmp_path
    )
    torch.manual_seed(7)
    img0, img1 = (torch.rand(1, 3, h, w).numpy() for _ in range(2))
    f0, f1 = backend.encode(img0), backend.encode(img1)
    backend.interpolate(img0, img1, 0.5, f0, f1)  # first calls: whatever OpenVINO sets up once
    tracemalloc.start()
    try:
        feat, enc_peak = _allocated(lambda: backend.encode(img1))
        (frame, _), step_peak = _allocated(lambda: backend.interpolate(img0, img1, 0.5, f0, feat))
    finally:
        tracemalloc.stop()
    assert feat.nbytes <= enc_peak < 1.5 * feat.nbytes, (enc_peak, feat.nbytes)
    assert frame.nbytes <= step_peak < 1.5 * frame.nbytes, (step_peak, frame.nbytes)
