"""Timing through the filter: rational factors, target rates, lowering, variable-rate sources
(durations and timecodes), held frames; durations of every output frame in every format."""

from __future__ import annotations

from fractions import Fraction
from math import ceil
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import vsrife
from vsrife.scene import distinct_frames
from vsrife.synthetic import clip_from_frames, photo, window
from vsrife.timing import MIN_UNEVEN_DEPTH, ConstantRate, default_depth, nearest_dyadic, prop_fraction

from helpers import convert, durations, planes, random_clip, same_frames, vfr_clip

pytestmark = pytest.mark.graph


def same_planes(a: vs.VideoFrame, b: vs.VideoFrame) -> bool:
    return a.format.id == b.format.id and all(
        np.array_equal(np.asarray(a[p]), np.asarray(b[p])) for p in range(a.format.num_planes)
    )


def _check_timing(src: vs.VideoNode, out: vs.VideoNode, factor: Fraction) -> None:
    """Frame count, fps, durations, passthrough of source instants and the timesteps used."""
    n = src.num_frames
    r = ConstantRate(factor, n, src.fps)
    assert out.num_frames == r.num_frames == ceil(n * factor)
    out_fps = src.fps * factor
    assert out.fps == out_fps
    assert out.format.id == src.format.id and (out.width, out.height) == (src.width, src.height)
    depth = default_depth(max(2, ceil(factor)))
    if factor.denominator != 1:
        depth = max(depth, MIN_UNEVEN_DEPTH)  # uneven rates get at least eighths
    total = Fraction(0)
    for k in range(out.num_frames):
        f = out.get_frame(k)
        d = Fraction(f.props["_DurationNum"], f.props["_DurationDen"])
        assert d == 1 / out_fps, k
        total += d
        i, t = r.position(k)
        ts = f.props["RifeTimestep"]
        assert all(np.isfinite(np.asarray(f[p], dtype=np.float64)).all() for p in range(f.format.num_planes))
        if t == 0:
            assert ts == 0.0
            assert same_planes(f, src.get_frame(i)), k  # bit-exact source frame
        else:
            assert ts == float(nearest_dyadic(t, depth)), (k, t, ts)  # the nearest instant bisection reaches
            bound = 1 / (4 * factor) if factor.denominator == 1 else Fraction(1, 2 ** (MIN_UNEVEN_DEPTH + 1))
            assert abs(Fraction(ts) - t) <= bound  # the documented bound
            assert not same_planes(f, src.get_frame(i))
    src_duration = Fraction(n) / src.fps
    assert src_duration <= total < src_duration + 1 / out_fps  # same duration within one output frame


def test_factor_5_2(hdv3_random: dict) -> None:
    src = random_clip(4, 32, 32, seed=21, fps=(24, 1))
    out = vsrife.RIFE(src, factor_num=5, factor_den=2, model=hdv3_random)
    assert out.num_frames == 10 and out.fps == Fraction(60)
    _check_timing(src, out, Fraction(5, 2))
    assert [out.get_frame(k).props["RifeTimestep"] for k in range(5)] == [0.0, 0.375, 0.75, 0.25, 0.625]


def test_fps_24000_1001_to_60000_1001(hdv3_random: dict) -> None:
    src = random_clip(3, 32, 32, seed=22, fps=(24000, 1001))
    out = vsrife.RIFE(src, fps_num=60000, fps_den=1001, model=hdv3_random)
    assert out.fps == Fraction(60000, 1001) and out.num_frames == 8
    _check_timing(src, out, Fraction(5, 2))


def test_fps_25_to_60_on_yuv(hdv3_random: dict) -> None:
    # YUV input: source instants come from the input itself, interpolated ones through zimg
    src = random_clip(3, 32, 32, seed=23, fps=(25, 1)).resize.Bicubic(format=vs.YUV420P8, matrix=1)
    out = vsrife.RIFE(src, fps_num=60, model=hdv3_random)
    assert out.fps == Fraction(60) and out.num_frames == ceil(3 * Fraction(12, 5)) == 8
    _check_timing(src, out, Fraction(12, 5))


def test_factor_one_is_identity(hdv3_random: dict) -> None:
    src = random_clip(3, 32, 32, seed=24).std.SetFrameProps(Tag="x")
    out = vsrife.RIFE(src, factor_num=1, model=hdv3_random)
    assert out.num_frames == 3 and out.fps == src.fps
    for k in range(3):
        f = out.get_frame(k)
        assert np.array_equal(planes(f), planes(src.get_frame(k))) and f.props["Tag"] in ("x", b"x")


def test_lowering_half_takes_every_other_source_frame(hdv3_random: dict) -> None:
    src = random_clip(5, 32, 32, seed=25, fps=(60, 1))
    out = vsrife.RIFE(src, factor_num=1, factor_den=2, model=hdv3_random)
    assert out.num_frames == 3 and out.fps == Fraction(30)
    for k in range(3):
        f = out.get_frame(k)
        assert np.array_equal(planes(f), planes(src.get_frame(2 * k)))
        assert f.props["RifeTimestep"] == 0.0
        assert Fraction(f.props["_DurationNum"], f.props["_DurationDen"]) == Fraction(1, 30)
    _check_timing(src, out, Fraction(1, 2))


def test_lowering_60_to_50(hdv3_random: dict) -> None:
    src = random_clip(7, 32, 32, seed=26, fps=(60, 1))
    out = vsrife.RIFE(src, fps_num=50, model=hdv3_random)
    assert out.num_frames == ceil(7 * Fraction(5, 6)) == 6 and out.fps == Fraction(50)
    _check_timing(src, out, Fraction(5, 6))
    # output k shows source time 6k/5: k = 0 and 5 are source frames 0 and 6
    assert np.array_equal(planes(out.get_frame(5)), planes(src.get_frame(6)))
    # uneven rates bisect to eighths by default: t = 0.2 .. 0.8 are drawn at the nearest eighth
    assert [out.get_frame(k).props["RifeTimestep"] for k in range(6)] == [0.0, 0.25, 0.375, 0.625, 0.75, 0.0]


def test_lowering_60_to_50_with_deeper_bisection(hdv3_random: dict) -> None:
    src = random_clip(7, 32, 32, seed=26, fps=(60, 1))
    out = vsrife.RIFE(src, fps_num=50, model=hdv3_random, bisect_depth=4)
    # t = 1/5, 2/5, 3/5, 4/5 -> nearest sixteenths
    assert [out.get_frame(k).props["RifeTimestep"] for k in range(1, 5)] == [0.1875, 0.375, 0.625, 0.8125]


# ------------------------------------------------------------------------------------ rate arguments


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"factor_num": 5, "fps_num": 60}, "fps_num: cannot be combined with factor_num"),
        ({"multi": 3, "fps_num": 60}, "fps_num: cannot be combined with multi"),
        ({"multi": 3, "factor_num": 2}, "factor_num: cannot be combined with multi"),
        ({"factor_num": 5, "factor_den": 0}, "factor_den: must be positive"),
        ({"factor_num": 5, "factor_den": -2}, "factor_den: must be positive"),
        ({"factor_den": 2}, "factor_den: was given without factor_num"),
        ({"factor_num": 0}, "factor_num: must be positive"),
        ({"factor_num": -3}, "factor_num: must be positive"),
        ({"factor_num": 2.5}, r"factor_num: must be an exact positive number, got 2.5; use Fraction\(5, 2\)"),
        ({"factor_num": True}, "factor_num: must be an exact positive number"),
        ({"factor_num": "5"}, "factor_num: must be an exact positive number"),
        ({"fps_num": 0}, "fps_num: must be positive"),
        ({"fps_num": 59.94}, r"fps_num: .*use Fraction\(2997, 50\)"),
        ({"fps_num": 60000, "fps_den": 0}, "fps_den: must be positive"),
        ({"fps_num": 60000, "fps_den": -1001}, "fps_den: must be positive"),
        ({"multi": 1}, "multi: must be more than 1"),
        ({"multi": 10**10}, "multi: the output would have .* more than VapourSynth's limit"),
        ({"multi": 10**9}, "multi: the rate ratio 1000000000 needs a frame table"),
        ({"fps_num": 10**12}, "fps_num: the output would have .* more than VapourSynth's limit"),
    ],
)
def test_bad_rate_arguments(kwargs: dict, match: str, hdv3_random: dict) -> None:
    with pytest.raises(vs.Error, match=f"^RIFE: .*{match}"):
        vsrife.RIFE(random_clip(2, 16, 16), model=hdv3_random, **kwargs)


def test_exact_rates_in_any_exact_type(v46_random: dict) -> None:
    src = random_clip(3, 16, 16)
    for kwargs in (
        {"multi": Fraction(5, 2)},
        {"factor_num": Fraction(5, 2)},
        {"factor_num": 5, "factor_den": 2.0},
        {"fps_num": Fraction(60)},
        {"multi": np.int64(2) * 1},
    ):
        out = vsrife.RIFE(src, model=v46_random, **kwargs)
        assert out.fps in (Fraction(60), Fraction(48)), kwargs


# ------------------------------------------------------------------------------------ variable rate

DURATIONS = [Fraction(1, 24), Fraction(1, 24), Fraction(1, 12), Fraction(1, 24), Fraction(1, 8), Fraction(1, 24)]


def test_vfr_source_to_constant_rate(v46_random: dict) -> None:
    src = vfr_clip(DURATIONS)
    out = vsrife.RIFE(src, fps_num=48, model=v46_random, sc=False)
    total = sum(DURATIONS)
    assert out.fps == 48 and out.num_frames == int(np.ceil(total * 48))
    starts = np.cumsum([0] + [float(d) for d in DURATIONS])
    for k in range(out.num_frames):
        f = out.get_frame(k)
        assert (f.props["_DurationNum"], f.props["_DurationDen"]) == (1, 48)
        time = k / 48
        assert f.props["_AbsoluteTime"] == pytest.approx(time)
        i = min(int(np.searchsorted(starts, time, side="right")) - 1, len(DURATIONS) - 1)
        t = 0.0 if i == len(DURATIONS) - 1 else (time - starts[i]) / (starts[i + 1] - starts[i])
        if abs(t) < 1e-12:
            assert np.array_equal(planes(f), planes(src.get_frame(i)))
        assert f.props["RifeTimestep"] == pytest.approx(t, abs=1e-9)


FORMATS = [vs.RGBS, vs.YUV420P8, vs.YUV444P16, vs.GRAY8, vs.GRAYS, vs.YUV444PH, vs.RGB24]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: vs.core.get_video_format(f).name)
@pytest.mark.parametrize("multi", [2, 3])
def test_vfr_with_multi_splits_each_duration_in_every_format(fmt: int, multi: int, v46_random: dict) -> None:
    src = convert(vfr_clip(DURATIONS), fmt)
    out = vsrife.RIFE(src, multi, model=v46_random)
    assert out.num_frames == len(DURATIONS) * multi and out.fps == 0
    got = durations(out)
    assert got == [d / multi for d in DURATIONS for _ in range(multi)]
    assert sum(got) == sum(DURATIONS)  # lasts exactly as long as the source (the YUV/GRAY path too)
    for k in range(0, out.num_frames, multi):  # every source frame shown, bit-exact, at its own instant
        assert same_frames(out.get_frame(k), src.get_frame(k // multi))


def test_absolute_time_is_the_output_instant_from_the_sources_start(v46_random: dict) -> None:
    src = random_clip(4, 32, 32, fps=(25, 1))
    late = src.std.ModifyFrame(src, lambda n, f: _at(f, 7.5 + n / 25))  # a source that starts at 7.5 s
    out = vsrife.RIFE(late, fps_num=60, model=v46_random)
    for k in range(out.num_frames):
        assert out.get_frame(k).props["_AbsoluteTime"] == pytest.approx(7.5 + k / 60)


def _at(f: vs.VideoFrame, t: float) -> vs.VideoFrame:
    f = f.copy()
    f.props["_AbsoluteTime"] = t
    return f


def test_timecodes_with_multi_show_every_source_frame(v46_random: dict) -> None:
    times = [0, 0.041667, 0.083333, 0.125, 0.133333, 0.141667]
    src = random_clip(6, 32, 32)
    out = vsrife.RIFE(src, 2, model=v46_random, timecodes=times, sc=False)
    assert out.num_frames == 12
    assert src.fps > 0 and out.fps == 0  # variable rate: with the source's rate kept, players ignored the durations
    same = vsrife.RIFE(src, 2, model=v46_random, timecodes=np.array(times), sc=False)  # a numpy array was refused
    assert durations(same) == durations(out)
    ints = vsrife.RIFE(src, 2, model=v46_random, timecodes=[np.int64(i) for i in range(6)], sc=False)
    assert sum(durations(ints)) == 6  # numpy integers failed every frame ('unsupported type (int64)')
    shown = [k // 2 for k in range(12) if out.get_frame(k).props["RifeTimestep"] == 0.0]
    assert shown == [0, 1, 2, 3, 4, 5, 5]  # each source frame at its instant; the last one lasts to the end
    assert all(np.array_equal(planes(out.get_frame(2 * i)), planes(src.get_frame(i))) for i in range(6))
    assert sum(durations(out)) == Fraction("0.141667") + (Fraction("0.141667") - Fraction("0.133333"))


def test_timecodes_file_matches_durations(tmp_path: Path, v46_random: dict) -> None:
    src = vfr_clip(DURATIONS)
    starts = np.cumsum([0] + [float(d) for d in DURATIONS])[:-1]
    tc = tmp_path / "tc.txt"
    tc.write_text("# timecode format v2\n" + "".join(f"{s * 1000:.6f}\n" for s in starts))
    a = vsrife.RIFE(src, fps_num=48, model=v46_random, sc=False)
    for timecodes in (str(tc), tc):  # a str or a pathlib.Path
        b = vsrife.RIFE(src, fps_num=48, model=v46_random, sc=False, timecodes=timecodes)
        assert [a.get_frame(k).props["RifeTimestep"] for k in range(12)] == pytest.approx(
            [b.get_frame(k).props["RifeTimestep"] for k in range(12)], abs=1e-6
        )


def test_fps0_without_durations_is_a_clear_error(hdv3_random: dict) -> None:
    src = vfr_clip(DURATIONS).std.RemoveFrameProps(["_DurationNum", "_DurationDen"])
    for kwargs in ({"fps_num": 48}, {"multi": 2}):
        with pytest.raises(vs.Error, match=r"^RIFE: .*fps 0 .* timecodes="):
            vsrife.RIFE(src, model=hdv3_random, **kwargs)


@pytest.mark.parametrize(
    ("num", "den", "match"),
    [
        (1, 0, "frame 2 has a bad duration"),
        (-1, 24, "frame 2 has a bad duration"),
    ],
)
def test_malformed_durations_name_the_frame(num: int, den: int, match: str, hdv3_random: dict) -> None:
    src = vfr_clip(DURATIONS)
    bad = src[:2] + src[2].std.SetFrameProps(_DurationNum=num, _DurationDen=den) + src[3:]
    with pytest.raises(vs.Error, match=f"^RIFE: .*{match}"):
        vsrife.RIFE(bad, fps_num=48, model=hdv3_random)


def test_bad_timecodes(hdv3_random: dict, tmp_path: Path) -> None:
    src = vfr_clip(DURATIONS)
    with pytest.raises(vs.Error, match="RIFE: timecodes: has 2 entries, the clip has 6 frames"):
        vsrife.RIFE(src, fps_num=48, model=hdv3_random, timecodes=[0, 0.1])
    with pytest.raises(vs.Error, match="RIFE: timecodes: cannot read .*missing.txt"):
        vsrife.RIFE(src, fps_num=48, model=hdv3_random, timecodes=str(tmp_path / "missing.txt"))
    with pytest.raises(vs.Error, match="RIFE: timecodes: entry 3 .* is not after entry 2"):
        vsrife.RIFE(src, fps_num=48, model=hdv3_random, timecodes=[0, 0.1, 0.1, 0.2, 0.3, 0.4])
    with pytest.raises(vs.Error, match="RIFE: timecodes: entry 1 is 'x'"):
        vsrife.RIFE(src, fps_num=48, model=hdv3_random, timecodes=[0, "x", 0.2, 0.3, 0.4, 0.5])
    with pytest.raises(vs.Error, match="RIFE: timecodes: must be a timecodes file path"):
        vsrife.RIFE(src, fps_num=48, model=hdv3_random, timecodes=12)
    huge = tmp_path / "huge.txt"  # an OverflowError escaped while the message was being written
    huge.write_text("# timecode format v2\n0\n1e400\n2e400\n3e400\n4e400\n5e400\n")
    for tc in ([0, 10**400, 1, 2, 3, 4], [0, 0.1, 1e300, 2e300, 3e300, 4e300], huge):
        with pytest.raises(vs.Error, match=r"RIFE: timecodes: entry \d .* more than 10,000,000 seconds"):
            vsrife.RIFE(src, fps_num=48, model=hdv3_random, timecodes=tc)


def test_float_timecodes_split_many_times_fit_the_duration_props(v46_random: dict) -> None:
    """Floats are kept to a nanosecond's fraction (1/24 as 1/24, not over 10**18): 80 parts of each
    duration failed at frame time, their numerators too large for the 64-bit props."""
    src = random_clip(4, 16, 16)
    out = vsrife.RIFE(src, 80, model=v46_random, sc=False, timecodes=[0, 1 / 24, 2 / 24, 3 / 24])
    assert out.num_frames == 320 and out.fps == 0
    assert sum(durations(out)) == Fraction(4, 24)
    assert prop_fraction(Fraction(3**40, 7**30)) == (Fraction(3**40, 7**30).limit_denominator(2**31)).as_integer_ratio()
    assert prop_fraction(Fraction(1, 1920)) == (1, 1920)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    durs=st.lists(st.fractions(Fraction(1, 60), Fraction(1, 10), max_denominator=600), min_size=2, max_size=6),
    fmt=st.sampled_from(FORMATS),
    multi=st.integers(2, 3),
)
def test_vfr_durations_sum_exactly_property(durs: list[Fraction], fmt: int, multi: int, v46_random: dict) -> None:
    assume(len(set(durs)) > 1)  # equal durations splice into a constant-rate clip
    src = convert(vfr_clip(durs, 16, 16), fmt)
    out = vsrife.RIFE(src, multi, model=v46_random, sc=False)
    assert sum(durations(out)) == sum(durs)
    held = vsrife.RIFE(src, fps_num=30, model=v46_random, sc=False)
    assert sum(durs) <= sum(durations(held)) < sum(durs) + Fraction(1, 30)  # constant rate: within one frame


# ------------------------------------------------------------------------------------ held frames


def animation_on_twos(n_drawings: int = 4, step: float = 4.0, w: int = 128, h: int = 96, noise: float = 0.002):
    """Drawings moving ``step`` px each, every drawing shown twice (with a little codec-like noise)."""
    img = photo("astronaut")
    rng = np.random.default_rng(0)
    frames = []
    for d in range(n_drawings):
        pic = window(img, 150 + step * d, 100, w, h)
        for _ in range(2):
            frames.append(np.clip(pic + rng.normal(0, noise, pic.shape).astype(np.float32), 0, 1))
    return frames


def test_a_cut_marked_on_a_held_frame_that_is_left_out_is_kept(v46_random: dict) -> None:
    """AAABBBCCCDDD with only the last B (a held frame, left out) marked _SceneChangeNext: the mark
    was lost and B -> C morphed (found by hostile testing). It belongs to the kept B."""
    drawings = [random_clip(1, 32, 32, seed=s) for s in range(4)]
    frames = [drawings[i // 3] for i in range(12)]
    src = vs.core.std.Splice([f.std.SetFrameProps(_SceneChangeNext=int(i == 5)) for i, f in enumerate(frames)])
    out = vsrife.RIFE(src, 2, model=v46_random, held_frames=True, sc=False)
    props = [out.get_frame(k).props for k in range(out.num_frames)]
    assert [k for k, p in enumerate(props) if p["_SceneChangeNext"]] == [11]  # the last frame before C's 6/24 s
    assert [k for k, p in enumerate(props) if p["_SceneChangePrev"]] == [12]
    assert all(p["RifeTimestep"] == 0 for p in props[6:12])  # B is held across the cut, not morphed into C


def test_distinct_frames_finds_held_drawings() -> None:
    frames = animation_on_twos()
    assert distinct_frames(clip_from_frames(frames)) == [0, 2, 4, 6]
    # a still longer than MAX_HOLD stays a still
    still = [frames[0]] * 7 + frames[2:4]
    assert distinct_frames(clip_from_frames(still)) == [0, 1, 2, 3, 4, 5, 6, 7]
    # nothing held: every frame is its own
    assert distinct_frames(random_clip(5, 64, 48)) == [0, 1, 2, 3, 4]


def test_held_frames_retime_across_the_drawings(v46_random: dict) -> None:
    frames = animation_on_twos()
    src = clip_from_frames(frames)
    held = vsrife.RIFE(src, 2, model=v46_random, held_frames=True, sc=False)
    assert held.num_frames == 16 and held.fps == src.fps * 2
    # output k shows time k/2 source frames; drawings are at 0, 2, 4, 6: t runs over each drawing pair
    assert [held.get_frame(k).props["RifeTimestep"] for k in range(8)] == [0.0, 0.25, 0.5, 0.75] * 2
    assert np.array_equal(planes(held.get_frame(0)), frames[0])
    assert np.array_equal(planes(held.get_frame(4)), frames[2])
    assert sum(durations(held)) == Fraction(8) / src.fps


def test_held_frames_on_normal_footage_changes_nothing(hdv3_random: dict) -> None:
    src = random_clip(4, 48, 32, seed=8)
    a = vsrife.RIFE(src, 3, model=hdv3_random)
    b = vsrife.RIFE(src, 3, model=hdv3_random, held_frames=True)
    for k in range(a.num_frames):
        assert np.array_equal(planes(a.get_frame(k)), planes(b.get_frame(k)))


def test_a_clip_that_is_one_drawing_throughout_is_a_still(hdv3_random: dict) -> None:
    """Three equal frames: a still, as a run of more than MAX_HOLD equal frames is (a 24-frame still
    worked, a 3-frame one was an error, found by hostile testing); every frame is kept and shown."""
    still = vs.core.std.BlankClip(format=vs.RGBS, width=32, height=32, length=3, color=[0.5, 0.5, 0.5])
    out = vsrife.RIFE(still, model=hdv3_random, held_frames=True)
    plain = vsrife.RIFE(still, model=hdv3_random)
    assert out.num_frames == plain.num_frames == 6
    assert all(np.array_equal(planes(out.get_frame(k)), planes(plain.get_frame(k))) for k in range(6))
    assert sum(durations(out)) == Fraction(3) / still.fps
