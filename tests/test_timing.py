"""The timing module on its own: constant-rate retiming (property-based), variable-rate timelines,
split durations, timecode files, bounds. Exact integer / Fraction arithmetic throughout: a float
anywhere would drift over a long clip."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction
from math import ceil, floor

import numpy as np
import pytest
import vapoursynth as vs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vsrife.timing import (
    MAX_FRAMES,
    MAX_TABLE,
    ConstantRate,
    Plan,
    Split,
    Timeline,
    TimingError,
    read_timecodes,
)

pytestmark = pytest.mark.unit


def Retime(factor: Fraction, n: int) -> ConstantRate:
    return ConstantRate(factor, n)


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
    Fraction(1),
    Fraction(2),
    Fraction(5, 2),
    Fraction(12, 5),
    Fraction(1001, 500),
    Fraction(1001, 400),
    Fraction(1, 2),
    Fraction(5, 6),
    Fraction(2, 5),
    Fraction(1, 2000),
    Fraction(2000),
    Fraction(1999, 2000),
    Fraction(2000, 1999),
    Fraction(1997, 3),
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
        for a, b in itertools.pairwise(run):
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
    cycle, offsets = r.table()
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
    cycle, offsets = r.table()
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
    assert (
        got == [k * q // p for k in range(r.num_frames)] == [floor(Fraction(k) / r.factor) for k in range(r.num_frames)]
    )


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


@pytest.mark.parametrize(
    ("factor", "n", "exc"),
    [
        (Fraction(0), 5, ValueError),
        (Fraction(-1, 2), 5, ValueError),
        (Fraction(2), 0, ValueError),
        (2.5, 5, TypeError),  # a float factor would silently drift
    ],
)
def test_retime_rejects_bad_input(factor, n: int, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        Retime(factor, n)


def test_retime_accepts_int_factor_as_fraction() -> None:
    r = Retime(3, 4)
    assert r.factor == Fraction(3) and type(r.factor) is Fraction
    assert r.position(4) == (1, Fraction(1, 3))


# ------------------------------------------------------------------------------------ bounds


def test_output_length_is_bounded_before_anything_is_built() -> None:
    with pytest.raises(TimingError, match="more than VapourSynth's limit"):
        ConstantRate(Fraction(10**9), 100)
    # a ratio whose table would be huge: refused, not built
    with pytest.raises(TimingError, match="frame table"):
        ConstantRate(Fraction(MAX_TABLE + 3, MAX_TABLE + 1), MAX_TABLE * 2)
    assert ConstantRate(Fraction(1000), MAX_FRAMES // 2000 * 2).num_frames <= MAX_FRAMES  # long, but a small table
    with pytest.raises(TimingError, match="variable-rate timing"):
        Timeline((Fraction(0), Fraction(1)), Fraction(2), Fraction(MAX_TABLE))


@pytest.mark.parametrize("factor", [Fraction(2), Fraction(3), Fraction(5, 2), Fraction(1, 2), Fraction(7, 3)])
def test_in_betweens_counts_the_output_frames_inside_each_pair(factor: Fraction) -> None:
    # the engine retires a pair once this many of its in-between frames are served
    starts = (Fraction(0), Fraction(1, 10), Fraction(4, 10), Fraction(9, 20), Fraction(1, 2))
    for timing in (ConstantRate(factor, 9, Fraction(24)), Timeline(starts, Fraction(6, 10), factor * 10)):
        plan = Plan(None, timing, None)  # type: ignore[arg-type]  # the source clip is not needed here
        inside = Counter(i for i, t in map(timing.position, range(timing.num_frames)) if t > 0)
        assert [plan.in_betweens(i) for i in range(timing.src_frames)] == [inside[i] for i in range(timing.src_frames)]


# ------------------------------------------------------------------------------------ variable rate


def test_timeline_equals_constant_rate_for_constant_rate() -> None:
    for n, fps, out in [(10, Fraction(24), Fraction(60)), (7, Fraction(24000, 1001), Fraction(60000, 1001))]:
        tl = Timeline(tuple(Fraction(i) / fps for i in range(n)), Fraction(n) / fps, out)
        rt = ConstantRate(out / fps, n, fps)
        assert tl.num_frames == rt.num_frames
        assert [tl.position(k) for k in range(tl.num_frames)] == [rt.position(k) for k in range(rt.num_frames)]
        assert [tl.instant(k) for k in range(tl.num_frames)] == [rt.instant(k) for k in range(rt.num_frames)]


def test_timeline_follows_real_time() -> None:
    starts = (Fraction(0), Fraction(1, 10), Fraction(4, 10))  # a short frame, then a long one
    tl = Timeline(starts, Fraction(5, 10), Fraction(20))
    assert tl.num_frames == 10
    assert tl.position(1) == (0, Fraction(1, 2))
    assert tl.position(2) == (1, Fraction(0))
    assert tl.position(4) == (1, Fraction(1, 3))  # 0.2 s is a third of the way from 0.1 to 0.4
    assert tl.position(8) == (2, Fraction(0))
    assert tl.position(9) == (2, Fraction(0))  # after the last frame: held
    cycle, offsets = tl.table()
    assert cycle >= 2 and offsets == [tl.position(k)[0] for k in range(10)]


def test_timeline_snaps_millisecond_timecodes() -> None:
    # 23.976 fps timecodes rounded to ms; output at 47.952 fps: every other instant is a source frame
    fps = Fraction(24000, 1001)
    starts = tuple(Fraction(round(i * 1000 / fps), 1000) for i in range(50))
    exact = Timeline(starts, starts[-1] + Fraction(1001, 24000), 2 * fps)
    snapped = Timeline(starts, starts[-1] + Fraction(1001, 24000), 2 * fps, snap=Fraction(1, 2000))
    assert sum(exact.position(k)[1] == 0 for k in range(0, 98, 2)) < 40  # rounding breaks exactness
    assert all(snapped.position(k)[1] == 0 and snapped.position(k)[0] == k // 2 for k in range(0, 98, 2))
    assert all(0 < snapped.position(k)[1] < 1 for k in range(1, 98, 2))
    assert snapped.table()[1] == [snapped.position(k)[0] for k in range(snapped.num_frames)]


def test_timeline_without_a_common_grid_is_still_exact() -> None:
    # denominators whose least common multiple overflows the integer grid: exact Fractions instead
    primes = [1_000_003, 1_000_033, 1_000_037, 1_000_039, 1_000_081, 1_000_099]
    starts, now = [], Fraction(0)
    for p in primes * 2:
        starts.append(now)
        now += Fraction(p // 1000, p) / 24
    tl = Timeline(tuple(starts), now, Fraction(48))
    assert tl._grid is None
    assert tl.table()[1] == [tl.position(k)[0] for k in range(tl.num_frames)]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.fractions(Fraction(1, 200), Fraction(1, 5), max_denominator=1000), min_size=2, max_size=40),
    st.integers(1, 5),
)
def test_split_durations_sum_exactly_to_the_source(durations: list[Fraction], multi: int) -> None:
    starts, now = [], Fraction(0)
    for d in durations:
        starts.append(now)
        now += d
    sp = Split(tuple(starts), now, multi)
    assert sp.num_frames == len(durations) * multi and sp.fps == 0
    shown = [sp.instant(k) for k in range(sp.num_frames)]
    assert sum(d for _, d in shown) == now  # exactly as long as the source
    assert all(t + d == u for (t, d), (u, _) in itertools.pairwise(shown))  # back to back, no gap, no overlap
    for k in range(sp.num_frames):
        i, t = sp.position(k)
        assert i == min(k // multi, len(durations) - 1)
        assert t == (Fraction(k % multi, multi) if i < len(durations) - 1 else 0)
        assert shown[k][0] == starts[k // multi] + (k % multi) * durations[k // multi] / multi
    cycle, offsets = sp.table()
    assert [(k // len(offsets)) * cycle + offsets[k % len(offsets)] for k in range(sp.num_frames)] == [
        k // multi for k in range(sp.num_frames)
    ]


# ------------------------------------------------------------------------------------ timecode files


def test_timecodes_v2_with_bom_comments_and_blank_lines(tmp_path) -> None:
    tc = tmp_path / "tc.txt"
    tc.write_bytes("\ufeff# timecode format v2\n0\n41.708\n\n83.417\n# end\n125.125\n".encode())
    assert read_timecodes(tc, 4) == [Fraction(0), Fraction("0.041708"), Fraction("0.083417"), Fraction("0.125125")]


def test_timecodes_v1_ranges_and_assume(tmp_path) -> None:
    tc = tmp_path / "tc.txt"
    tc.write_text("# timecode format v1\nAssume 25\n2,3,50\n5,5,10\n")
    got = read_timecodes(str(tc), 6)
    steps = [b - a for a, b in itertools.pairwise(got)]
    assert steps == [
        Fraction(1, 25),
        Fraction(1, 25),
        Fraction(1, 50),
        Fraction(1, 50),
        Fraction(1, 25),
        Fraction(1, 10),
    ]
    assert len(got) == 7  # the end of the last frame is known


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"0\n40\nforty\n", "line 3: 'forty' is not a time"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
        (b"# timecode format v1\n0,3,25\n", "needs an 'Assume"),
        (b"# timecode format v1\nAssume 25\n0,x,25\n", "line 3"),
        (b"# timecode format v3\n0\n", "unsupported format"),
    ],
)
def test_bad_timecode_files_name_the_problem(tmp_path, content: bytes, match: str) -> None:
    tc = tmp_path / "tc.txt"
    tc.write_bytes(content)
    with pytest.raises(TimingError, match=match):
        read_timecodes(tc, 4)


def test_two_hour_vfr_timecodes_plan_quickly_and_exactly(tmp_path) -> None:
    # 172,646 frames at 23.976 with 29.97 sections, ms-rounded like mkvextract writes them
    from vsrife.timing import TIMECODE_SNAP

    n = 172_646
    lines, t = [], Fraction(0)
    for i in range(n):
        lines.append(f"{round(float(t) * 1000, 3)}")
        t += Fraction(1001, 24000) if (i // 5000) % 2 == 0 else Fraction(1001, 30000)
    tc = tmp_path / "tc.txt"
    tc.write_text("# timecode format v2\n" + "\n".join(lines) + "\n")
    starts = read_timecodes(tc, n)
    tl = Timeline(tuple(starts), starts[-1] + Fraction(1001, 30000), Fraction(60000, 1001), TIMECODE_SNAP)
    _cycle, offsets = tl.table()
    assert len(offsets) == tl.num_frames > 380_000
    for k in (0, 1, 2, 123_457, tl.num_frames // 2, tl.num_frames - 1):
        assert offsets[k] == tl.position(k)[0]
    assert offsets == sorted(offsets) and offsets[-1] == n - 1


def test_a_file_is_variable_rate_where_a_frame_is_half_a_frame_off_its_nominal_slot() -> None:
    from vsrife.encode import constant_rate
    from vsrife.timing import variable

    ms = lambda *v: [Fraction(x, 1000) for x in v]  # noqa: E731 - Matroska's millisecond timestamps
    assert not variable(ms(1500, 1542, 1583, 1625, 1667), Fraction(24))  # rounded, offset start: constant
    assert variable(ms(0, 42, 83, 125, 250, 375), Fraction(24))  # a section at 8 fps
    drift = [Fraction(i * 1001, 24000) for i in range(600)]  # 23.976 labelled 24: half a frame off at 500
    assert not variable(drift[:400], Fraction(24)) and variable(drift, Fraction(24))
    assert constant_rate({"multi": 2, "model": "x"}, Fraction(24)) == {"model": "x", "fps_num": 48, "fps_den": 1}
    assert constant_rate({"factor_num": 5, "factor_den": 2}, Fraction(24000, 1001)) == {
        "fps_num": 60000,
        "fps_den": 1001,
    }
    assert constant_rate({"fps_num": 60, "fps_den": 1}, Fraction(24)) == {"fps_num": 60, "fps_den": 1}
