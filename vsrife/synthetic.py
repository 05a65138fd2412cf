"""Clips with known motion, made from real photographs (the ones bundled with scikit-image).

A camera window slides over a photograph with a constant sub-pixel velocity, so the true frame at
any time between two frames is known exactly: the window at the in-between position. Used by the
demo (``vsrife interpolate`` with no input) and by the quality tests.

:class:`Shot` generalises this for the scene-detection evaluation (``scripts/scene_eval.py``): a
camera that pans (with acceleration and hand-held shake), zooms and rotates over a photograph, an
object cut out of another photograph crossing the frame, motion blur (the average of sub-frame
instants over an exposure), a brightness fade, a dissolve to a second camera and a flash frame.
Everything is a smooth function of time, so :func:`render` gives the exact frame at any
fractional time ``t`` (frame ``k`` is ``t = k``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


def photo(name: str = "astronaut") -> np.ndarray:
    """A bundled photograph as float32 H x W x 3 in [0, 1]."""
    try:
        from skimage import data
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("the demo photographs need scikit-image: pip install 'vapoursynth-rife[cli]'") from e
    img = getattr(data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
        img = img[0]
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


# ------------------------------------------------------------------------------------ shots with exact ground truth

FLASH_KEEP = 0.3
"""A flash frame keeps this fraction of its distance to white (1 - (1 - v) * FLASH_KEEP)."""
BLUR_SAMPLES = 12
"""Instants averaged over the exposure of a motion-blurred frame."""
EDGE = 2.0
"""Image pixels kept between every sampled position and the photograph's edge."""


class PhotoLibrary:
    """Photographs as bicubic spline coefficients (3 x H x W), prepared once per name."""

    def __init__(self) -> None:
        self._coefficients: dict[str, np.ndarray] = {}

    def coefficients(self, name: str) -> np.ndarray:
        if name not in self._coefficients:
            from scipy import ndimage

            img = photo(name)
            self._coefficients[name] = np.stack(
                [ndimage.spline_filter(img[..., c], order=3, mode="mirror", output=np.float32) for c in range(3)]
            )
        return self._coefficients[name]

    def size(self, name: str) -> tuple[int, int]:
        """(width, height) of the photograph."""
        h, w = self.coefficients(name).shape[1:]
        return w, h


def _sample(coefficients: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    out = np.empty((3, *xs.shape), np.float32)
    for c in range(3):
        ndimage.map_coordinates(coefficients[c], [ys, xs], output=out[c], order=3, mode="mirror", prefilter=False)
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass(frozen=True)
class Camera:
    """A camera over a photograph. At time ``t`` (in frames) the screen centre shows image point
    :meth:`centre` (t); ``scale`` image pixels per screen pixel at ``t = 0``, divided by ``zoom``
    every frame (> 1 zooms in); the picture turns by ``spin`` radians per frame. The centre moves
    with velocity (vx, vy) and acceleration (ax, ay) in image pixels per frame (per frame squared),
    plus a hand-held ``shake``: sinusoids (amplitude in image pixels, radians per frame, phase x,
    phase y)."""

    image: str
    x: float = 0.0
    y: float = 0.0
    scale: float = 1.0
    vx: float = 0.0
    vy: float = 0.0
    ax: float = 0.0
    ay: float = 0.0
    zoom: float = 1.0
    spin: float = 0.0
    shake: tuple[tuple[float, float, float, float], ...] = ()

    def centre(self, t: float) -> tuple[float, float]:
        x = self.x + self.vx * t + 0.5 * self.ax * t * t
        y = self.y + self.vy * t + 0.5 * self.ay * t * t
        for amp, freq, px, py in self.shake:
            x += amp * math.sin(freq * t + px)
            y += amp * math.sin(freq * t + py)
        return x, y

    def _pose(self, t: float) -> tuple[float, float, float]:
        angle = self.spin * t
        return self.scale * self.zoom ** (-t), math.cos(angle), math.sin(angle)

    def to_image(
        self, t: float, sx: np.ndarray, sy: np.ndarray, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Image coordinates seen at screen coordinates (sx, sy) at time t."""
        s, c, n = self._pose(t)
        cx, cy = self.centre(t)
        u, v = sx - (width - 1) / 2, sy - (height - 1) / 2
        return cx + s * (c * u - n * v), cy + s * (n * u + c * v)

    def to_screen(
        self, t: float, ix: np.ndarray, iy: np.ndarray, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Screen coordinates where image point (ix, iy) appears at time t (inverse of :meth:`to_image`)."""
        s, c, n = self._pose(t)
        cx, cy = self.centre(t)
        dx, dy = (ix - cx) / s, (iy - cy) / s
        return (width - 1) / 2 + c * dx + n * dy, (height - 1) / 2 - n * dx + c * dy

    def magnified(self, f: float) -> Camera:
        """The same screen motion through a lens 1/f times longer (f < 1 shows a smaller area)."""
        return replace(
            self,
            scale=self.scale * f,
            vx=self.vx * f,
            vy=self.vy * f,
            ax=self.ax * f,
            ay=self.ay * f,
            shake=tuple((a * f, w, px, py) for a, w, px, py in self.shake),
        )

    def retimed(self, k: float) -> Camera:
        """The same path run k times faster: frame t shows what frame k * t showed (a 24 fps motion
        filmed at 12 fps is ``retimed(2)``)."""
        return replace(
            self,
            vx=self.vx * k,
            vy=self.vy * k,
            ax=self.ax * k * k,
            ay=self.ay * k * k,
            zoom=self.zoom**k,
            spin=self.spin * k,
            shake=tuple((a, w * k, px, py) for a, w, px, py in self.shake),
        )


@dataclass(frozen=True)
class Sprite:
    """An elliptical cut-out of a photograph (centre (sx, sy) in its image pixels, radii rx, ry
    in screen pixels, ``scale`` image pixels per screen pixel) moving across the screen: centre
    (x, y) at t = 0, velocity (vx, vy) in screen pixels per frame. Its edge is anti-aliased over
    about one pixel."""

    image: str
    sx: float
    sy: float
    rx: float
    ry: float
    x: float
    y: float
    vx: float
    vy: float
    scale: float = 1.0

    def position(self, t: float) -> tuple[float, float]:
        return self.x + self.vx * t, self.y + self.vy * t

    def retimed(self, k: float) -> Sprite:
        return replace(self, vx=self.vx * k, vy=self.vy * k)


@dataclass(frozen=True)
class Shot:
    """``frames`` frames seen through ``camera``, optionally with a ``sprite`` in front, a linear
    ``dissolve`` (cross-fade) to a second camera over the shot, a brightness ``gain`` going
    linearly from gain[0] at the first frame to gain[1] at the last, one ``flash`` frame (an
    instant, so in-between times never show it) and motion blur: each frame averages the instants
    of an exposure of ``shutter`` frame intervals centred on its time."""

    camera: Camera
    frames: int
    sprite: Sprite | None = None
    dissolve: Camera | None = None
    gain: tuple[float, float] = (1.0, 1.0)
    flash: int | None = None
    shutter: float = 0.0

    def cameras(self) -> tuple[Camera, ...]:
        return (self.camera,) if self.dissolve is None else (self.camera, self.dissolve)

    def progress(self, t: float) -> float:
        """0 at the first frame, 1 at the last."""
        return t / max(self.frames - 1, 1)

    def retimed(self, k: float) -> Shot:
        """Every motion k times faster (see :meth:`Camera.retimed`)."""
        return replace(
            self,
            camera=self.camera.retimed(k),
            dissolve=self.dissolve and self.dissolve.retimed(k),
            sprite=self.sprite and self.sprite.retimed(k),
        )

    def step(self, t: float, width: int, height: int) -> float:
        """Largest screen displacement (pixels) of any picture content between t and t + 1."""
        sy, sx = (g.ravel() for g in np.mgrid[0 : height - 1 : 9j, 0 : width - 1 : 9j])
        best = 0.0 if self.sprite is None else math.hypot(self.sprite.vx, self.sprite.vy)
        for cam in self.cameras():
            ox, oy = cam.to_screen(t + 1, *cam.to_image(t, sx, sy, width, height), width, height)
            best = max(best, float(np.hypot(ox - sx, oy - sy).max()))
        return best


def render(shot: Shot, t: float, width: int, height: int, library: PhotoLibrary) -> np.ndarray:
    """The frame of ``shot`` at time ``t`` (frames; fractional times are the exact in-betweens),
    3 x height x width float32 RGB in [0, 1]."""
    if shot.shutter > 0:
        offsets = ((np.arange(BLUR_SAMPLES) + 0.5) / BLUR_SAMPLES - 0.5) * shot.shutter
        out = np.mean([_instant(shot, t + float(o), width, height, library) for o in offsets], axis=0, dtype=np.float32)
    else:
        out = _instant(shot, t, width, height, library)
    if shot.flash is not None and t == shot.flash:
        out = 1.0 - (1.0 - out) * np.float32(FLASH_KEEP)
    return out


def _instant(shot: Shot, t: float, width: int, height: int, library: PhotoLibrary) -> np.ndarray:
    sy, sx = np.mgrid[0:height, 0:width].astype(np.float64)

    def view(cam: Camera) -> np.ndarray:
        return _sample(library.coefficients(cam.image), *cam.to_image(t, sx, sy, width, height))

    out = view(shot.camera)
    if shot.dissolve is not None:
        a = np.float32(min(max(shot.progress(t), 0.0), 1.0))
        out = out * (1 - a) + view(shot.dissolve) * a
    if shot.sprite is not None:
        _paste(out, shot.sprite, t, library)
    g0, g1 = shot.gain
    return out * np.float32(g0 + (g1 - g0) * shot.progress(t))


def _paste(out: np.ndarray, sp: Sprite, t: float, library: PhotoLibrary) -> None:
    """Composite the sprite at time t onto ``out`` (in place), only inside its bounding box."""
    px, py = sp.position(t)
    h, w = out.shape[1:]
    x0, x1 = max(int(px - sp.rx) - 1, 0), min(int(px + sp.rx) + 2, w)
    y0, y1 = max(int(py - sp.ry) - 1, 0), min(int(py + sp.ry) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dist = np.hypot((xx - px) / sp.rx, (yy - py) / sp.ry)
    alpha = np.clip((1.0 - dist) * min(sp.rx, sp.ry) + 0.5, 0.0, 1.0).astype(np.float32)
    patch = _sample(library.coefficients(sp.image), sp.sx + (xx - px) * sp.scale, sp.sy + (yy - py) * sp.scale)
    region = out[:, y0:y1, x0:x1]
    region += (patch - region) * alpha


def _footprint(cam: Camera, shot: Shot, width: int, height: int) -> tuple[float, float, float, float]:
    """Bounding box (min x, max x, min y, max y) of everything the camera shows during the shot
    (exposures included), relative to its centre at t = 0."""
    times = np.linspace(-shot.shutter / 2, shot.frames - 1 + shot.shutter / 2, 8 * shot.frames + 1)
    cx = np.array([0, width - 1, 0, width - 1], np.float64)
    cy = np.array([0, 0, height - 1, height - 1], np.float64)
    pts = [cam.to_image(float(t), cx, cy, width, height) for t in times]
    xs = np.concatenate([p[0] for p in pts]) - cam.x
    ys = np.concatenate([p[1] for p in pts]) - cam.y
    return float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())


def feasible_centres(
    cam: Camera, shot: Shot, width: int, height: int, library: PhotoLibrary
) -> tuple[float, float, float, float] | None:
    """The box (x lo, x hi, y lo, y hi) of start centres that keep the camera inside its
    photograph for the whole shot, or None if there is none."""
    iw, ih = library.size(cam.image)
    x0, x1, y0, y1 = _footprint(cam, shot, width, height)
    box = (EDGE - x0, iw - 1 - EDGE - x1, EDGE - y0, ih - 1 - EDGE - y1)
    return box if box[0] <= box[1] and box[2] <= box[3] else None


def place(
    shot: Shot,
    width: int,
    height: int,
    library: PhotoLibrary,
    rng: np.random.Generator,
    *,
    near: tuple[float, float] | None = None,
    away: tuple[float, float] | None = None,
    min_frames: int = 6,
) -> Shot:
    """``shot`` with its cameras' start centres chosen so that they never look past their
    photograph: the first camera nearest to ``near``, or at the corner of the feasible area
    farthest from ``away``, else at random (the dissolve camera always at random). Where no
    position fits, the shot is shortened down to ``min_frames``, then the camera magnified."""
    while True:
        found = [feasible_centres(cam, shot, width, height, library) for cam in shot.cameras()]
        boxes = [b for b in found if b is not None]
        if len(boxes) == len(found):
            break
        if shot.frames > min_frames:
            shot = replace(shot, frames=shot.frames - 1)
            continue
        cams = [c if b is not None else c.magnified(0.85) for c, b in zip(shot.cameras(), found)]
        shot = replace(shot, camera=cams[0], dissolve=cams[1] if len(cams) > 1 else None)
    centres = [_choose(b, rng, near if i == 0 else None, away if i == 0 else None) for i, b in enumerate(boxes)]
    cams = [replace(c, x=x, y=y) for c, (x, y) in zip(shot.cameras(), centres)]
    return replace(shot, camera=cams[0], dissolve=cams[1] if len(cams) > 1 else None)


def _choose(
    box: tuple[float, float, float, float],
    rng: np.random.Generator,
    near: tuple[float, float] | None,
    away: tuple[float, float] | None,
) -> tuple[float, float]:
    x0, x1, y0, y1 = box
    if near is not None:
        return min(max(near[0], x0), x1), min(max(near[1], y0), y1)
    if away is not None:
        return max(
            ((x, y) for x in (x0, x1) for y in (y0, y1)), key=lambda p: math.hypot(p[0] - away[0], p[1] - away[1])
        )
    return float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
