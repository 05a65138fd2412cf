"""What the driver reads from a source before splitting it: frame count, rate, and the scene cuts
near the nominal split points (decoded with BestSource, frame-accurate; only windows around the
split points are read, not the whole file)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..encode import CliError, factor_of
from . import chunks

WINDOW_SECONDS = 2
"""How far (in source seconds) a split point may move to a scene cut."""


@dataclass(frozen=True)
class Facts:
    frames: int
    """Source frames to interpolate (after ``--frames``)."""
    fps: Fraction
    factor: Fraction
    """Output frames per source frame."""
    chunks: tuple[chunks.Chunk, ...]
    cuts: dict[int, float]
    """Frames that start a new shot, among those looked at (near the nominal split points), with
    their scene metric."""
    depth: int
    """The bisection depth a midpoint-only model uses for the whole clip (passed to every chunk, so
    that a short chunk does not choose another)."""


def open_clip(path: Path) -> Any:
    """The source through BestSource; a variable-rate one is refused (chunks are cut at constant
    rate; ``vsrife interpolate`` without workers times it by its frames)."""
    import vapoursynth as vs

    from ..encode import source_clip

    core = vs.core
    if not hasattr(core, "bs"):
        raise CliError("reading video files needs BestSource: pip install vapoursynth-bestsource", 1)
    try:
        clip, times = source_clip(str(path))
    except vs.Error as e:
        raise CliError(f"{path}: BestSource cannot read it: {str(e).strip().splitlines()[-1]}") from None
    if times is not None or clip.fps.numerator == 0:
        raise CliError(
            f"{path}: variable frame rate: batch mode splits constant-rate sources only; run "
            "vsrife interpolate without --workers (it times the frames by the file's own timestamps)"
        )
    return clip


def analyse(path: Path, limit: int | None, rife: Mapping[str, Any], chunk_seconds: float, threshold: float) -> Facts:
    """Open ``path``, plan its chunks (scene cuts near each split point moved onto) and the
    bisection depth."""
    from ..timing import Rate, make_plan

    clip = open_clip(path)
    if limit:
        clip = clip[: min(limit, clip.num_frames)]
    n, fps = clip.num_frames, Fraction(clip.fps.numerator, clip.fps.denominator)
    factor = factor_of(rife, fps)
    length = max(2, round(chunk_seconds * fps))
    window = chunks.window_of(length, round(WINDOW_SECONDS * fps))
    nominal = chunks.nominal_starts(n, factor, length)
    cuts = find_cuts(clip, nominal, window, threshold)
    planned = chunks.plan(n, factor, length, cuts, window)
    depth = make_plan(clip, Rate(factor=factor), arbitrary_timestep=False).depth if n >= 2 else 1
    return Facts(n, fps, factor, tuple(planned), cuts, int(depth or 1))


def find_cuts(clip: Any, around: Sequence[int], window: int, threshold: float) -> dict[int, float]:
    """Frames ``c`` within ``window`` of the points ``around`` where pair (c - 1, c) scores above
    ``threshold`` on the filter's scene metric, with the score."""
    from ..scene import SCORE_PROP, pair_differences

    cuts: dict[int, float] = {}
    for b in around:
        lo, hi = max(0, b - window - 1), min(clip.num_frames - 1, b + window)
        if hi <= lo:
            continue
        scores = pair_differences(clip[lo : hi + 1])
        for i, f in enumerate(scores.frames(close=True)):
            score = float(f.props[SCORE_PROP])
            if lo + i < hi and score > threshold:
                cuts[lo + i + 1] = score
    return dict(sorted(cuts.items()))
