"""Rational frame-rate conversion: ``vsrife.timing.Retime`` (property-based) and ``vsrife.RIFE``
with ``factor_num/factor_den`` and ``fps_num/fps_den`` (real HDv3, tiny clips).

Everything here is exact integer / Fraction arithmetic: a float anywhere would drift over a long clip.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from math import ceil, floor

import numpy as np
import pytest
import vapoursynth as vs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import vsrife
from conftest import planes, random_clip
from vsrife.engine import default_bisect_depth, nearest_dyadic
from vsrife.filter import MIN_UNEVEN_DEPTH
from vsrife.timing import Retime

# ------------------------------------------------------------------------------------ strategies

FPS_PAIRS = [  # (source fps, target fps): the conversions people actually do
    ((24000, 1001), (60000, 1001)),
    ((25, 1), (60, 1)),
    ((30000, 1001), (60, 1)),
    ((24, 1), (60, 1)),
    ((24000, 1001), (25, 1)),
    ((25, 1), (24000, 1001)),
    ((60, 1), (50, 1)),
    ((60000, 1001), (24000, 1001)),
    ((50, 1), (60000, 1001)),
    ((30000, 1001), (120, 1)),
]
NAMED_FACTORS = [
    Fraction(1), Fraction(2), Fraction(5, 2), Fraction(12, 5), Fraction(1001, 500), Fraction(1001, 400),
    Fraction(1, 2), Fraction(5, 6), Fraction(2, 5), Fraction(1, 2000), Fraction(2000), Fraction(1999, 2000),
    Fraction(2000, 1999), Fraction(1997, 3),
]

factors = st.one_of(
    st.builds(Fraction, st.integers(1, 2000), st.integers(1, 2000)),  # < 1, = 1, > 1, coprime or not
    st.sampled_from(NAMED_FACTORS),
    st.sampled_from(FPS_PAIRS).map(lambda pair: Fraction(*pair[1]) / Fraction(*pair[0])),
)
lengths = st.integers(1, 5000)


def expected_position(r: Retime, k: int) -> tuple[int, Fraction]:
    """The specification, in integers: output k shows source time s = k * q / p, held at the last frame."""
    p, q = r.factor.numerator, r.factor.denominator
    if k * q >= (r.src_frames - 1) * p:  # s >= n - 1
        return r.src_frames - 1, Fraction(0)
    return k * q // p, Fraction(k * q % p, p)


def indices_to_check(r: Retime, limit: int = 3000) -> list[int]:
    """All output frames of a short clip; for a long one the start, the end, the middle and the
    frames around the last source frame (where holding starts)."""
    nf = r.num_frames
    if nf <= limit:
        return list(range(nf))
    w = limit // 4
    hold = (r.src_frames - 1) * r.factor  # output time of the last source frame
    ks = set(range(w)) | set(range(nf - w, nf)) | set(range(nf // 2 - w // 2, nf // 2 + w // 2))
    ks |= set(range(max(0, floor(hold) - w // 2), min(nf, floor(hold) + w // 2)))
    return sorted(ks)


def runs(ks: list[int]) -> list[list[int]]:
    """Split sorted indices into runs of consecutive integers."""
    out: list[list[int]] = []
    for k in ks:
        if out and out[-1][-1] == k - 1:
            out[-1].append(k)
        else:
            out.append([k])
    return out


# ------------------------------------------------------------------------------------ Retime: properties

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(factors, lengths)
@example(Fraction(1), 1)
@example(Fraction(1, 2000), 1)
@example(Fraction(2000), 5000)
@example(Fraction(1001, 400), 4999)
def test_num_frames_is_ceil_n_times_factor(factor: Fraction, n: int) -> None:
    r = Retime(factor, n)
    p, q = factor.numerator, factor.denominator
    assert type(r.num_frames) is int
    assert r.num_frames == -(-n * p // q) == ceil(Fraction(n) * factor)
    assert r.num_frames >= 1
    # the output lasts as long as the source, to within one output frame (never shorter)
    assert Fraction(n) <= r.num_frames / factor < Fraction(n) + 1 / factor


@PROPS
@given(factors, lengths)
@example(Fraction(5, 2), 3)
@example(Fraction(1, 2), 7)
@example(Fraction(1001, 400), 5000)
def test_positions_are_exact_monotonic_and_in_range(factor: Fraction, n: int) -> None:
    r = Retime(factor, n)
    ks = indices_to_check(r)
    pos = {k: r.position(k) for k in ks}
    for k, (i, t) in pos.items():
        assert type(i) is int and type(t) is Fraction  # no float anywhere
        assert 0 <= i < n and 0 <= t < 1
        assert (i, t) == expected_position(r, k)
        s = Fraction(k) / factor
        if s <= n - 1:
            assert i + t == s  # exactly the instant asked for
        else:
            assert (i, t) == (n - 1, 0)  # after the last source frame: held
    for run in runs(ks):
        for a, b in zip(run, run[1:]):
            (ia, ta), (ib, tb) = pos[a], pos[b]
            assert ia + ta <= ib + tb  # non-decreasing in time
            if Fraction(b) / factor <= n - 1:
                assert ia + ta < ib + tb  # strictly increasing before the end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(factors, st.integers(1, 600))
@example(Fraction(5, 2), 10)
@example(Fraction(5, 6), 12)
@example(Fraction(1), 1)
@example(Fraction(1001, 400), 400)
def test_each_source_frame_appears_exactly_where_k_over_factor_is_it(factor: Fraction, n: int) -> None:
    r = Retime(factor, n)
    nf = r.num_frames
    if nf > 50_000:  # every output frame is visited; keep the example affordable
        n = max(1, 50_000 * factor.denominator // factor.numerator)
        r = Retime(factor, n)
        nf = r.num_frames
    hits: Counter[int] = Counter()
    for k in range(nf):
        i, t = r.position(k)
        s = Fraction(k) / factor
        if s > n - 1:
            assert (i, t) == (n - 1, 0)  # the held tail, documented
            continue
        if t == 0:
            assert s == i  # a source frame is shown only at its own instant
            hits[i] += 1
        else:
            assert s.denominator != 1
    for i in range(n):
        k = Fraction(i) * factor
        if k.denominator == 1:
            assert hits[i] == 1 and r.position(int(k)) == (i, 0)
        else:
            assert hits[i] == 0  # e.g. lowering 60 -> 50: frames 1..5 of each 6 are never shown alone


def simulate_select_every(n_in: int, cycle: int, offsets: list[int], ks: np.ndarray) -> np.ndarray:
    """What std.SelectEvery(cycle, offsets) returns for output frames ks (and its length)."""
    offs = np.asarray(offsets, dtype=np.int64)
    return (ks // len(offs)) * cycle + offs[ks % len(offs)]


def select_every_length(n_in: int, cycle: int, offsets: list[int]) -> int:
    return (n_in // cycle) * len(offsets) + sum(1 for o in offsets if o < n_in % cycle)


@PROPS
@given(factors, lengths)
@example(Fraction(2000), 5000)
@example(Fraction(1), 1)
@example(Fraction(3), 1)
def test_select_every_reproduces_floor_k_over_factor(factor: Fraction, n: int) -> None:
    r = Retime(factor, n)
    cycle, offsets = r.select_every()
    assert type(cycle) is int and all(type(o) is int for o in offsets)
    assert cycle >= 2 and offsets and all(0 <= o < cycle for o in offsets)  # what SelectEvery accepts
    assert offsets == sorted(offsets)
    # SelectEvery produces at least num_frames frames (RIFE slices it to num_frames)
    assert select_every_length(n, cycle, offsets) >= r.num_frames
    p, q = factor.numerator, factor.denominator
    ks = np.arange(r.num_frames, dtype=np.int64)  # every output frame; integer arithmetic only
    got = simulate_select_every(n, cycle, offsets, ks)
    assert np.array_equal(got, ks * q // p)
    assert got.max() < n


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 40))
@example(5, 2, 4)
@example(1, 1, 2)
@example(1, 2, 3)
@example(12, 5, 7)
def test_select_every_against_real_std_selectevery(p: int, q: int, n: int) -> None:
    r = Retime(Fraction(p, q), n)
    cycle, offsets = r.select_every()
    blank = vs.core.std.BlankClip(format=vs.GRAY8, width=8, height=8, length=n)

    def tag(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        f = f.copy()
        f.props["Index"] = n
        return f

    src = blank.std.ModifyFrame(blank, tag)
    sel = src.std.SelectEvery(cycle=cycle, offsets=offsets, modify_duration=False)
    assert sel.num_frames == select_every_length(n, cycle, offsets) >= r.num_frames
    sel = sel[: r.num_frames]
    assert sel.num_frames == r.num_frames
    got = [sel.get_frame(k).props["Index"] for k in range(sel.num_frames)]
    assert got == [k * q // p for k in range(r.num_frames)] == [floor(Fraction(k) / r.factor) for k in range(r.num_frames)]


def test_two_hour_film_24000_1001_to_60000_1001_is_exact() -> None:
    fps_in, fps_out = Fraction(24000, 1001), Fraction(60000, 1001)
    n = ceil(2 * 3600 * fps_in)  # 172,628 frames
    r = Retime(fps_out / fps_in, n)
    assert r.factor == Fraction(5, 2) and r.num_frames == ceil(n * 5 / Fraction(2))
    # output frames around source frame 172,000 (k = 430,000) and output frames k near 172,000
    for k in list(range(430_000 - 50, 430_000 + 50)) + list(range(172_000 - 50, 172_000 + 50)):
        i, t = r.position(k)
        assert type(t) is Fraction and (i, t) == (2 * k // 5, Fraction(2 * k % 5, 5))
    assert r.position(430_000) == (172_000, 0)
    assert r.position(430_001) == (172_000, Fraction(2, 5))
    # the last output frames: in time up to the last source frame, then held
    for k in range(r.num_frames - 5, r.num_frames):
        assert r.position(k) == expected_position(r, k)
    assert r.position(r.num_frames - 1) == (n - 1, 0)


@pytest.mark.parametrize(("factor", "n", "exc"), [
    (Fraction(0), 5, ValueError),
    (Fraction(-1, 2), 5, ValueError),
    (Fraction(2), 0, ValueError),
    (2.5, 5, TypeError),  # a float factor would silently drift
])
def test_retime_rejects_bad_input(factor, n: int, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Retime(factor, n)


def test_retime_accepts_int_factor_as_fraction() -> None:
    r = Retime(3, 4)
    assert r.factor == Fraction(3) and type(r.factor) is Fraction
    assert r.position(4) == (1, Fraction(1, 3))


# ------------------------------------------------------------------------------------ through the filter


def same_planes(a: vs.VideoFrame, b: vs.VideoFrame) -> bool:
    return a.format.id == b.format.id and all(
        np.array_equal(np.asarray(a[p]), np.asarray(b[p])) for p in range(a.format.num_planes)
    )


def _check_timing(src: vs.VideoNode, out: vs.VideoNode, factor: Fraction) -> None:
    """Frame count, fps, durations, passthrough of source instants and the timesteps used."""
    n = src.num_frames
    r = Retime(factor, n)
    assert out.num_frames == r.num_frames == ceil(n * factor)
    out_fps = src.fps * factor
    assert out.fps == out_fps
    assert out.format.id == src.format.id and (out.width, out.height) == (src.width, src.height)
    depth = default_bisect_depth(max(2, ceil(factor)))
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


def test_factor_5_2(hdv3_path: str) -> None:
    src = random_clip(4, 32, 32, seed=21, fps=(24, 1))
    out = vsrife.RIFE(src, factor_num=5, factor_den=2, model=hdv3_path)
    assert out.num_frames == 10 and out.fps == Fraction(60)
    _check_timing(src, out, Fraction(5, 2))
    assert [out.get_frame(k).props["RifeTimestep"] for k in range(5)] == [0.0, 0.375, 0.75, 0.25, 0.625]


def test_fps_24000_1001_to_60000_1001(hdv3_path: str) -> None:
    src = random_clip(3, 32, 32, seed=22, fps=(24000, 1001))
    out = vsrife.RIFE(src, fps_num=60000, fps_den=1001, model=hdv3_path)
    assert out.fps == Fraction(60000, 1001) and out.num_frames == 8
    _check_timing(src, out, Fraction(5, 2))


def test_fps_25_to_60_on_yuv(hdv3_path: str) -> None:
    # YUV input: source instants come from the input itself, interpolated ones through zimg
    src = random_clip(3, 32, 32, seed=23, fps=(25, 1)).resize.Bicubic(format=vs.YUV420P8, matrix=1)
    out = vsrife.RIFE(src, fps_num=60, model=hdv3_path)
    assert out.fps == Fraction(60) and out.num_frames == ceil(3 * Fraction(12, 5)) == 8
    _check_timing(src, out, Fraction(12, 5))


def test_factor_one_is_identity(hdv3_path: str) -> None:
    src = random_clip(3, 32, 32, seed=24).std.SetFrameProps(Tag="x")
    out = vsrife.RIFE(src, factor_num=1, model=hdv3_path)
    assert out.num_frames == 3 and out.fps == src.fps
    for k in range(3):
        f = out.get_frame(k)
        assert np.array_equal(planes(f), planes(src.get_frame(k))) and f.props["Tag"] in ("x", b"x")


def test_lowering_half_takes_every_other_source_frame(hdv3_path: str) -> None:
    src = random_clip(5, 32, 32, seed=25, fps=(60, 1))
    out = vsrife.RIFE(src, factor_num=1, factor_den=2, model=hdv3_path)
    assert out.num_frames == 3 and out.fps == Fraction(30)
    for k in range(3):
        f = out.get_frame(k)
        assert np.array_equal(planes(f), planes(src.get_frame(2 * k)))
        assert f.props["RifeTimestep"] == 0.0
        assert Fraction(f.props["_DurationNum"], f.props["_DurationDen"]) == Fraction(1, 30)
    _check_timing(src, out, Fraction(1, 2))


def test_lowering_60_to_50(hdv3_path: str) -> None:
    src = random_clip(7, 32, 32, seed=26, fps=(60, 1))
    out = vsrife.RIFE(src, fps_num=50, model=hdv3_path)
    assert out.num_frames == ceil(7 * Fraction(5, 6)) == 6 and out.fps == Fraction(50)
    _check_timing(src, out, Fraction(5, 6))
    # output k shows source time 6k/5: k = 0 and 5 are source frames 0 and 6
    assert np.array_equal(planes(out.get_frame(5)), planes(src.get_frame(6)))
    # uneven rates bisect to eighths by default: t = 0.2 .. 0.8 are drawn at the nearest eighth
    assert [out.get_frame(k).props["RifeTimestep"] for k in range(6)] == [0.0, 0.25, 0.375, 0.625, 0.75, 0.0]


def test_lowering_60_to_50_with_deeper_bisection(hdv3_path: str) -> None:
    src = random_clip(7, 32, 32, seed=26, fps=(60, 1))
    out = vsrife.RIFE(src, fps_num=50, model=hdv3_path, bisect_depth=4)
    # t = 1/5, 2/5, 3/5, 4/5 -> nearest sixteenths
    assert [out.get_frame(k).props["RifeTimestep"] for k in range(1, 5)] == [0.1875, 0.375, 0.625, 0.8125]


# ------------------------------------------------------------------------------------ errors


def _vfr_clip() -> vs.VideoNode:
    a = random_clip(2, 16, 16, fps=(24, 1))
    b = random_clip(2, 16, 16, fps=(25, 1))
    clip = a + b  # different rates: the spliced clip has fps 0 (variable)
    assert clip.fps == Fraction(0)
    return clip


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"factor_num": 5, "fps_num": 60}, "either factor_num/factor_den or fps_num/fps_den, not both"),
        ({"factor_num": 5, "factor_den": 0}, "factor_den must be a positive integer"),
        ({"factor_num": 5, "factor_den": -2}, "factor_den must be a positive integer"),
        ({"factor_num": 0}, "factor_num must be a positive integer"),
        ({"factor_num": -3}, "factor_num must be a positive integer"),
        ({"factor_num": 2.5}, "factor_num must be a positive integer"),
        ({"factor_num": True}, "factor_num must be a positive integer"),
        ({"factor_num": 5, "factor_den": 2.0}, "factor_den must be a positive integer"),
        ({"fps_num": 0}, "fps_num must be a positive integer"),
        ({"fps_num": 59.94}, "fps_num must be a positive integer"),
        ({"fps_num": 60000, "fps_den": 0}, "fps_den must be a positive integer"),
        ({"fps_num": 60000, "fps_den": -1001}, "fps_den must be a positive integer"),
    ],
)
def test_bad_rate_arguments(kwargs: dict, match: str, hdv3_path: str) -> None:
    with pytest.raises(vs.Error, match=f"^RIFE: .*{match}"):
        vsrife.RIFE(random_clip(2, 16, 16), model=hdv3_path, **kwargs)


def test_fps_target_on_fps0_clip_without_durations(hdv3_path: str) -> None:
    # A variable-rate clip (fps 0) whose frames carry no duration: nothing tells when its frames are
    # shown, so a target rate cannot be honoured.
    clip = _vfr_clip().std.RemoveFrameProps(props=["_DurationNum", "_DurationDen"])
    with pytest.raises(vs.Error, match=r"^RIFE: .*fps 0"):
        vsrife.RIFE(clip, fps_num=60, model=hdv3_path)


def test_factor_on_variable_rate_clip_splits_each_duration(hdv3_path: str) -> None:
    out = vsrife.RIFE(_vfr_clip(), factor_num=2, model=hdv3_path)
    assert out.num_frames == 8 and out.fps == Fraction(0)
    durations = [Fraction(out.get_frame(k).props["_DurationNum"], out.get_frame(k).props["_DurationDen"]) for k in range(8)]
    assert durations == [Fraction(1, 48)] * 4 + [Fraction(1, 50)] * 4
