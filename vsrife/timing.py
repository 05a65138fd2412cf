"""Which instant each output frame shows, in exact rational arithmetic.

With a rate factor ``f = p / q`` (output fps / input fps), output frame ``k`` shows source time
``s = k * q / p`` (in source frames): source frame ``i = floor(s)`` when ``s`` is whole, otherwise
an interpolation between ``i`` and ``i + 1`` at ``t = s - i``. Timestamps are exact fractions, so
nothing drifts however long the clip. The output covers the same duration as the source: it has
``ceil(n * p / q)`` frames, every output instant before the source's end; instants after the last
source frame show that frame (there is nothing later to interpolate towards).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import ceil


@dataclass(frozen=True)
class Retime:
    factor: Fraction  # output rate / input rate, > 0
    src_frames: int

    def __post_init__(self) -> None:
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
