"""What every output frame shows: the one place that maps output frames to source instants.

The filter asks one question, :meth:`Plan.at`: for output frame ``k``, which source pair ``i``, at
which fraction ``t`` between frames ``i`` and ``i + 1`` (0: frame ``i`` itself), at what output
time, for how long. Everything is exact rational arithmetic, so nothing drifts over a two-hour film.

Three timings (all with the same interface, :class:`Timing`):

* :class:`ConstantRate`, a constant-rate source: output frame ``k`` shows source time ``k / f`` (in
  source frames), ``f = p / q`` = output rate / input rate. The output has ``ceil(n * f)`` frames.
* :class:`Timeline`, a variable-rate source (fps 0, or ``timecodes=``) with a constant-rate output
  (a target fps, or a rational factor times the average rate), and the distinct frames of a clip
  with held frames: output frame ``k`` is at ``start + k / fps`` seconds, ``t`` follows real time.
* :class:`Split`, a variable-rate source with an integer factor ``m``: every source frame's duration
  is split into ``m`` equal parts; the output stays variable-rate and lasts exactly as long.

Every output frame gets its duration here, whichever way it is produced (passed through,
interpolated, or held across a cut). Instants after the last source frame show that frame (the
source displays it until its end). Midpoint-only models (HDv3, the paper model) reach other
instants by bisection: :class:`Plan` snaps ``t`` to the nearest multiple of ``1 / 2**depth``, and
chooses ``depth`` (see :func:`default_depth`).

Reading variable frame durations or finding held frames needs one pass over the clip before the
first frame is served. Timecode files (Matroska v1 and v2) are read without a pass.
"""

from __future__ import annotations

import math
import os
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from numbers import Rational, Real
from typing import Protocol

import numpy as np
import vapoursynth as vs

MAX_FRAMES = 2**31 - 1
"""VapourSynth counts frames in a signed 32-bit integer."""

MAX_TABLE = 1 << 22
"""Most entries of a frame-selection table (held in memory): about 18 hours of variable-rate output
at 60 fps, or a constant-rate ratio whose numerator is below 4 million."""

TIMECODE_SNAP = Fraction(1, 2000)
"""Half a millisecond: the rounding of timecode files. An output instant this close to a source
frame shows that frame (an instant 1 us before a frame must not become an interpolation at 0.99999)."""

MIN_UNEVEN_DEPTH = 3
"""Bisection depth for uneven timesteps (5/2, 60 -> 50, variable rate): at least eighths, so no
in-between frame lands more than 1/16 of an interval away from its instant."""


class TimingError(ValueError):
    """Bad timing input; the message names the argument (or the line, or the frame) and the fix."""


@dataclass(frozen=True)
class Shown:
    """What one output frame shows."""

    pair: int
    """Source frame ``i``: the frame itself when ``t == 0``, else the first of the pair (i, i + 1)."""
    t: Fraction
    """Fraction of the way from frame ``i`` to ``i + 1`` (0: frame ``i``), as the model produces it."""
    time: Fraction
    """The output instant, seconds from the first source frame."""
    duration: Fraction
    """How long the frame is shown, seconds."""


class Timing(Protocol):
    @property
    def src_frames(self) -> int: ...
    @property
    def num_frames(self) -> int: ...
    @property
    def fps(self) -> Fraction:
        """The output frame rate; 0 for variable-rate output."""

    def position(self, k: int) -> tuple[int, Fraction]:
        """(source frame ``i``, exact ``t`` in [0, 1)) of output frame ``k``."""

    def instant(self, k: int) -> tuple[Fraction, Fraction]:
        """(time, duration) of output frame ``k``, in seconds."""

    def source_time(self, i: int) -> Fraction:
        """When source frame ``i`` starts, seconds from the first source frame."""

    def table(self) -> tuple[int, list[int]]:
        """``(cycle, offsets)`` for ``std.SelectEvery`` giving output frame k the source frame
        ``position(k)[0]``."""


def _check_length(num_frames: int) -> None:
    if num_frames > MAX_FRAMES:
        raise TimingError(
            f"the output would have {num_frames:,} frames, more than VapourSynth's limit of {MAX_FRAMES:,}; "
            "use a lower rate or a shorter clip"
        )


def _check_times(starts: Sequence[Fraction], end: Fraction) -> None:
    if not starts or any(b <= a for a, b in pairwise(starts)) or end <= starts[-1]:
        raise ValueError("need at least one source frame, at strictly increasing times")


def _flat_table(positions: Sequence[int], src_frames: int) -> tuple[int, list[int]]:
    """One SelectEvery cycle spanning the whole source (needs a cycle of at least 2)."""
    return max(2, src_frames), list(positions)


@dataclass(frozen=True)
class ConstantRate:
    """Constant-rate source: output frame ``k`` at source time ``k / factor``."""

    factor: Fraction
    src_frames: int
    src_fps: Fraction = Fraction(1)
    """The source rate (only the instants and durations depend on it)."""

    def __post_init__(self) -> None:
        # exact arithmetic only: an int is taken as a Fraction; a float (already rounded, and it would
        # turn every position into a float) is refused
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, Fraction)):
            raise TypeError(f"factor must be an int or a Fraction, got {type(self.factor).__name__}")
        object.__setattr__(self, "factor", Fraction(self.factor))
        if self.factor <= 0 or self.src_frames < 1:
            raise ValueError("need a positive factor and at least one source frame")
        _check_length(self.num_frames)
        cycle, period = self._period()
        if period <= self.num_frames:  # SelectEvery makes whole periods: check what it will produce
            _check_length(-(-self.src_frames // cycle) * period)
        if (size := min(self.factor.numerator, self.num_frames)) > MAX_TABLE:
            raise TimingError(
                f"the rate ratio {self.factor} needs a frame table of {size:,} entries, more than the "
                f"{MAX_TABLE:,} this filter holds; use a lower rate, or a simpler fraction for it"
            )

    @property
    def num_frames(self) -> int:
        return math.ceil(self.src_frames * self.factor)

    @property
    def fps(self) -> Fraction:
        return self.src_fps * self.factor

    def position(self, k: int) -> tuple[int, Fraction]:
        s = Fraction(k) / self.factor
        i = s.numerator // s.denominator
        if i >= self.src_frames - 1:
            return self.src_frames - 1, Fraction(0)
        return i, s - i

    def instant(self, k: int) -> tuple[Fraction, Fraction]:
        return Fraction(k) / self.fps, 1 / self.fps

    def source_time(self, i: int) -> Fraction:
        return Fraction(i) / self.src_fps

    def _period(self) -> tuple[int, int]:
        """(source frames, output frames) of one repetition of the selection pattern."""
        p, q = self.factor.numerator, self.factor.denominator
        # SelectEvery needs a cycle of at least 2: an integer factor repeats over two source frames
        return (2, 2 * p) if q == 1 else (q, p)

    def table(self) -> tuple[int, list[int]]:
        p, q = self.factor.numerator, self.factor.denominator
        cycle, period = self._period()
        if period > self.num_frames:  # less than one period of output: list it
            return _flat_table([k * q // p for k in range(self.num_frames)], self.src_frames)
        return cycle, [r * q // p for r in range(period)]


class _Grid:
    """Instants on an integer grid (1 / ``scale`` seconds) where their denominators allow, so that
    per-frame lookups and tables of hundreds of thousands of frames cost integer operations only."""

    LIMIT = 1 << 62

    def __init__(self, values: Sequence[Fraction]) -> None:
        scale = 1
        for v in values:
            d = v.denominator
            if scale % d:
                scale = scale * d // math.gcd(scale, d)
                if scale > self.LIMIT:
                    raise OverflowError
        self.scale = scale

    def __call__(self, v: Fraction) -> int:
        n = v * self.scale
        assert n.denominator == 1
        return n.numerator


@dataclass(frozen=True)
class Timeline:
    """Constant-rate output over source frames with known start times (variable frame rate, or the
    distinct frames of a clip with held frames).

    Output frame ``k`` shows time ``starts[0] + k / fps``. It falls in source frame ``i`` (the last
    one starting at or before it, within ``snap``) at ``t = (time - starts[i]) / (starts[i + 1] -
    starts[i])``: timesteps follow real time, however uneven the source. The output ends where the
    source does (``end``).
    """

    starts: tuple[Fraction, ...]
    end: Fraction
    fps_out: Fraction
    snap: Fraction = Fraction(0)
    _grid: _Grid | None = field(init=False, repr=False, compare=False, default=None)
    _ints: list[int] = field(init=False, repr=False, compare=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.fps_out <= 0:
            raise ValueError("need a positive output rate")
        _check_times(self.starts, self.end)
        _check_length(self.num_frames)
        if self.num_frames > MAX_TABLE:
            raise TimingError(
                f"variable-rate timing of {self.num_frames:,} output frames is more than the {MAX_TABLE:,} "
                "this filter can plan at once; split the clip"
            )
        try:
            grid = _Grid([*self.starts, self.end, 1 / self.fps_out, self.snap])
        except OverflowError:  # denominators too varied for one grid: exact Fractions, slower
            return
        object.__setattr__(self, "_grid", grid)
        object.__setattr__(self, "_ints", [grid(s) for s in self.starts])

    @property
    def src_frames(self) -> int:
        return len(self.starts)

    @property
    def num_frames(self) -> int:
        return math.ceil((self.end - self.starts[0]) * self.fps_out)

    @property
    def fps(self) -> Fraction:
        return self.fps_out

    def _index(self, time: Fraction) -> int:
        if self._grid is None:
            return max(0, bisect_right(self.starts, time + self.snap) - 1)
        return max(0, bisect_right(self._ints, self._grid(time + self.snap)) - 1)

    def position(self, k: int) -> tuple[int, Fraction]:
        time = self.starts[0] + Fraction(k) / self.fps_out
        i = self._index(time)
        if i >= len(self.starts) - 1 or abs(time - self.starts[i]) <= self.snap:
            return i, Fraction(0)
        return i, (time - self.starts[i]) / (self.starts[i + 1] - self.starts[i])

    def instant(self, k: int) -> tuple[Fraction, Fraction]:
        return Fraction(k) / self.fps_out, 1 / self.fps_out

    def source_time(self, i: int) -> Fraction:
        return self.starts[i] - self.starts[0]

    def table(self) -> tuple[int, list[int]]:
        grid, ints = self._grid, self._ints
        if grid is None:
            return _flat_table([self.position(k)[0] for k in range(self.num_frames)], self.src_frames)
        # integer two-pointer walk: O(frames), no Fraction arithmetic per frame
        step, snap, t0 = grid(1 / self.fps_out), grid(self.snap), ints[0]
        out, i, last = [], 0, len(ints) - 1
        for k in range(self.num_frames):
            now = t0 + k * step + snap
            while i < last and ints[i + 1] <= now:
                i += 1
            out.append(i)
        return _flat_table(out, self.src_frames)


@dataclass(frozen=True)
class Split:
    """Variable-rate output: every source frame's duration split into ``multi`` equal parts."""

    starts: tuple[Fraction, ...]
    end: Fraction
    multi: int

    def __post_init__(self) -> None:
        if self.multi < 1:
            raise ValueError("need a positive factor")
        _check_times(self.starts, self.end)
        _check_length(self.num_frames)

    @property
    def src_frames(self) -> int:
        return len(self.starts)

    @property
    def num_frames(self) -> int:
        return len(self.starts) * self.multi

    @property
    def fps(self) -> Fraction:
        return Fraction(0)

    def _span(self, i: int) -> Fraction:
        return (self.starts[i + 1] if i + 1 < len(self.starts) else self.end) - self.starts[i]

    def position(self, k: int) -> tuple[int, Fraction]:
        i, j = divmod(k, self.multi)
        if i >= len(self.starts) - 1:
            return len(self.starts) - 1, Fraction(0)
        return i, Fraction(j, self.multi)

    def instant(self, k: int) -> tuple[Fraction, Fraction]:
        i, j = divmod(k, self.multi)
        part = self._span(i) / self.multi
        return self.starts[i] - self.starts[0] + j * part, part

    def source_time(self, i: int) -> Fraction:
        return self.starts[i] - self.starts[0]

    def table(self) -> tuple[int, list[int]]:
        return 2, [0] * self.multi + [1] * self.multi  # frame k // multi; a cycle of two frames


# --------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Rate:
    """The requested rate: a factor of the source rate, or a target frame rate (exactly one)."""

    factor: Fraction | None = None
    fps: Fraction | None = None
    arg: str = "multi"
    """The argument the user gave it with (for messages)."""

    def __post_init__(self) -> None:
        if (self.factor is None) == (self.fps is None):
            raise ValueError("give exactly one of factor and fps")


def default_depth(multi: int) -> int:
    """Bisection depth that reaches every k/multi exactly for powers of two, and within
    1/(4*multi) otherwise."""
    depth = max(1, (multi - 1).bit_length())
    return depth if multi == 1 << depth else depth + 1


def nearest_dyadic(t: Fraction, depth: int) -> Fraction:
    """The timestep with denominator 2**depth nearest to ``t`` (ties go to the earlier one), kept
    strictly inside (0, 1)."""
    den = 1 << depth
    num = min(max(round(t * den), 1), den - 1)
    return Fraction(num, den)


@dataclass(frozen=True)
class Plan:
    """The frames interpolation runs between, and what every output frame shows."""

    source: vs.VideoNode
    """All source frames, or only the distinct ones (``held_frames``)."""
    timing: ConstantRate | Timeline | Split
    depth: int | None
    """Bisection depth for midpoint-only models; None when the model takes any timestep."""

    @property
    def num_frames(self) -> int:
        return self.timing.num_frames

    @property
    def fps(self) -> Fraction:
        return self.timing.fps

    @property
    def steps(self) -> int:
        """Output frames per source interval (about): how many timesteps a pair serves."""
        return max(1, math.ceil(self.timing.num_frames / self.timing.src_frames))

    @property
    def results_per_pair(self) -> int:
        """Network results a pair needs: one per in-between timestep, or with bisection every
        midpoint on the timesteps' paths (at most ``2**depth - 1``)."""
        between = max(1, self.steps - 1)
        return between if self.depth is None else min((1 << self.depth) - 1, between * self.depth)

    def snap(self, t: Fraction) -> Fraction:
        """The timestep the model actually produces for ``t``."""
        return t if self.depth is None or t == 0 else nearest_dyadic(t, self.depth)

    def at(self, k: int) -> Shown:
        i, t = self.timing.position(k)
        time, duration = self.timing.instant(k)
        return Shown(i, self.snap(t), time, duration)

    def first_timestep(self, pair: int) -> Fraction | None:
        """The first in-between timestep the output asks of ``pair`` (None: it asks none), so that
        evidence about the pair can come from a network run the output needs anyway."""
        k = self._first_output_at_or_after(pair)
        while k < self.timing.num_frames:
            i, t = self.timing.position(k)
            if i != pair:
                return None
            if t > 0:
                return self.snap(t)
            k += 1
        return None

    def in_betweens(self, pair: int) -> int:
        """How many output frames show an instant inside ``pair`` (not its first source frame)."""
        if pair >= self.timing.src_frames - 1:  # the last frame: outputs after it hold it
            return 0
        start, stop = self._first_output_at_or_after(pair), self._first_output_at_or_after(pair + 1)
        if start < stop and self.timing.position(start) == (pair, 0):
            start += 1
        return stop - start

    def _first_output_at_or_after(self, pair: int) -> int:
        lo, hi = 0, self.timing.num_frames
        while lo < hi:  # positions are monotonic in k
            mid = (lo + hi) // 2
            if self.timing.position(mid)[0] < pair:
                lo = mid + 1
            else:
                hi = mid
        return lo


def make_plan(
    clip: vs.VideoNode,
    rate: Rate,
    *,
    timecodes: str | os.PathLike[str] | Sequence[Real] | None = None,
    held_frames: bool = False,
    held_threshold: float = 0.004,
    arbitrary_timestep: bool = True,
    bisect_depth: int | None = None,
) -> Plan:
    """Choose the timing for ``clip`` at ``rate`` (see the module docs) and the bisection depth."""
    n = clip.num_frames
    variable = clip.fps.numerator == 0 or timecodes is not None
    timing: ConstantRate | Timeline | Split
    source = clip
    if not variable and not held_frames:
        factor = rate.factor if rate.factor is not None else _target(rate) / clip.fps
        timing = ConstantRate(factor, n, clip.fps)
    else:
        starts, end = source_times(clip, timecodes)
        snap = TIMECODE_SNAP if timecodes is not None else Fraction(0)
        fps = rate.fps if rate.fps is not None else _factor(rate) * n / (end - starts[0])
        if held_frames:
            from .scene import held_runs

            keys, tagged = held_runs(clip, held_threshold)
            if len(keys) < 2:  # one drawing throughout: a still (as a run longer than MAX_HOLD is), kept whole
                keys = list(range(n))
            if len(keys) < n:
                source = _marked(
                    clip.std.SelectEvery(cycle=max(2, n), offsets=keys, modify_duration=False), keys, tagged
                )
            timing = Timeline(tuple(starts[k] for k in keys), end, fps, snap)
        elif rate.factor is not None and rate.factor.denominator == 1:
            timing = Split(starts, end, rate.factor.numerator)
        else:
            timing = Timeline(starts, end, fps, snap)
    depth = None if arbitrary_timestep else (bisect_depth or _depth_for(timing))
    return Plan(source, timing, depth)


def _marked(source: vs.VideoNode, keys: Sequence[int], tagged: set[int]) -> vs.VideoNode:
    """``source`` (the kept frames ``keys`` of a clip) with ``_SceneChangeNext`` on each kept frame
    whose run of held frames holds a frame that carries it: the cut comes after the run."""
    ends = [*keys[1:], max(keys[-1] + 1, max(tagged, default=0) + 1)]
    marked = {j for j, (a, b) in enumerate(zip(keys, ends)) if any(a <= t < b for t in tagged)}
    if not marked - {j for j, k in enumerate(keys) if k in tagged}:
        return source  # every mark is on a kept frame already

    def mark(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        if n not in marked:
            return f
        out = f.copy()
        out.props["_SceneChangeNext"] = 1
        return out

    return source.std.ModifyFrame(source, mark)


def _target(rate: Rate) -> Fraction:
    assert rate.fps is not None
    return rate.fps


def _factor(rate: Rate) -> Fraction:
    assert rate.factor is not None
    return rate.factor


def _depth_for(timing: ConstantRate | Timeline | Split) -> int:
    if isinstance(timing, ConstantRate) and timing.factor.denominator == 1:
        return default_depth(max(2, timing.factor.numerator))
    if isinstance(timing, Split):
        return default_depth(max(2, timing.multi))
    steps = math.ceil(timing.num_frames / timing.src_frames)
    return max(default_depth(max(2, steps)), MIN_UNEVEN_DEPTH)


# --------------------------------------------------------------------------------------------- source times


def source_times(
    clip: vs.VideoNode, timecodes: str | os.PathLike[str] | Sequence[Real] | None
) -> tuple[tuple[Fraction, ...], Fraction]:
    """Start time of every frame (seconds) and the end of the last one."""
    n = clip.num_frames
    if timecodes is not None:
        if isinstance(timecodes, (str, os.PathLike)):
            times = read_timecodes(timecodes, n)
        else:
            times = _times_from_sequence(timecodes)
        times = _usable_times(times)
        if len(times) not in (n, n + 1):
            raise TimingError(
                f"timecodes: has {len(times)} entries, the clip has {n} frames; give one start time "
                "per frame (and optionally the end of the last)"
            )
        for j, (a, b) in enumerate(pairwise(times)):
            if b <= a:
                raise TimingError(
                    f"timecodes: entry {j + 2} ({float(b):g} s) is not after entry {j + 1} "
                    f"({float(a):g} s); frame times must increase"
                )
        if len(times) == n + 1:  # the end of the last frame is given too
            return tuple(times[:n]), times[n]
        last = times[-1] - times[-2] if n > 1 else Fraction(1, 24)
        return tuple(times), times[-1] + last
    if clip.fps.numerator > 0:
        return tuple(Fraction(i) / clip.fps for i in range(n)), Fraction(n) / clip.fps
    return starts_from_durations([_duration(i, f.props) for i, f in enumerate(clip.frames(close=True))])


def _duration(i: int, props: vs.FrameProps) -> Fraction:
    num, den = props.get("_DurationNum"), props.get("_DurationDen")
    if num is None or den is None:
        raise TimingError(
            f"the clip has fps 0 (variable) but frame {i} carries no _DurationNum/_DurationDen; "
            "give timecodes=... (e.g. from BestSource's timecodes= option) or set a rate with std.AssumeFPS"
        )
    if not isinstance(num, int) or not isinstance(den, int) or num <= 0 or den <= 0:
        raise TimingError(
            f"frame {i} has a bad duration _DurationNum={num!r}/_DurationDen={den!r} (both must be "
            "positive integers); fix the source's frame props or give timecodes=..."
        )
    return Fraction(num, den)


def starts_from_durations(durations: Sequence[Fraction]) -> tuple[tuple[Fraction, ...], Fraction]:
    """Start times of frames with the given durations (first at 0), and the end of the last."""
    starts, now = [], Fraction(0)
    for d in durations:
        starts.append(now)
        now += d
    return tuple(starts), now


def _times_from_sequence(values: Sequence[Real]) -> list[Fraction]:
    times = []
    for j, v in enumerate(values):
        if isinstance(v, Rational) and not isinstance(v, bool):  # numpy integers too: made Python ints
            times.append(Fraction(int(v.numerator), int(v.denominator)))  # exact (bounded by _usable_times)
            continue
        try:
            ok = not isinstance(v, bool) and isinstance(v, Real) and math.isfinite(float(v))
        except (OverflowError, ValueError, TypeError):
            ok = False
        if not ok:
            raise TimingError(f"timecodes: entry {j} is {v!r}; give frame start times in seconds (numbers)")
        times.append(Fraction(str(float(v))))
    return times


MAX_TIME = 10**7
"""Seconds (about 115 days): no frame of a timecodes file starts later."""

TIME_DENOMINATOR = 10**9
"""Frame times are kept as fractions with denominators up to this (a nanosecond or finer): a float
such as 1/24 (0.041666666666666664) becomes 1/24 again instead of a fraction over 10**18, whose
split durations would not fit the 64-bit ``_DurationNum/_DurationDen``."""


def _usable_times(times: Sequence[Fraction]) -> list[Fraction]:
    for j, t in enumerate(times):
        if abs(t) > MAX_TIME:
            raise TimingError(
                f"timecodes: entry {j + 1} ({t:.3e} s) is more than {MAX_TIME:,} seconds; give frame start "
                "times in seconds in a list, or in milliseconds in a file"
            )
    return [t.limit_denominator(TIME_DENOMINATOR) for t in times]


INT64 = 2**63 - 1


def prop_fraction(x: Fraction) -> tuple[int, int]:
    """``x`` as a numerator and denominator that fit a 64-bit frame prop (the nearest such
    fraction where the exact one does not: off by less than a nanosecond)."""
    if abs(x.numerator) > INT64 or x.denominator > INT64:
        x = x.limit_denominator(2**31)
    return x.numerator, x.denominator


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def variable(starts: Sequence[Fraction], fps: Fraction) -> bool:
    """Whether frames starting at ``starts`` are not at the constant rate ``fps``: one of them is
    more than half a frame away from ``starts[0] + i / fps`` (a container's millisecond rounding is
    far less; a rate that drifts from the nominal one, or a section at another rate, is more).
    In floats: a 2-hour film's 172,646 frames in 0.1 s instead of 0.7 s exact."""
    if not starts:
        return False
    t = np.array([float(x - starts[0]) for x in starts])
    return bool(np.any(np.abs(t - np.arange(len(t)) / float(fps)) > 0.5 / float(fps)))


def read_timecodes(path: str | os.PathLike[str], frames: int) -> list[Fraction]:
    """Frame start times (seconds) from a Matroska timecodes file: v2 (one time in ms per line) or
    v1 (``Assume <fps>`` and ``first,last,fps`` ranges), UTF-8 with or without a BOM."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            text = f.read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TimingError(f"timecodes: {name} is not a text file (byte {e.start} is not UTF-8)") from None
    except OSError as e:
        raise TimingError(f"timecodes: cannot read {name}: {e.strerror or e}") from None
    lines = text.splitlines()
    header = next((ln.strip().lower() for ln in lines if ln.strip()), "")
    if header.startswith("# timecode format v1"):
        return _read_v1(name, lines, frames)
    if header.startswith("# timecode format") and "v2" not in header:
        raise TimingError(f"timecodes: {name}: unsupported format {header[2:]!r}; use v1 or v2 timecodes")
    times = []
    for no, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not _NUMBER.fullmatch(line):
            raise TimingError(f"timecodes: {name} line {no}: {line[:40]!r} is not a time in milliseconds")
        times.append(Fraction(line) / 1000)
    return times


def _read_v1(name: str, lines: list[str], frames: int) -> list[Fraction]:
    assume: Fraction | None = None
    rates: list[Fraction | None] = [None] * frames
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if line.lower().startswith("assume"):
                assume = Fraction(line.split(None, 1)[1].strip())
                continue
            first, last, fps = (part.strip() for part in line.split(","))
            lo, hi, rate = int(first), int(last), Fraction(fps)
        except (ValueError, IndexError, ZeroDivisionError):
            raise TimingError(
                f"timecodes: {name} line {no}: {line[:40]!r} is not 'Assume <fps>' or '<first>,<last>,<fps>'"
            ) from None
        if not 0 <= lo <= hi or rate <= 0:
            raise TimingError(f"timecodes: {name} line {no}: bad range or rate {line[:40]!r}")
        for i in range(lo, min(hi, frames - 1) + 1):
            rates[i] = rate
    if assume is None or assume <= 0:
        raise TimingError(f"timecodes: {name}: a v1 file needs an 'Assume <fps>' line with a positive rate")
    times, now = [], Fraction(0)
    for r in rates:
        times.append(now)
        now += 1 / (r or assume)
    return [*times, now]
