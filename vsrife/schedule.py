"""Which source frames are interpolated between, and when each output frame is shown.

Three cases, all producing an exact :mod:`vsrife.timing` mapping:

* constant-rate source: output frame ``k`` at source time ``k / factor`` (:class:`~vsrife.timing.Retime`);
* variable-rate source (fps 0, or ``timecodes`` given) with a target rate: timesteps follow the
  real timestamps (:class:`~vsrife.timing.Timeline`), output at a constant rate;
* ``held_frames``: frames identical to their predecessor (animation drawn on 2s/3s, stutters) are
  left out, and the distinct frames are interpolated across the real motion interval in one pass.

Reading variable frame durations or finding held frames needs every frame's properties or pixels
before the first frame is served: one pass over the clip (through a 128-pixel-wide luma copy for
held frames). Give ``timecodes`` to skip the pass for durations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import vapoursynth as vs

from .scene import luma_small
from .timing import Retime, Timeline, read_timecodes, starts_from_durations

HELD_THRESHOLD = 0.004
"""Mean absolute luma difference (0..1, on a copy at most 128 pixels wide) below which a frame
counts as a repeat of the previous one. Codec noise on a held anime frame measures about 0.001;
the slowest real pans measure well above 0.01."""

HELD_WIDTH = 128

MAX_HOLD = 4
"""A run of identical frames longer than this is a still shot, not a held drawing: all its frames
are kept, so stills do not turn into a slow morph."""


TIMECODE_SNAP = Fraction(1, 2000)
"""Half a millisecond: the rounding of timecode files."""


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    source: vs.VideoNode  # the frames interpolation runs between (all of them, or the distinct ones)
    retime: Retime | Timeline
    out_fps: Fraction  # output frame rate; 0: variable, each source frame's duration is split


def plan(
    clip: vs.VideoNode,
    factor: Fraction | None,
    target_fps: Fraction | None,
    timecodes: str | Sequence[float] | None = None,
    held_frames: bool = False,
    held_threshold: float = HELD_THRESHOLD,
) -> Schedule:
    n = clip.num_frames
    if timecodes is None and not held_frames and (clip.fps.numerator > 0 or target_fps is None):
        if target_fps is not None:
            return Schedule(clip, Retime(target_fps / clip.fps, n), target_fps)
        assert factor is not None
        return Schedule(clip, Retime(factor, n), clip.fps * factor)

    starts, end = source_times(clip, timecodes)
    snap = TIMECODE_SNAP if timecodes is not None else Fraction(0)
    if target_fps is not None:
        out_fps = target_fps
    else:
        assert factor is not None
        out_fps = factor * n / (end - starts[0])  # the average source rate times the factor
    if not held_frames:
        return Schedule(clip, Timeline(starts, end, out_fps, snap), out_fps)
    keys = distinct_frames(clip, held_threshold)
    source = clip.std.SelectEvery(cycle=max(2, n), offsets=keys, modify_duration=False) if len(keys) < n else clip
    if len(keys) < 2:
        raise ScheduleError("every frame of the clip repeats the first one; there is no motion to interpolate")
    return Schedule(source, Timeline(tuple(starts[k] for k in keys), end, out_fps, snap), out_fps)


def source_times(clip: vs.VideoNode, timecodes: str | Sequence[float] | None) -> tuple[tuple[Fraction, ...], Fraction]:
    """Start time of every frame (seconds) and the end of the last one."""
    n = clip.num_frames
    if timecodes is not None:
        times = read_timecodes(timecodes) if isinstance(timecodes, str) else [Fraction(t) for t in timecodes]
        if len(times) not in (n, n + 1):
            raise ScheduleError(f"timecodes has {len(times)} entries, the clip has {n} frames")
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ScheduleError("timecodes must increase strictly")
        if len(times) == n + 1:  # the end of the last frame is given too
            return tuple(times[:n]), times[n]
        last = times[-1] - times[-2] if n > 1 else Fraction(1, 24)
        return tuple(times), times[-1] + last
    if clip.fps.numerator > 0:
        return tuple(Fraction(i) / clip.fps for i in range(n)), Fraction(n) / clip.fps
    durations = []
    for i, f in enumerate(clip.frames(close=True)):
        props = f.props
        if "_DurationNum" not in props or int(props["_DurationNum"]) <= 0:
            raise ScheduleError(
                f"the clip has fps 0 (variable) but frame {i} carries no _DurationNum/_DurationDen; "
                "give timecodes=... (e.g. from BestSource's timecodes= option) or set a rate with std.AssumeFPS"
            )
        durations.append(Fraction(int(props["_DurationNum"]), int(props["_DurationDen"])))
    return starts_from_durations(durations)


def distinct_frames(clip: vs.VideoNode, threshold: float = HELD_THRESHOLD, max_hold: int = MAX_HOLD) -> list[int]:
    """Indices of the frames that are not repeats of the frame before (see module docs)."""
    small = luma_small(clip, HELD_WIDTH)
    diffs = small.std.PlaneStats(small[0] + small[:-1]) if clip.num_frames > 1 else small.std.PlaneStats()
    same = [i > 0 and float(f.props["PlaneStatsDiff"]) < threshold for i, f in enumerate(diffs.frames(close=True))]
    keys: list[int] = []
    i = 0
    while i < len(same):
        j = i + 1
        while j < len(same) and same[j]:
            j += 1
        run = j - i  # frame i and the j - i - 1 frames repeating it
        keys.extend([i] if run <= max_hold else range(i, j))
        i = j
    return keys
