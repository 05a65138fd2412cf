"""vsrife.RIFE as a VapourSynth filter: mapping, passthrough, timing, padding, scene cuts, threads, errors."""

from __future__ import annotations

import gc
from fractions import Fraction

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsrife
from vsrife.synthetic import clip_from_frames, photo, window

from helpers import OWN_PROPS, assert_independent_of_threads_and_order, planes, random_clip, vfr_clip

pytestmark = pytest.mark.graph


@pytest.mark.parametrize("multi", [2, 3, 4])
def test_frame_count_fps_and_durations(multi: int, hdv3_random: dict) -> None:
    src = random_clip(4, 48, 32, fps=(24000, 1001))
    out = vsrife.RIFE(src, multi, model=hdv3_random)
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
def test_source_frames_pass_through_bit_exact(fmt: int, hdv3_random: dict) -> None:
    src = random_clip(5, 40, 24, fmt=fmt, seed=3)
    out = vsrife.RIFE(src, 3, model=hdv3_random)
    assert out.format.id == fmt
    for i in range(src.num_frames):
        a, b = planes(src.get_frame(i)), planes(out.get_frame(3 * i))
        assert a.dtype == b.dtype and np.array_equal(a, b)
        assert out.get_frame(3 * i).props["RifeTimestep"] == 0.0


def test_interpolated_frames_differ_and_are_finite(hdv3_random: dict) -> None:
    src = random_clip(2, 64, 48, seed=5)
    out = vsrife.RIFE(src, 2, model=hdv3_random)
    mid = planes(out.get_frame(1))
    assert np.isfinite(mid).all()
    assert not np.array_equal(mid, planes(src.get_frame(0))) and not np.array_equal(mid, planes(src.get_frame(1)))
    assert out.get_frame(1).props["RifeTimestep"] == 0.5


def test_last_source_frame_is_held(hdv3_random: dict) -> None:
    src = random_clip(3, 32, 32, seed=1)
    out = vsrife.RIFE(src, 4, model=hdv3_random)
    last = planes(src.get_frame(2))
    for k in range(8, 12):
        assert np.array_equal(planes(out.get_frame(k)), last)


@pytest.mark.parametrize("sc", [False, True])
def test_requests_only_the_pair(hdv3_random: dict, sc: bool) -> None:
    """An in-between frame reads its two source frames; a source frame shown as it is reads its
    neighbours too (the cuts either side set its ``_SceneChangePrev/Next``), and no more."""
    base = random_clip(6, 32, 32, seed=2)
    for k in (0, 1, 3, 5, 6, 7, 15):
        requested: list[int] = []

        def record(n: int, f: vs.VideoFrame, requested: list[int] = requested) -> vs.VideoFrame:  # bound per k
            requested.append(n)
            return f

        src = base.std.ModifyFrame(base, record)
        out = vsrife.RIFE(src, 3, model=hdv3_random, sc=sc)
        assert set(requested) <= {0}  # building reads frame 0's props (colour, interlacing), no more
        requested.clear()
        out.get_frame(k)
        i = k // 3
        assert set(requested) == ({i, i + 1} if k % 3 else {max(i - 1, 0), i, min(i + 1, 5)}), k


@pytest.mark.parametrize(("w", "h"), [(1, 1), (2, 3), (7, 5), (33, 31), (100, 36)])
def test_any_frame_size(w: int, h: int, hdv3_random: dict) -> None:
    src = random_clip(2, w, h, seed=w * h)
    out = vsrife.RIFE(src, 2, model=hdv3_random)
    f = out.get_frame(1)
    assert (f.width, f.height) == (w, h)
    data = planes(f)
    assert np.isfinite(data).all()
    lo = np.minimum(planes(src.get_frame(0)), planes(src.get_frame(1))).min()
    hi = np.maximum(planes(src.get_frame(0)), planes(src.get_frame(1))).max()
    assert lo - 0.05 <= data.min() and data.max() <= hi + 0.05


def test_padding_replicates_edges_not_black(hdv3_random: dict) -> None:
    # A bright uniform frame whose size is not a multiple of 32: with black padding the network
    # would see an edge at the border and pull dark values in; with edge replication the
    # interpolation of two identical uniform frames is that same uniform colour.
    src = vs.core.std.BlankClip(format=vs.RGBS, width=45, height=19, length=2, color=[0.9, 0.8, 0.7])
    mid = planes(vsrife.RIFE(src, 2, model=hdv3_random, sc=False).get_frame(1))
    assert np.allclose(mid, np.array([0.9, 0.8, 0.7], np.float32)[:, None, None], atol=1e-4)


# ------------------------------------------------------------------------------------ bisection


def test_bisection_shares_work_and_matches_multi2(hdv3_random: dict) -> None:
    src = random_clip(3, 64, 32, seed=4)
    out2 = vsrife.RIFE(src, 2, model=hdv3_random)
    out4 = vsrife.RIFE(src, 4, model=hdv3_random)
    assert np.array_equal(planes(out2.get_frame(1)), planes(out4.get_frame(2)))
    assert [out4.get_frame(k).props["RifeTimestep"] for k in range(4)] == [0.0, 0.25, 0.5, 0.75]


def test_multi3_uses_nearest_reachable_timesteps(hdv3_random: dict) -> None:
    out = vsrife.RIFE(random_clip(2, 32, 32), 3, model=hdv3_random)
    assert [out.get_frame(k).props["RifeTimestep"] for k in (1, 2)] == [0.375, 0.625]
    out = vsrife.RIFE(random_clip(2, 32, 32), 3, model=hdv3_random, bisect_depth=1)
    assert [out.get_frame(k).props["RifeTimestep"] for k in (1, 2)] == [0.5, 0.5]


# ------------------------------------------------------------------------------------ scene changes


def _two_shots(n_a: int = 2, n_b: int = 2, w: int = 64, h: int = 48) -> vs.VideoNode:
    a, b = photo("astronaut"), photo("coffee")
    frames = [window(a, 100 + k, 100, w, h) for k in range(n_a)] + [window(b, 100 + k, 50, w, h) for k in range(n_b)]
    return clip_from_frames(frames)


def test_scene_cut_shows_the_earlier_frame_as_the_source_displays_it(hdv3_random: dict) -> None:
    src = _two_shots()
    out = vsrife.RIFE(src, 4, model=hdv3_random)
    f1, f2 = planes(src.get_frame(1)), planes(src.get_frame(2))
    # pair (1, 2) straddles the cut: the source shows frame 1 until frame 2's timestamp, so every
    # in-between instant (t = 1/4, 1/2, 3/4) shows frame 1, and the cut stays at frame 2's time
    for k in (5, 6, 7):
        assert np.array_equal(planes(out.get_frame(k)), f1), k
        assert out.get_frame(k).props["RifeSceneCut"] == 1
    assert np.array_equal(planes(out.get_frame(8)), f2)
    # the output's cut position: after frame 7 (the last showing shot A), before frame 8
    assert [out.get_frame(k).props["_SceneChangeNext"] for k in range(4, 10)] == [0, 0, 0, 1, 0, 0]
    assert [out.get_frame(k).props["_SceneChangePrev"] for k in range(4, 10)] == [0, 0, 0, 0, 1, 0]
    # within a shot, frames are interpolated
    assert out.get_frame(1).props["RifeSceneCut"] == 0
    assert out.get_frame(1).props["RifeTimestep"] == 0.25


@pytest.mark.parametrize(("num", "den", "cut"), [(2, 1, 4), (5, 2, 4), (5, 6, 3), (1, 2, 3), (1, 3, 4), (1, 3, 3)])
def test_the_cut_props_sit_on_the_output_frames_either_side_of_the_cut_at_any_rate(
    num: int, den: int, cut: int, v46_random: dict
) -> None:
    """_SceneChangeNext on the last output frame before the cut's instant (source frame cut + 1's
    time), _SceneChangePrev on the first at or after it, at any rate: the first frame after a cut can
    be an in-between frame (5/2), and lowering the rate steps over pairs, the cut's among them (1/3;
    the props were lost, or only one of them set: found by hostile testing)."""
    base = vs.core.std.BlankClip(format=vs.RGBS, width=16, height=16, length=12)
    src = vs.core.std.Splice([base[i].std.SetFrameProps(_SceneChangeNext=int(i == cut)) for i in range(12)])
    out = vsrife.RIFE(src, factor_num=num, factor_den=den, model=v46_random, sc=False)
    factor = Fraction(num, den)
    after = next(k for k in range(out.num_frames) if k / factor >= cut + 1)  # the first instant past the cut
    props = [out.get_frame(k).props for k in range(out.num_frames)]
    assert [k for k, p in enumerate(props) if p["_SceneChangeNext"]] == [after - 1]
    assert [k for k, p in enumerate(props) if p["_SceneChangePrev"]] == [after]


def test_scene_cut_detection_can_be_disabled(hdv3_random: dict) -> None:
    out = vsrife.RIFE(_two_shots(), 2, model=hdv3_random, sc=False)
    assert out.get_frame(3).props["RifeSceneCut"] == 0
    assert out.get_frame(3).props["RifeTimestep"] == 0.5


@pytest.mark.parametrize("prop", ["next", "prev"])
def test_existing_scene_change_props_are_honoured(prop: str, hdv3_random: dict) -> None:
    src = random_clip(3, 32, 32, seed=9)  # similar frames: the detector would not cut
    if prop == "next":
        src = src.std.SetFrameProps(_SceneChangeNext=1)
    else:
        src = src.std.SetFrameProps(_SceneChangePrev=1)
    out = vsrife.RIFE(src, 2, model=hdv3_random, sc=False)
    assert out.get_frame(1).props["RifeSceneCut"] == 1
    assert np.array_equal(planes(out.get_frame(1)), planes(src.get_frame(0)))  # the earlier frame, as displayed


def test_scene_changes_helper() -> None:
    marked = vsrife.scene_changes(_two_shots(3, 3))
    nxt = [marked.get_frame(n).props["_SceneChangeNext"] for n in range(6)]
    prv = [marked.get_frame(n).props["_SceneChangePrev"] for n in range(6)]
    assert nxt == [0, 0, 1, 0, 0, 0] and prv == [0, 0, 0, 1, 0, 0]


# ------------------------------------------------------------------------------------ threads


def test_deterministic_across_threads_and_request_order(hdv3_random: dict, core: vs.Core) -> None:
    assert_independent_of_threads_and_order(
        core, lambda: vsrife.RIFE(random_clip(5, 48, 40, seed=11), 4, model=hdv3_random)
    )


@pytest.mark.parametrize(
    ("model", "rate", "threads"),
    [
        ("4.25", {"multi": 2}, 1),
        ("4.25", {"multi": 2}, 2),
        ("4.25", {"multi": 3}, 4),
        ("4.25", {"multi": Fraction(5, 2)}, 2),
        ("4.25", {"fps_num": 48}, 2),  # variable rate: pairs serve 1 to 24 output frames
        ("hdv3", {"multi": 4}, 2),
        ("hdv3", {"multi": 2}, 8),
        ("hdv3", {"fps_num": 48}, 3),
    ],
)
@pytest.mark.parametrize("pipelined", [False, True])
def test_in_order_requests_compute_nothing_twice(
    model: str,
    rate: dict,
    threads: int,
    pipelined: bool,
    v425_random: dict,
    hdv3_random: dict,
    core: vs.Core,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine's cache is sized to what frames requested in order (vspipe) need at once: each
    source frame is encoded once and each network result computed once, scene detection on; also
    with each pair's work started ahead (the GPU default), which must start nothing not needed."""
    from vsrife import filter as rife_filter
    from vsrife.engine import PIPELINE_ENV

    monkeypatch.setenv(PIPELINE_ENV, str(int(pipelined)))

    built = []
    build = rife_filter._engine
    monkeypatch.setattr(rife_filter, "_engine", lambda *a: built.append((a[2], build(*a))) or built[-1][1])
    core.num_threads = threads
    weights = v425_random if model == "4.25" else hdv3_random
    if "fps_num" in rate:
        src = vfr_clip([Fraction(1, d) for d in (24, 3, 24, 12, 6, 24, 24, 2, 24, 24)], 64, 48, seed=4)
    else:
        src = random_clip(10, 64, 48, seed=4)
    out = vsrife.RIFE(src, **rate, model=weights)
    for _ in out.frames(prefetch=threads):
        pass
    ((plan, engine),) = built
    assert engine.pipelined is pipelined
    plan_runs = {(shown.pair, shown.t) for shown in map(plan.at, range(out.num_frames)) if shown.t}
    assert len(engine.cache) <= engine.cache.capacity
    if "multi" in rate:  # every pair serves an in-between: each is retired once served
        assert all(key[1] == src.num_frames - 1 for key in engine.cache._items), list(engine.cache._items)
    if engine.spec.has_encoder:
        assert engine.encoder_calls == src.num_frames
    if engine.spec.arbitrary_timestep:
        assert engine.network_calls == len(plan_runs)
    else:  # bisection: each midpoint on the paths once
        from vsrife.engine import dyadic_path

        nodes = {(i, m) for i, t in plan_runs for m in dyadic_path(t)}
        assert engine.network_calls == len(nodes)


@pytest.mark.parametrize(("model", "multi"), [("4.25", 3), ("hdv3", 4)])
def test_starting_pairs_ahead_changes_no_frame(
    model: str, multi: int, v425_random: dict, hdv3_random: dict, core: vs.Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pairs started ahead (Engine.begin: the GPU default, here forced on the CPU) give the same
    frames and props as pairs computed when asked for, with scene detection on (its network runs
    share the results) and across a cut, at 1 and 4 threads."""
    from vsrife.engine import PIPELINE_ENV

    weights = v425_random if model == "4.25" else hdv3_random
    src = random_clip(5, 48, 40, seed=3) + random_clip(4, 48, 40, seed=9)  # a cut after frame 4
    got = {}
    for pipelined in (False, True):
        for threads in (1, 4):
            monkeypatch.setenv(PIPELINE_ENV, str(int(pipelined)))
            core.num_threads = threads
            out = vsrife.RIFE(src, multi, model=weights)
            frames = list(out.frames(prefetch=threads))
            got[pipelined, threads] = [(planes(f), dict(f.props)) for f in frames]
    want = got[False, 1]
    assert any(p["RifeSceneCut"] for _, p in want)
    for key, frames in got.items():
        assert len(frames) == len(want), key
        for (a, pa), (b, pb) in zip(frames, want, strict=True):
            assert np.array_equal(a, b) and pa == pb, key


def test_a_retired_pair_leaves_the_cache_and_keeps_its_evidence(v425_random: dict) -> None:
    # once all of a pair's in-between frames are served, its results and its first frame go (that
    # frame serves no other pair); the next pair's frames stay, and the retired pair's cut evidence
    # is answered again without a network run
    from vsrife import loader, registry
    from vsrife.archs.common import Warp
    from vsrife.backends import CPU, Target
    from vsrife.backends.torch_eager import TorchBackend
    from vsrife.engine import Engine

    spec = registry.get_spec("4.25")
    target = Target(spec, CPU, "fp32", 64, 64, (64, 64), 1.0, False)
    engine = Engine(TorchBackend(loader.build(loader.load(v425_random)), target, Warp(64, 64)), target, 32)
    rng = np.random.default_rng(1)
    frames = [[rng.random((64, 64), dtype=np.float32) for _ in range(3)] for _ in range(4)]
    load = frames.__getitem__
    ev = engine.evidence(0, Fraction(1, 2), load)
    engine.interpolate(1, Fraction(1, 2), load)
    engine.served(0, 2)  # the first of two: nothing goes yet
    assert ("mid", 0, Fraction(1, 2)) in engine.cache._items and ("src", 0) in engine.cache._items
    engine.served(0, 2)  # the second: pair 0 is retired
    assert {k for k in engine.cache._items} == {
        ("src", 1),
        ("feat", 1),
        ("src", 2),
        ("feat", 2),
        ("mid", 1, Fraction(1, 2)),
    }
    calls = engine.network_calls
    assert engine.evidence(0, Fraction(1, 2), load) is ev and engine.network_calls == calls


@pytest.mark.parametrize("sc", [False, True])
def test_vapoursynth_keeps_few_full_size_frames_of_its_own(sc: bool, v425_random: dict, core: vs.Core) -> None:
    """The nodes RIFE builds between the source and the network keep no frame cache (the engine has
    its own, bounded): VapourSynth's automatic caches on them and on the nodes that pass frames on
    held 27-28 work-format frames here (0.6 GB of RGBS at 1080p); now all the frame memory of the
    run, frames in flight included, is 6-8."""
    core.num_threads = 2
    w, h = 256, 192
    src = random_clip(30, w, h, seed=6).resize.Bicubic(format=vs.YUV420P8, matrix_s="709")
    todo = [src]  # the source's own caches off: what is counted is RIFE's
    while todo:
        node = todo.pop()
        node.std.SetVideoCache(mode=0)
        todo += node.dependencies
    out = vsrife.RIFE(src, 2, model=v425_random, sc=sc)
    gc.collect()  # the core's frame memory is shared with whatever earlier tests left alive
    before = peak = core.used_cache_size
    for _ in out.frames(prefetch=2):
        peak = max(peak, core.used_cache_size)
    work_frame = 3 * 4 * w * h
    assert peak - before < 14 * work_frame, (peak - before) / work_frame  # frames in flight count too


@pytest.mark.parametrize("sc", [False, True])
def test_each_source_frame_is_converted_to_the_work_format_once(
    sc: bool, v425_random: dict, core: vs.Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames requested in order (two threads, as vspipe does): the conversion of source frame i is
    asked for by pairs i - 1 and i, and by the scene check of a flagged pair, and is made once (here
    24 conversions for 24 frames in one process; a frame twice once in the suite); with no cache on it, 2-4
    times (48 here without scene detection)."""
    from vsrife.formats import WorkFormat

    made: list[int] = []
    real = WorkFormat.converted

    def counted(self: WorkFormat, clip: vs.VideoNode) -> vs.VideoNode:
        out = real(self, clip)

        def count(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
            made.append(n)
            return f

        return out.std.ModifyFrame(out, count)

    monkeypatch.setattr(WorkFormat, "converted", counted)
    core.num_threads = 2
    # a cut every 6 frames: the scene check converts the pairs it confirms too
    shots = [random_clip(6, 96, 64, seed=s).resize.Bicubic(format=vs.YUV420P8, matrix_s="709") for s in range(4)]
    out = vsrife.RIFE(shots[0] + shots[1] + shots[2] + shots[3], 2, model=v425_random, sc=sc)
    for _ in out.frames(prefetch=2):
        pass
    # a frame evicted early is converted again (the core shrinks every cache when its frame memory is
    # over its bound, as it can be in a test process): at most a few, where no cache made 2 each
    assert set(made) == set(range(24)) and len(made) <= 28, sorted(made)


@pytest.mark.parametrize("threads", [1, 2, 8])
def test_each_pair_is_measured_once_for_its_scene_decision(
    threads: int, v425_random: dict, core: vs.Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pair's decision reads its own metrics and those of the pairs beside it (the break test,
    :func:`vsrife.scene.motion_break`): three requests of each metric frame, measured once, from
    VapourSynth's cache (a frame evicted early, as the suite's memory bound can make it, is measured
    again: a few at most)."""
    from vsrife import filter as rife_filter
    from vsrife import scene

    made: list[int] = []
    real = scene.jump_evidence

    def counted(a: np.ndarray, b: np.ndarray, score: float) -> tuple[float, float, float]:
        made.append(1)
        return real(a, b, score)

    monkeypatch.setattr(scene, "jump_evidence", counted)
    core.num_threads = threads
    from vsrife.synthetic import clip_from_frames, photo, window

    # a different photograph every frame: every pair is flagged and searched in scale, and none
    # is explained by a motion of the whole picture, so every decision reads the pairs beside it
    images = [photo(name) for name in ("astronaut", "coffee", "brick", "camera")]
    src = clip_from_frames([window(images[k % 4], 10 * k, 20, 96, 64) for k in range(24)])
    checked: list[int] = []
    real_break = rife_filter.motion_break
    monkeypatch.setattr(rife_filter, "motion_break", lambda *a: checked.append(1) or real_break(*a))
    out = vsrife.RIFE(src, 2, model=v425_random, sc=True)
    for _ in out.frames(prefetch=threads):
        pass
    assert len(checked) >= src.num_frames - 1
    assert src.num_frames - 1 <= len(made) <= src.num_frames + 3, len(made)


def test_precision_rules() -> None:
    from vsrife import registry
    from vsrife.backends import resolve_precision

    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert resolve_precision("auto", registry.get_spec("4.25"), cuda) == "fp16"  # 4.x: fp16, warp in fp32
    assert resolve_precision("auto", registry.HDV3, cuda) == "fp32"
    assert resolve_precision("auto", registry.get_spec("4.25"), cpu) == "fp32"
    assert resolve_precision("bf16", registry.HDV3, cpu) == "bf16"
    with pytest.raises(ValueError, match="fp16 is for CUDA"):
        resolve_precision("fp16", registry.HDV3, cpu)


def test_every_output_frame_carries_the_source_frames_props(v46_random: dict) -> None:
    src = random_clip(3, 32, 32).std.SetFrameProps(_Matrix=2, _Primaries=2, Tag="x")
    tagged = src.std.ModifyFrame(src, lambda n, f: _tag(n, f))
    out = vsrife.RIFE(tagged, 3, model=v46_random)
    for k in range(out.num_frames):
        props = {key: v for key, v in out.get_frame(k).props.items() if key not in OWN_PROPS}
        assert props == {key: v for key, v in tagged.get_frame(min(k // 3, 2)).props.items() if key not in OWN_PROPS}, k


def _tag(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
    f = f.copy()
    f.props["SrcIndex"] = n
    return f
