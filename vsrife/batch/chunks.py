"""Where a video may be split so that the parts give exactly the frames of the whole run.

Output frame ``k`` shows source time ``k / f`` (:class:`vsrife.timing.ConstantRate`). A chunk that
starts at source frame ``s`` gives the frames of the whole run when ``s * f`` is an integer: its own
output frame ``j`` is then global frame ``s * f + j``, at the same instant between the same two
source frames. With ``f = p / q`` in lowest terms, that is every multiple of ``q``. Each chunk
reads one source frame past its end (the in-betweens across its end need it) and keeps
``(end - start) * f`` frames; only the last one has the held tail (``ceil(n * f)`` frames in all).

Chunks are about ``length`` source frames long. Near each nominal split point, the clearest scene
cut (a frame that starts a new shot) within ``window`` frames moves the split onto it (or onto the first aligned
frame at most :data:`CUT_SLACK` frames after it): the encoder puts a key frame at every chunk start,
and a shot starts with one anyway. Pure functions, no VapourSynth.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

CUT_SLACK = 2
"""A split may land at most this many frames after the cut it follows (when the cut itself is not
an aligned frame)."""


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int
    """First source frame."""
    end: int
    """The next chunk's first source frame (the clip's length for the last chunk)."""
    out_start: int
    out_end: int
    """Output frames ``out_start`` to ``out_end - 1`` of the whole run."""
    final: bool

    @property
    def stop(self) -> int:
        """One past the last source frame the chunk reads (one frame of overlap but at the end)."""
        return self.end if self.final else self.end + 1

    @property
    def frames(self) -> int:
        return self.out_end - self.out_start


def aligned(frame: int, factor: Fraction) -> bool:
    """Whether a chunk may start at ``frame`` (its output instant is an output frame)."""
    return (frame * factor).denominator == 1


def nominal_starts(frames: int, factor: Fraction, length: int) -> list[int]:
    """Evenly spaced aligned split points, about ``length`` frames apart (none for a short clip)."""
    q = factor.denominator
    count = max(1, round(frames / max(length, 1)))
    starts: list[int] = []
    for i in range(1, count):
        s = round(Fraction(i * frames, count * q)) * q
        if (not starts or s > starts[-1]) and 0 < s <= frames - 2:
            starts.append(s)
    return starts


def window_of(length: int, seconds_cap: int) -> int:
    """How far (frames) a split may move towards a scene cut: a quarter of a chunk, at most
    ``seconds_cap`` frames."""
    return max(0, min(length // 4, seconds_cap))


Cuts = Mapping[int, float] | Sequence[int]
"""Frames that start a new shot, with the scene metric of the cut where known (higher: clearer)."""


def snap_to_cuts(nominal: Sequence[int], cuts: Cuts, window: int, factor: Fraction, frames: int) -> list[int]:
    """The split points: each nominal one moved to the clearest cut within ``window`` frames (the
    nearest of equally clear ones) where an aligned frame follows that cut closely enough, kept
    increasing and inside the clip."""
    q = factor.denominator
    scores = dict(cuts) if isinstance(cuts, Mapping) else dict.fromkeys(cuts, 1.0)
    out: list[int] = []
    for b in nominal:
        best = b
        near = sorted((-score, abs(c - b), c) for c, score in scores.items() if abs(c - b) <= window)
        for _, _, c in near:
            s = math.ceil(c / q) * q
            if s - c <= CUT_SLACK:
                best = s
                break
        lowest = out[-1] + q if out else q
        if lowest <= best <= frames - 2:
            out.append(best)
        elif lowest <= b <= frames - 2:
            out.append(b)
    return out


def make_chunks(frames: int, factor: Fraction, starts: Sequence[int]) -> list[Chunk]:
    """The chunks that split ``frames`` source frames at ``starts`` (aligned, increasing)."""
    factor = Fraction(factor)
    bounds = [0, *starts, frames]
    for s in starts:
        if not aligned(s, factor):
            raise ValueError(f"a chunk cannot start at frame {s}: {s} x {factor} is not a whole output frame")
    if any(b <= a for a, b in itertools.pairwise(bounds)) or frames - bounds[-2] < 2:
        raise ValueError("split points must increase, and the last chunk needs 2 frames")
    total = math.ceil(frames * factor)
    chunks = []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        final = i == len(bounds) - 2
        out_end = total if final else int(b * factor)
        chunks.append(Chunk(i, a, b, int(a * factor), out_end, final))
    return chunks


def plan(frames: int, factor: Fraction, length: int, cuts: Cuts = (), window: int = 0) -> list[Chunk]:
    """Chunks of about ``length`` source frames, split at ``cuts`` where one is near."""
    factor = Fraction(factor)
    starts = snap_to_cuts(nominal_starts(frames, factor, length), cuts, window, factor, frames)
    return make_chunks(frames, factor, starts)
