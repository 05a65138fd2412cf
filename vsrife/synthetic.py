"""Clips with known motion, made from real photographs (the ones bundled with scikit-image).

A camera window slides over a photograph with a constant sub-pixel velocity, so the true frame at
any time between two frames is known exactly: the window at the in-between position. Used by the
demo (``vsrife interpolate`` with no input) and by the quality tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def photo(name: str = "astronaut") -> np.ndarray:
    """A bundled photograph as float32 H x W x 3 in [0, 1]."""
    try:
        from skimage import data
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("the demo photographs need scikit-image: pip install 'vapoursynth-rife[cli]'") from e
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return (img[..., :3].astype(np.float32) / 255.0).copy()


def window(img: np.ndarray, x: float, y: float, width: int, height: int) -> np.ndarray:
    """The ``width`` x ``height`` window of ``img`` whose top-left corner is at (x, y), sampled with
    bicubic interpolation for fractional positions. Returns 3 x H x W float32 planes."""
    from scipy import ndimage

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.empty((3, height, width), np.float32)
    for c in range(3):
        out[c] = ndimage.map_coordinates(img[..., c], [yy + y, xx + x], order=3, mode="reflect")
    return np.clip(out, 0.0, 1.0)


@dataclass(frozen=True)
class Pan:
    """A shot: ``frames`` frames of ``image`` seen through a window moving by (dx, dy) per frame."""

    image: str
    frames: int
    x0: float
    y0: float
    dx: float
    dy: float

    def at(self, img: np.ndarray, t: float, width: int, height: int) -> np.ndarray:
        return window(img, self.x0 + self.dx * t, self.y0 + self.dy * t, width, height)


DEMO_SHOTS: tuple[Pan, ...] = (
    Pan("astronaut", 24, 8.0, 40.0, 2.35, 0.85),
    Pan("coffee", 12, 20.0, 30.0, -1.7, 1.15),
)


def demo_frames(width: int = 448, height: int = 256, shots: Sequence[Pan] = DEMO_SHOTS) -> list[np.ndarray]:
    """All frames of the demo: a slow pan over one photograph, a hard cut, a pan over another."""
    frames = []
    for shot in shots:
        img = photo(shot.image)
        frames += [shot.at(img, n, width, height) for n in range(shot.frames)]
    return frames


def clip_from_frames(frames: Sequence[np.ndarray], fpsnum: int = 24000, fpsden: int = 1001):
    """A constant-rate RGBS clip holding ``frames`` (each 3 x H x W float32)."""
    import vapoursynth as vs

    _, h, w = frames[0].shape
    blank = vs.core.std.BlankClip(format=vs.RGBS, width=w, height=h, length=len(frames), fpsnum=fpsnum, fpsden=fpsden)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), frames[n][p])
        return out

    return blank.std.ModifyFrame(blank, fill)
