"""Which instant each output frame shows, in exact rational arithmetic.

With a rate factor ``f = p / q`` (output fps / input fps), output frame ``k`` shows source time
``s = k * q / p`` (in source frames): source frame ``i = floor(s)`` when ``s`` is whole, otherwise
an interpolation between ``i`` and ``i + 1`` at ``t = s - i``. Timestamps are exact fractions, so
nothing drifts however long the clip. The output covers the same duration as the source: it has
``ceil(n * p / q)`` frames, every output instant before the source's end; instants after the last
source frame show that frame (there is nothing later to interpolate towards).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from math import ceil


@dataclass(frozen=True)
class Retime:
    factor: Fraction  # output rate / input rate, > 0
    src_frames: int

    def __post_init__(self) -> None:
        # Exact arithmetic only: an int is taken as a Fraction; a float (already rounded, and it
        # would turn every position into a float) is refused.
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, Fraction)):
            raise TypeError(f"factor must be an int or a Fraction, got {type(self.factor).__name__}")
        object.__setattr__(self, "factor", Fraction(self.factor))
        if isinstance(self.src_frames, bool) or not isinstance(self.src_frames, int):
            raise TypeError(f"src_frames must be an int, got {type(self.src_frames).__name__}")
        if self.factor <= 0:
            raise ValueError("factor must be positive")
        if self.src_frames < 1:
            raise ValueError("need at least one source frame")

    @property
    def num_frames(self) -> int:
        return ceil(self.src_frames * self.factor)

    def position(self, k: int) -> tuple[int, Fraction]:
        """(source frame i, timestep t in [0, 1)) shown by output frame ``k``; t is 0 past the end."""
        s = Fraction(k) / self.factor
        i = s.numerator // s.denominator
        if i >= self.src_frames - 1:
            return self.src_frames - 1, Fraction(0)
        return i, s - i

    def select_every(self) -> tuple[int, list[int]]:
        """``(cycle, offsets)`` for ``std.SelectEvery`` so that output frame k gets source frame
        ``floor(k / factor)``: the pattern repeats every ``p`` output frames / ``q`` source frames."""
        p, q = self.factor.numerator, self.factor.denominator
        if q == 1:  # SelectEvery needs a cycle of at least 2: the same pattern over two source frames
            p, q = 2 * p, 2
        return q, [r * q // p for r in range(p)]


@dataclass(frozen=True)
class Timeline:
    """Constant-rate output over source frames with known start times (variable frame rate,
    or only the distinct frames of a clip with held frames).

    Output frame ``k`` shows time ``starts[0] + k / fps`` (seconds). It falls in source frame
    ``i`` (the last one starting at or before it) at fraction ``t = (time - starts[i]) /
    (starts[i + 1] - starts[i])`` of the interval to the next one: timesteps follow real time,
    however uneven the source. The output ends where the source does (``end``).
    """

    starts: tuple[Fraction, ...]
    end: Fraction
    fps: Fraction
    snap: Fraction = Fraction(0)
    """Output instants this close to a source frame show that frame: timecode files round to
    milliseconds, and an instant 1 us before a frame must not become an interpolation at t = 0.99999."""

    def __post_init__(self) -> None:
        if len(self.starts) < 1 or self.fps <= 0:
            raise ValueError("need at least one source frame and a positive output rate")
        if any(b <= a for a, b in zip(self.starts, self.starts[1:])) or self.end <= self.starts[-1]:
            raise ValueError("source frame times must increase strictly")

    @property
    def src_frames(self) -> int:
        return len(self.starts)

    @property
    def num_frames(self) -> int:
        return ceil((self.end - self.starts[0]) * self.fps)

    def position(self, k: int) -> tuple[int, Fraction]:
        time = self.starts[0] + Fraction(k) / self.fps
        i = max(0, bisect_right(self.starts, time + self.snap) - 1)
        if i >= len(self.starts) - 1 or abs(time - self.starts[i]) <= self.snap:
            return i, Fraction(0)
        return i, (time - self.starts[i]) / (self.starts[i + 1] - self.starts[i])

    def select_every(self) -> tuple[int, list[int]]:
        """``(cycle, offsets)`` for ``std.SelectEvery``: one cycle spanning the whole source."""
        n = max(2, len(self.starts))  # SelectEvery needs a cycle of at least 2
        return n, [self.position(k)[0] for k in range(self.num_frames)]


def starts_from_durations(durations: list[Fraction]) -> tuple[tuple[Fraction, ...], Fraction]:
    """Start times of frames with the given durations (first at 0), and the end of the last."""
    starts, now = [], Fraction(0)
    for d in durations:
        starts.append(now)
        now += d
    return tuple(starts), now


def read_timecodes(path: str) -> list[Fraction]:
    """Frame start times (seconds) from a Matroska v2 timecodes file (one time in ms per line)."""
    times = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                times.append(Fraction(line) / 1000)
    return times
