"""vsrife.RIFE as a VapourSynth filter: mapping, passthrough, timing, padding, scene cuts, threads, errors."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsrife
from conftest import planes, random_clip
from vsrife import filter as vsfilter
from vsrife.synthetic import clip_from_frames, photo, window


@pytest.mark.parametrize("multi", [2, 3, 4])
def test_frame_count_fps_and_durations(multi: int, hdv3_path: str) -> None:
    src = random_clip(4, 48, 32, fps=(24000, 1001))
    out = vsrife.RIFE(src, multi, model=hdv3_path)
    assert out.num_frames == src.num_frames * multi
    assert out.fps == Fraction(24000 * multi, 1001)
    assert out.format.id == vs.RGBS and (out.width, out.height) == (48, 32)
    total = Fraction(0)
    for k in range(out.num_frames):
        p = out.get_frame(k).props
        d = Fraction(p["_DurationNum"], p["_DurationDen"])
        assert d == Fraction(1001, 24000 * multi)
        total += d
    assert total == Fraction(src.num_frames * 1001, 24000)  # lasts exactly as long as the source


@pytest.mark.parametrize("fmt", [vs.RGBS, vs.RGBH])
def test_source_frames_pass_through_bit_exact(fmt: int, hdv3_path: str) -> None:
    src = random_clip(5, 40, 24, fmt=fmt, seed=3)
    out = vsrife.RIFE(src, 3, model=hdv3_path)
    assert out.format.id == fmt
    for i in range(src.num_frames):
        a, b = planes(src.get_frame(i)), planes(out.get_frame(3 * i))
        assert a.dtype == b.dtype and np.array_equal(a, b)
        assert out.get_frame(3 * i).props["RifeTimestep"] == 0.0


def test_interpolated_frames_differ_and_are_finite(hdv3_path: str) -> None:
    src = random_clip(2, 64, 48, seed=5)
    out = vsrife.RIFE(src, 2, model=hdv3_path)
    mid = planes(out.get_frame(1))
    assert np.isfinite(mid).all()
    assert not np.array_equal(mid, planes(src.get_frame(0))) and not np.array_equal(mid, planes(src.get_frame(1)))
    assert out.get_frame(1).props["RifeTimestep"] == 0.5


def test_last_source_frame_is_held(hdv3_path: str) -> None:
    src = random_clip(3, 32, 32, seed=1)
    out = vsrife.RIFE(src, 4, model=hdv3_path)
    last = planes(src.get_frame(2))
    for k in range(8, 12):
        assert np.array_equal(planes(out.get_frame(k)), last)


def test_requests_only_the_pair(hdv3_path: str) -> None:
    base = random_clip(6, 32, 32, seed=2)
    for k in (1, 5, 7):
        requested: list[int] = []

        def record(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
            requested.append(n)
            return f

        src = base.std.ModifyFrame(base, record)
        out = vsrife.RIFE(src, 3, model=hdv3_path, sc=False)
        out.get_frame(k)
        i = k // 3
        assert set(requested) == {i, i + 1}


@pytest.mark.parametrize(("w", "h"), [(1, 1), (2, 3), (7, 5), (33, 31), (100, 36)])
def test_any_frame_size(w: int, h: int, hdv3_path: str) -> None:
    src = random_clip(2, w, h, seed=w * h)
    out = vsrife.RIFE(src, 2, model=hdv3_path)
    f = out.get_frame(1)
    assert (f.width, f.height) == (w, h)
    data = planes(f)
    assert np.isfinite(data).all()
    lo = np.minimum(planes(src.get_frame(0)), planes(src.get_frame(1))).min()
    hi = np.maximum(planes(src.get_frame(0)), planes(src.get_frame(1))).max()
    assert lo - 0.05 <= data.min() and data.max() <= hi + 0.05


def test_padding_replicates_edges_not_black(hdv3_path: str) -> None:
    # A bright uniform frame whose size is not a multiple of 32: with black padding the network
    # would see an edge at the border and pull dark values in; with edge replication the
    # interpolation of two identical uniform frames is that same uniform colour.
    src = vs.core.std.BlankClip(format=vs.RGBS, width=45, height=19, length=2, color=[0.9, 0.8, 0.7])
    mid = planes(vsrife.RIFE(src, 2, model=hdv3_path, sc=False).get_frame(1))
    assert np.allclose(mid, np.array([0.9, 0.8, 0.7], np.float32)[:, None, None], atol=1e-4)


# ------------------------------------------------------------------------------------ bisection


def test_bisection_shares_work_and_matches_multi2(hdv3_path: str) -> None:
    src = random_clip(3, 64, 32, seed=4)
    out2 = vsrife.RIFE(src, 2, model=hdv3_path)
    out4 = vsrife.RIFE(src, 4, model=hdv3_path)
    assert np.array_equal(planes(out2.get_frame(1)), planes(out4.get_frame(2)))
    assert [out4.get_frame(k).props["RifeTimestep"] for k in range(4)] == [0.0, 0.25, 0.5, 0.75]


def test_network_calls_per_pair(hdv3_path: str, core: vs.Core) -> None:
    spec, sd = vsfilter.resolve_model(hdv3_path)
    from vsrife.engine import Engine, EngineConfig

    engine = Engine(EngineConfig(spec, torch.device("cpu"), torch.float32, 32, 32, 1.0, 3), vsfilter.build_network(spec, sd), 64)
    frames = {0: torch.rand(1, 3, 32, 32), 1: torch.rand(1, 3, 32, 32)}
    for j in range(1, 8):
        engine.interpolate(0, Fraction(j, 8), frames.__getitem__)
    assert engine.network_calls == 7  # 2**3 - 1 midpoints, each computed once
    for j in range(1, 8):  # all served from the cache the second time
        engine.interpolate(0, Fraction(j, 8), frames.__getitem__)
    assert engine.network_calls == 7


def test_multi3_uses_nearest_reachable_timesteps(hdv3_path: str) -> None:
    out = vsrife.RIFE(random_clip(2, 32, 32), 3, model=hdv3_path)
    assert [out.get_frame(k).props["RifeTimestep"] for k in (1, 2)] == [0.375, 0.625]
    out = vsrife.RIFE(random_clip(2, 32, 32), 3, model=hdv3_path, bisect_depth=1)
    assert [out.get_frame(k).props["RifeTimestep"] for k in (1, 2)] == [0.5, 0.5]


# ------------------------------------------------------------------------------------ scene changes


def _two_shots(n_a: int = 2, n_b: int = 2, w: int = 64, h: int = 48) -> vs.VideoNode:
    a, b = photo("astronaut"), photo("coffee")
    frames = [window(a, 100 + k, 100, w, h) for k in range(n_a)] + [window(b, 100 + k, 50, w, h) for k in range(n_b)]
    return clip_from_frames(frames)


def test_scene_cut_holds_nearest_real_frame(hdv3_path: str) -> None:
    src = _two_shots()
    out = vsrife.RIFE(src, 4, model=hdv3_path)
    f1, f2 = planes(src.get_frame(1)), planes(src.get_frame(2))
    # pair (1, 2) straddles the cut: t = 1/4 -> frame 1; t = 1/2 and 3/4 -> frame 2
    assert np.array_equal(planes(out.get_frame(5)), f1)
    assert np.array_equal(planes(out.get_frame(6)), f2)
    assert np.array_equal(planes(out.get_frame(7)), f2)
    assert all(out.get_frame(k).props["RifeSceneCut"] == 1 for k in (5, 6, 7))
    # within a shot, frames are interpolated
    assert "RifeSceneCut" not in out.get_frame(1).props
    assert out.get_frame(1).props["RifeTimestep"] == 0.25


def test_scene_cut_detection_can_be_disabled(hdv3_path: str) -> None:
    out = vsrife.RIFE(_two_shots(), 2, model=hdv3_path, sc=False)
    assert "RifeSceneCut" not in out.get_frame(3).props
    assert out.get_frame(3).props["RifeTimestep"] == 0.5


@pytest.mark.parametrize("prop", ["next", "prev"])
def test_existing_scene_change_props_are_honoured(prop: str, hdv3_path: str) -> None:
    src = random_clip(3, 32, 32, seed=9)  # similar frames: the detector would not cut
    if prop == "next":
        src = src.std.SetFrameProps(_SceneChangeNext=1)
    else:
        src = src.std.SetFrameProps(_SceneChangePrev=1)
    out = vsrife.RIFE(src, 2, model=hdv3_path, sc=False)
    assert out.get_frame(1).props["RifeSceneCut"] == 1
    assert np.array_equal(planes(out.get_frame(1)), planes(src.get_frame(1)))


def test_scene_changes_helper() -> None:
    marked = vsrife.scene_changes(_two_shots(3, 3))
    nxt = [marked.get_frame(n).props["_SceneChangeNext"] for n in range(6)]
    prv = [marked.get_frame(n).props["_SceneChangePrev"] for n in range(6)]
    assert nxt == [0, 0, 1, 0, 0, 0] and prv == [0, 0, 0, 1, 0, 0]


# ------------------------------------------------------------------------------------ threads


def test_deterministic_across_threads_and_request_order(hdv3_path: str, core: vs.Core) -> None:
    def render(threads: int, order: list[int]) -> dict[int, np.ndarray]:
        core.num_threads = threads
        out = vsrife.RIFE(random_clip(5, 48, 40, seed=11), 4, model=hdv3_path)
        if threads > 1:
            futures = {k: out.get_frame_async(k) for k in order}
            return {k: planes(fut.result()) for k, fut in futures.items()}
        return {k: planes(out.get_frame(k)) for k in order}

    n = 20
    serial = render(1, list(range(n)))
    order = list(range(n))
    random.Random(7).shuffle(order)
    parallel = render(4, order)
    assert all(np.array_equal(serial[k], parallel[k]) for k in range(n))


def test_cache_stays_bounded_over_long_clip(hdv3_path: str) -> None:
    from vsrife.engine import Engine, EngineConfig

    spec, sd = vsfilter.resolve_model(hdv3_path)
    engine = Engine(EngineConfig(spec, torch.device("cpu"), torch.float32, 16, 16, 1.0, 2), vsfilter.build_network(spec, sd), 10)
    frame = torch.rand(1, 3, 32, 32)
    for pair in range(60):
        for j in (1, 2, 3):
            engine.interpolate(pair, Fraction(j, 4), lambda i: frame)
        assert len(engine.cache) <= 10
    assert engine.network_calls == 180


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"multi": 1}, "multi must be an integer >= 2"),
        ({"multi": 2.5}, "multi must be an integer >= 2"),
        ({"multi": True}, "multi must be an integer >= 2"),
        ({"device": "tpu"}, "device"),
        ({"device": "cuda:0"}, "CUDA"),
        ({"scale": 3.0}, "scale must be one of"),
        ({"sc_threshold": 0}, "sc_threshold"),
        ({"bisect_depth": 0}, "bisect_depth"),
        ({"model": "9.99"}, "neither a known model"),
        ({"model": "/nonexistent/flownet.pkl"}, "neither a known model"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs: dict, match: str, hdv3_path: str) -> None:
    if kwargs.get("device", "").startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA present: the request is valid")
    kwargs.setdefault("model", hdv3_path)
    with pytest.raises(vs.Error, match=f"^RIFE: .*{match}"):
        vsrife.RIFE(random_clip(2, 16, 16), **kwargs)


def test_bad_clips_give_clear_errors(hdv3_path: str) -> None:
    with pytest.raises(vs.Error, match="RIFE: clip must be a video clip"):
        vsrife.RIFE("clip.mkv", model=hdv3_path)  # type: ignore[arg-type]
    with pytest.raises(vs.Error, match="RIFE: format Gray32 is not supported; use YUV, RGB or GRAY at 8-16 bit"):
        vsrife.RIFE(vs.core.std.BlankClip(format=vs.GRAY32, length=2), model=hdv3_path)
    with pytest.raises(vs.Error, match="RIFE: the clip needs at least 2 frames"):
        vsrife.RIFE(vs.core.std.BlankClip(format=vs.RGBS, length=1), model=hdv3_path)
    varsize = vs.core.std.Splice([vs.core.std.BlankClip(format=vs.RGBS, width=16, height=16, length=1),
                                  vs.core.std.BlankClip(format=vs.RGBS, width=32, height=16, length=1)], mismatch=True)
    with pytest.raises(vs.Error, match="RIFE: clips of variable format or size"):
        vsrife.RIFE(varsize, model=hdv3_path)


def test_missing_model_error_names_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    with pytest.raises(vs.Error, match=r"^RIFE: model 'hdv3' is not installed .*vsrife models fetch hdv3"):
        vsrife.RIFE(random_clip(2, 16, 16))
    with pytest.raises(vs.Error, match="vsrife models fetch hdv3"):
        vsrife.RIFE(random_clip(2, 16, 16), model="hdv3")


def test_unusable_checkpoints(tmp_path: Path, hdv3_state: dict) -> None:
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(vs.Error, match="^RIFE: cannot read checkpoint"):
        vsrife.RIFE(random_clip(2, 16, 16), model=str(junk))
    with pytest.raises(vs.Error, match="^RIFE: the checkpoint matches no known RIFE model"):
        vsrife.RIFE(random_clip(2, 16, 16), model={"a.weight": torch.zeros(2)})
    broken = dict(hdv3_state)
    broken.pop("block1.conv1.0.bias")
    with pytest.raises(vs.Error, match="^RIFE: .*(does not fit|matches no known)"):
        vsrife.RIFE(random_clip(2, 16, 16), model=broken)


def test_model_accepts_state_dict_and_path(hdv3_path: str, hdv3_state: dict) -> None:
    src = random_clip(2, 32, 32, seed=6)
    a = planes(vsrife.RIFE(src, model=hdv3_path).get_frame(1))
    b = planes(vsrife.RIFE(src, model=hdv3_state).get_frame(1))
    c = planes(vsrife.RIFE(src, model="hdv3").get_frame(1))
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_compute_precision_rules() -> None:
    from dataclasses import replace

    from vsrife import registry
    from vsrife.filter import compute_dtype

    cuda, cpu, spec = torch.device("cuda", 0), torch.device("cpu"), registry.HDV3
    assert compute_dtype(vs.RGBH, cuda, spec) == torch.float16
    assert compute_dtype(vs.GRAYH, cuda, spec) == torch.float16
    assert compute_dtype(vs.RGBS, cuda, spec) == torch.float32
    assert compute_dtype(vs.RGBH, cpu, spec) == torch.float32
    assert compute_dtype(vs.RGBH, cuda, replace(spec, precisions=("fp32",))) == torch.float32


@pytest.mark.gpu
def test_cuda_half_runs_and_matches_fp32(hdv3_path: str) -> None:
    src = random_clip(3, 96, 64, seed=12)
    full = planes(vsrife.RIFE(src, model=hdv3_path, device="cuda").get_frame(1))
    half = planes(vsrife.RIFE(src.resize.Point(format=vs.RGBH), model=hdv3_path, device="cuda").get_frame(1))
    assert np.abs(full - half.astype(np.float32)).mean() < 2e-3
    cpu = planes(vsrife.RIFE(src, model=hdv3_path, device="cpu").get_frame(1))
    assert np.abs(full - cpu).max() < 1e-3
