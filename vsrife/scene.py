"""Content analysis with nothing but the core and numpy: scene cuts and held frames.

**Scene cuts** are decided in two stages (the filter, :class:`CutRule`; :func:`scene_changes` exposes
the first stage alone).

1. A cheap metric on every pair (:func:`pair_differences`, about 2 ms): motion-compensated block
   matching on luma shrunk to at most 128 pixels wide (values 0..1), without the flat bars both
   frames share (letterboxing, pillarboxing: they match whatever the picture does, and bars over
   half the frame halved a cut's score). The second frame's brightness
   is matched to the first's by a gain (clamped to 1/1.5 .. 1.5, so fades cost nothing but a cut to
   or from black still counts). Every 8 x 8 block of one frame is searched in the other, coarse to
   fine (a full search of +-4 pixels on a half-size copy, then +-1 pixel at full size); a position
   costs the distance of each pixel outside the *range* of the 2 x 2 pixels of the other frame it
   lands on, so any sub-pixel shift of the same content costs almost nothing. The score is the
   mean best cost over the inner blocks, averaged over both directions. Pairs above half the
   threshold (``sc_threshold``, default 0.012) are candidates.
2. The network's own evidence, from the run that draws the pair's first in-between frame (no extra
   network run where the pair is interpolated): both frames warped to the instant are compared,
   pixel by pixel against the 3 x 3 range of the other (brightness matched), on a grid of about 8
   rows of blocks. A candidate is a cut when even the best-aligned quarter of the blocks disagrees
   on more than 8 % of its pixels (:data:`BLOCK_CUT`). Fast motion the network cannot follow fails
   where something moves; a cut fails everywhere. Blocks made mostly of flat pixels that agree
   (black bars, a clear sky) are left out of the quarter: they agree whatever the pair is. For
   RIFE 4.25 (``ModelSpec.tenth_cut``) a candidate is also a cut when even the best-aligned tenth of
   the blocks disagrees on more than 0.6 % of its pixels (:data:`TENTH_CUT`): near-identical
   pictures the network half explains; the quarter test then also needs the mean disagreement
   (:data:`TOLERANT_CUT`), which a letterboxed fast pan does not reach.
3. A jump in scale (:func:`jump_evidence`, every pair stage 1 scores above :data:`ZOOM_GATE`, no
   network): a cut from a wide shot to a
   close-up of it, or back, is half followed by the network, so stage 2 calls it explained, and
   over smooth pictures stage 1 scores it below its candidates. The centre of each frame, shrunk
   by 1 to 2.6, is looked for in the other; a scale of :data:`ZOOM_FAR` or more that explains the
   pair far better than the scales of motion is a cut (:func:`zoom_cut`).
4. A break in the picture's motion (:func:`motion_break`, every pair searched in scale, no network):
   the best motion of the whole picture (the scale test's ``near``) explains the pair far worse than
   it explains the pairs before and after it that move (repeats say nothing). Two views of one
   texture are explained block by block (stage 2 calls them explained) but not as a whole.

Cheap metrics cannot tell fast motion from a cut: on ``scripts/scene_eval.py``'s shots (pans up to
10 % of the width per frame, objects entering fast, zooms, rotations, motion blur, 10-15 fps
motion, fades, dissolves) the first stage alone at its threshold cut 47 of 504 in-shot pairs (seed 1;
55 since the bars are cropped off, which raises frames with flat edges);
MVTools' SCDetection cut 9 (all fades) and scxvid missed 9 of 60 cuts. Calibrated on seeds 1-2 and
the three real clips (full and half rate) with RIFE 4.25 and HDv3 (130 cuts, 1550 in-shot pairs):
the in-shot pairs score at most 0.02 (4.25) / 0.03 (HDv3, a dissolve) on the second stage, every
real cut at least 0.56; no in-shot pair is cut, and 6 of 130 cuts are missed, all between nearly
identical pictures (brick to brick, a wide shot to a close-up of the same sky, two regions of one
star field), where a morph looks like the pictures themselves. A flash frame is cut. The README
has the table for the held-out seeds. Letterboxed clips were added on 2026-12-02 (black bars had
hidden every cut): the rule now leaves flat blocks out and cuts above 0.08 (see :data:`BLOCK_CUT`).

**Held frames** (:func:`distinct_frames`): frames whose mean absolute luma difference to the previous
one is below a threshold are repeats (animation drawn on twos or threes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import vapoursynth as vs
from numpy.lib.stride_tricks import sliding_window_view

from .formats import plain_range, read_colour, without_colour_props

SCORE_PROP = "RifeSceneDiff"
"""The prop :func:`pair_differences` stores the metric in."""

ZOOM_PROP = "RifeSceneZoom"
"""The prop :func:`pair_differences` stores :func:`zoom_evidence` in."""

CHANGE_PROP = "RifeSceneChange"
"""The prop :func:`pair_differences` stores :func:`change` in (the filter's decisions read it; it is
not copied to the output)."""

DEFAULT_THRESHOLD = 0.012
"""Motion-compensated luma difference (mean excess per pixel, 0..1, see above) of the first stage.
Pairs above half of it are checked by the network; :func:`scene_changes` cuts above it."""

CANDIDATE = 0.5
"""Pairs whose first-stage score exceeds this fraction of the threshold are checked by the network."""

BLOCK_CUT = 0.08
"""A checked pair is a cut when, with both frames warped by the network to the instant, even the
best-aligned quarter of the frame's blocks (those with something to align) disagrees on more than
this share of its pixels (``block25`` of :func:`vsrife.backends.graph.evidence`). Measured with RIFE 4.25
on every candidate pair of seeds 1-5 and the real clips at full and half rate, each also with black
bars of a third of the frame: real fast motion scores up to 0.063 (bikes at half rate, letterboxed;
0.025 without bars), synthetic motion up to 0.018, real cuts at least 0.57; 13 of 298 synthetic cuts
(near-identical pictures) score below, 12 at 0.04."""

TENTH_CUT = 0.006
"""For the models measured with it (``ModelSpec.tenth_cut``), a checked pair is also a cut when even
the best-aligned tenth of the blocks disagrees on more than this share (``block10``): a cut between near-identical pictures (two regions of one photograph, a wide shot and
a close-up of it) leaves a few pixels wrong in every block, which fast motion does not. Measured
2026-12-04 with RIFE 4.25 on every pair of seeds 1-5 and the eight real clips at full and half rate
(3,428 real motion pairs), and on every candidate pair of both with black bars of a third of the
height above and below: motion scores at most 0.0022 (real), 0.0017 (synthetic), 0.0037 (with
bars); real cuts at least 0.2. Either test alone misses cuts the other catches: on clips with added
noise (sigma 4/255) flat areas stop being flat, their blocks align, and ``block10`` drops to 0 on
three of Megamind's real cuts, which ``block25`` still cuts."""

TOLERANT_CUT = 0.05
"""Where the tenth test applies, the quarter test (:data:`BLOCK_CUT`) cuts only a pair whose mean
disagreement beyond the 3 x 3 range (``tolerant``, over the whole frame, bars included) is also
above this. With the tenth test, what the quarter test alone still catches are cuts hidden by noise
(Megamind with noise of sigma 4/255: ``tolerant`` 0.10-0.11; letterboxed as well, 0.058-0.063; every
clean real cut: at least 0.08), while one letterboxed fast pan (bikes at half rate with bars of a
third of the height, 2026-12-04) has a quarter of 0.157 and a ``tolerant`` of 0.039: fast motion
fails where it moves, and with the bars left out few blocks remain, but on average most of the
frame aligns. Measured on every set (seeds 1-5, the real clips, each with bars, with noise, and
Megamind, bikes and tree with both): no cut that the quarter test alone caught is lost."""

_TOLERANT, _BLOCK10, _BLOCK25 = 2, 3, 4
"""Where ``tolerant``, ``block10`` and ``block25`` sit in the evidence (``vsrife.backends.EVIDENCE``;
this module stays free of PyTorch, a test checks that they agree)."""

FLAT = 0.02
"""A row or column whose range (0..1) is below this in both frames, at one level, is a bar."""

METRIC_WIDTH = 128
MIN_SIZE = 16  # one 8 x 8 block at full size and one 4 x 4 block at half size, with room to spare
BLOCK = 8
SEARCH = 4  # full search radius on the half-size copy (pixels of that copy)
MAX_GAIN = 1.5


def _range_in(clip: vs.VideoNode) -> dict[str, int]:
    """zimg's ``range_in`` for an RGB or GRAY clip, as the network's input is read with."""
    full = plain_range(clip, clip.get_frame(0).props, warn=False) if clip.format.sample_type == vs.INTEGER else None
    return {} if full is None else {"range_in": int(full)}


def luma_small(clip: vs.VideoNode, width: int, min_size: int = 1) -> vs.VideoNode:
    """Luma as GRAYS, shrunk to at most ``width`` pixels wide (aspect kept); frames smaller than
    ``min_size`` in either dimension are stretched to it."""
    w = min(clip.width, width)
    h = max(round(clip.height * w / clip.width), 1)
    w, h = max(w, min_size), max(h, min_size)
    # the range read (and checked) once, the frames' colour props dropped: a nonsense _Matrix or
    # _Range on some frame (or a YUV _Matrix on RGB frames) is not looked at
    kw: dict[str, Any]
    if clip.format.color_family == vs.YUV:  # the luma plane itself
        kw = {"range_in": int(read_colour(clip, clip.get_frame(0).props, warn=False).full_range)}
        clip = clip.std.ShufflePlanes(0, vs.GRAY)
    else:
        kw = {**_range_in(clip)}
        if clip.format.color_family == vs.RGB:
            kw["matrix_s"] = "709"
    return without_colour_props(clip).resize.Bilinear(w, h, format=vs.GRAYS, **kw)


def _ranges(b: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre and half-width of the min..max range of every 2 x 2 cell of ``b`` padded by ``pad``
    (edge replicated); cell (i, j) covers padded rows i, i+1 and columns j, j+1."""
    p = np.pad(b, pad, mode="edge")
    lo = np.minimum(p[:-1], p[1:])
    hi = np.maximum(p[:-1], p[1:])
    lo = np.minimum(lo[:, :-1], lo[:, 1:])
    hi = np.maximum(hi[:, :-1], hi[:, 1:])
    return (lo + hi) * 0.5, (hi - lo) * 0.5


def _excess(a: np.ndarray, mid: np.ndarray, rad: np.ndarray) -> np.ndarray:
    """Distance of ``a`` outside the ranges (broadcasting)."""
    d = np.subtract(a, mid)
    np.abs(d, out=d)
    d -= rad
    return np.maximum(d, 0, out=d)


def _block_sums(d: np.ndarray, bs: int) -> np.ndarray:
    """Sums of bs x bs blocks over the last two axes (strided adds: much faster than a reshape-sum
    over a short axis)."""
    c = d[..., 0::bs].copy()
    for i in range(1, bs):
        c += d[..., i::bs]
    r = c[..., 0::bs, :].copy()
    for i in range(1, bs):
        r += c[..., i::bs, :]
    return r


def _half(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    return (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) * 0.25


def _block_costs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Best matching cost (mean excess per pixel) of every BLOCK x BLOCK block of ``a`` in ``b``."""
    bs, cs, r = BLOCK, BLOCK // 2, SEARCH
    hb, wb = a.shape[0] // bs, a.shape[1] // bs
    # coarse: full search of cs x cs blocks on the half-size copies, cells -r-1 .. r-1
    ac, bc = _half(a)[: hb * cs, : wb * cs], _half(b)
    n = 2 * r + 1
    mid, rad = _ranges(bc, r + 1)
    H, W = ac.shape
    vm = sliding_window_view(mid[: H + n - 1, : W + n - 1], (H, W))
    vr = sliding_window_view(rad[: H + n - 1, : W + n - 1], (H, W))
    k = _block_sums(_excess(ac, vm, vr), cs).reshape(n * n, hb, wb).argmin(0)
    vy, vx = k // n - r - 1, k % n - r - 1  # coarse cell; covers full-size shifts 2v .. 2v+2
    # fine: cells 2v-1 .. 2v+1 at full size
    pad = 2 * r + 3
    mid, rad = _ranges(b, pad)
    wm = sliding_window_view(mid, (bs, bs))
    wr = sliding_window_view(rad, (bs, bs))
    d = np.arange(-1, 2)
    ys = (pad + np.arange(hb)[:, None] * bs + 2 * vy)[..., None, None] + d[:, None]
    xs = (pad + np.arange(wb)[None, :] * bs + 2 * vx)[..., None, None] + d[None, :]
    ab = a[: hb * bs, : wb * bs].reshape(hb, bs, wb, bs).transpose(0, 2, 1, 3)[:, :, None, None]
    cost = _excess(ab, wm[ys, xs], wr[ys, xs]).reshape(hb, wb, d.size * d.size, bs * bs).sum(-1)
    return cost.min(-1) / (bs * bs)


def _frame_score(costs: np.ndarray) -> float:
    inner = costs[1:-1, 1:-1]
    return float((inner if inner.size else costs).mean())


def _bars(a: np.ndarray, b: np.ndarray, axis: int) -> tuple[int, int]:
    """How many lines at the start and at the end of ``axis`` (0: rows) are the same flat bar in
    both frames: each line's range below :data:`FLAT` in both, at the same level."""
    lo = np.minimum(a.min(axis=1 - axis), b.min(axis=1 - axis))
    hi = np.maximum(a.max(axis=1 - axis), b.max(axis=1 - axis))
    bar = hi - lo < FLAT
    n = bar.size
    start = n if bar.all() else int(np.argmin(bar))
    end = n if bar.all() else int(np.argmin(bar[::-1]))
    return start, end


def _picture(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both frames without the black (or any flat) bars they share: letterboxing, pillarboxing.
    Bars match whatever the picture does, so averaged in they dilute a cut's score (bars over half
    the frame halve it). Kept whole when less than :data:`MIN_SIZE` would remain."""
    top, bottom = _bars(a, b, 0)
    left, right = _bars(a, b, 1)
    h, w = a.shape
    if h - top - bottom < MIN_SIZE or w - left - right < MIN_SIZE or not (top or bottom or left or right):
        return a, b
    return a[top : h - bottom, left : w - right], b[top : h - bottom, left : w - right]


def pair_metric(a: np.ndarray, b: np.ndarray) -> float:
    """The scene metric between two luma planes (2-D float arrays of the same shape, at least
    16 x 16; meant for the shrunk copies that :func:`pair_differences` makes)."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    a, b = _picture(a, b)
    ma, mb = float(a.mean()), float(b.mean())
    if ma > 1e-6 and mb > 1e-6:
        b = b * np.float32(min(max(ma / mb, 1 / MAX_GAIN), MAX_GAIN))
    return 0.5 * (_frame_score(_block_costs(a, b)) + _frame_score(_block_costs(b, a)))


@dataclass(frozen=True)
class CutRule:
    """The scene-cut decision: the cheap metric flags candidates, the network's evidence decides."""

    detect: bool
    """Run the detector at all (cuts already marked in frame props are honoured regardless)."""
    threshold: float = DEFAULT_THRESHOLD
    tenth: bool = False
    """Also cut when the best-aligned tenth of the blocks disagrees (:data:`TENTH_CUT`): for models
    measured with it (``ModelSpec.tenth_cut``)."""

    def candidate(self, score: float) -> bool:
        return self.detect and score > self.threshold * CANDIDATE

    def confirm(self, evidence: Sequence[float] | np.ndarray | Any) -> bool:
        """Whether the network failed to explain the pair (see :func:`vsrife.backends.graph.evidence`)."""
        values = [float(v) for v in np.asarray(evidence, dtype=np.float64).ravel()]
        quarter = values[_BLOCK25] > BLOCK_CUT
        if not self.tenth:
            return quarter
        return values[_BLOCK10] > TENTH_CUT or (quarter and values[_TOLERANT] > TOLERANT_CUT)


def pair_differences(clip: vs.VideoNode, zoom: bool = False) -> vs.VideoNode:
    """A clip whose frame n carries ``RifeSceneDiff`` = the scene metric between frames n and
    n+1 (0 for the last frame), and with ``zoom`` also ``RifeSceneZoom`` = :func:`zoom_evidence`
    through :func:`jump_evidence` (:data:`NO_JUMP` for the last frame) and ``RifeSceneChange`` =
    :func:`change` (0 for the last frame). Its frames are small GRAYS luma copies; only the props
    matter."""
    small = luma_small(clip, METRIC_WIDTH, MIN_SIZE)
    last = clip.num_frames - 1
    following = small[1:] + small[-1] if clip.num_frames > 1 else small

    def measure(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        a, b = np.asarray(f[0][0]), np.asarray(f[1][0])
        out = f[0].copy()
        out.props[SCORE_PROP] = pair_metric(a, b) if n < last else 0.0
        if zoom:
            out.props[ZOOM_PROP] = list(jump_evidence(a, b, out.props[SCORE_PROP]) if n < last else NO_JUMP)
            out.props[CHANGE_PROP] = change(a, b) if n < last else 0.0
        return out

    return small.std.ModifyFrame([small, following], measure)


def scene_changes(clip: vs.VideoNode, threshold: float = DEFAULT_THRESHOLD) -> vs.VideoNode:
    """Set ``_SceneChangeNext`` / ``_SceneChangePrev`` (0/1) on every frame of ``clip``.

    Frame n gets ``_SceneChangeNext = 1`` when the difference to n+1 exceeds ``threshold``, and
    frame n+1 gets ``_SceneChangePrev = 1``. The measured difference is kept as ``SceneDiffNext``.
    """
    if not isinstance(clip, vs.VideoNode):
        raise vs.Error("scene_changes: clip must be a video clip")
    if clip.format is None or clip.width == 0 or clip.height == 0:
        raise vs.Error("scene_changes: clips of variable format or size are not supported; resize first")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise vs.Error(f"scene_changes: threshold must be in (0, 1], got {threshold!r}")
    diffs = pair_differences(clip)
    previous = diffs[0] + diffs[:-1] if clip.num_frames > 1 else diffs
    last = clip.num_frames - 1

    def mark(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        nxt = float(f[1].props[SCORE_PROP]) if n < last else 0.0
        prv = float(f[2].props[SCORE_PROP]) if n > 0 else 0.0
        out.props["_SceneChangeNext"] = int(nxt > threshold)
        out.props["_SceneChangePrev"] = int(prv > threshold)
        out.props["SceneDiffNext"] = nxt
        return out

    return clip.std.ModifyFrame([clip, diffs, previous], mark)


# --------------------------------------------------------------------------------------------- jumps in scale

ZOOM_STEPS = tuple(2.6 ** (k / 10) for k in range(11))
"""The scales :func:`zoom_evidence` tries: 1 to 2.6 in steps of about 10 %."""

ZOOM_NEAR = 1.25
"""Scales up to this explain a pair as motion: the evaluation's fastest zooms are 1.16 per frame, and
a zoom of 1.25 moves the frame's edges by an eighth of its width."""

ZOOM_FAR = 1.4
"""A picture this much closer (or farther) than the other is a jump no motion within the targets makes
(a zoom of 1.4 moves the edges by a fifth of the width in one frame)."""

ZOOM_RATIO = 3.7
"""A pair is a cut to a close-up (or back) when the best far scale leaves this many times less
unexplained (``1 - correlation``) than the best near one, it correlates at least
:data:`ZOOM_MATCH`, and the near scales at most :data:`ZOOM_NEAR_MATCH`. Measured 2026-12-07 with
``scripts/scene_eval.py``'s catalogue, every pair of seeds 1-12 (24 cuts to a close-up 1.6 or 2 x
closer, 6,151 motion pairs) and of the eight real clips at full and half rate (3,428 motion
pairs): the close-ups score 8.8 to 158, motion at most 1.57 (10-15 fps motion), real footage
never passes the two correlation bounds. The line sits midway between 1.57 and 8.8 on a log
scale (it was 4.5, set with a centre half as large, which separated less: close-ups from 5.5, one
at 0 with its centre nearly empty sky, against motion up to 3.1); noise and motion in a close-up
bring its score down (a rocket on a smooth sky, slightly panning: 3.9)."""

ZOOM_MATCH = 0.9
"""The far scale must explain most of the picture (close-ups: at least 0.94)."""

ZOOM_NEAR_MATCH = 0.98
"""Where the near scales correlate better than this (a smooth gradient, a clear sky, or a pair that
motion explains), nothing can show a jump (close-ups: at most 0.968)."""

ZOOM_GATE = 0.0015
"""Pairs the first stage scores at most this are not searched in scale: nothing in them moved
enough to be a jump (the 40 cuts to a close-up of seeds 1-20 score at least 0.0029, the rocket on a
smooth sky). Three in four pairs of the real clips score below it (from 16 % of tree's to all of
box's), and each search left out is 2-6 ms of CPU that would run beside the network, which on a
2-core machine slows it by more than that."""

ZOOM_REGION = 0.7
"""The share of the width and height of one frame, around its centre, that is looked for in the
other: at scale 1 it can sit up to 15 % of the frame away, more than the motion targets."""


def _cell_means(x: np.ndarray, n_out: int, start: float, length: float) -> np.ndarray:
    """Means of ``x`` over ``n_out`` equal cells covering rows ``start .. start + length`` (inside
    the array), each row's area counted where a cell cuts it: the cumulative sum, interpolated
    linearly at the cells' edges. No BLAS: a matrix product here woke numpy's BLAS threads, whose
    spinning on a 2-core machine cost vspipe about 10 % at 1280x720 (measured against a run with
    ``OPENBLAS_NUM_THREADS=1``, which cost nothing)."""
    n_in = x.shape[0]
    c = np.concatenate([np.zeros((1, *x.shape[1:])), x.cumsum(0)])
    edges = start + length * np.arange(n_out + 1) / n_out
    i = np.clip(np.floor(edges).astype(np.intp), 0, n_in - 1)
    f = (edges - i)[:, None]
    at = c[i] + f * (c[i + 1] - c[i])
    return (at[1:] - at[:-1]) * (n_out / length)


def _matcher(a: np.ndarray) -> Callable[[np.ndarray, float], float]:
    """A function of ``(b, s)``: the best normalized cross-correlation between the centre of ``b``
    (:data:`ZOOM_REGION` of it), shrunk ``s`` times, and any place in ``a`` (-1 where the shrunk
    region is too small or flat). Correlations through the FFT, the spread of ``a`` under every
    placement from summed-area tables, both made once for ``a``."""
    H, W = a.shape
    spectrum = np.fft.rfft2(a)
    s1 = np.pad(a.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    s2 = np.pad((a * a).cumsum(0).cumsum(1), ((1, 0), (1, 0)))

    def best(b: np.ndarray, s: float) -> float:
        h0, w0 = b.shape[0] * ZOOM_REGION, b.shape[1] * ZOOM_REGION
        h, w = round(h0 / s), round(w0 / s)
        if h < 4 or w < 4:
            return -1.0
        t = _cell_means(b, h, (b.shape[0] - h0) / 2, h0)
        t = _cell_means(t.T, w, (b.shape[1] - w0) / 2, w0).T
        t -= t.mean()
        norm = float(np.sqrt((t * t).sum()))
        if norm < 1e-6:
            return -1.0
        product = np.fft.irfft2(spectrum * np.conj(np.fft.rfft2(t, (H, W))), (H, W))[: H - h + 1, : W - w + 1]
        sums = s1[h:, w:] - s1[:-h, w:] - s1[h:, :-w] + s1[:-h, :-w]
        squares = s2[h:, w:] - s2[:-h, w:] - s2[h:, :-w] + s2[:-h, :-w]
        spread = np.sqrt(np.maximum(squares - sums * sums / (h * w), 1e-12))
        return float((product / (spread * norm)).max())

    return best


_NEAR = tuple(s for s in ZOOM_STEPS if s <= ZOOM_NEAR)
_FAR = tuple(s for s in ZOOM_STEPS if s >= ZOOM_FAR)


def zoom_evidence(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """How well a jump in scale explains a pair of luma planes (as :func:`pair_metric` takes them):
    ``(scale, far, near)``. ``near`` is the best correlation at the scales up to :data:`ZOOM_NEAR`;
    ``scale`` (above 1 when ``b`` is the closer picture, below 1 when ``a`` is) the scale of
    :data:`ZOOM_FAR` or more whose correlation ``far`` leaves the least unexplained compared with
    ``near`` in its direction. A direction is searched no further once a near scale correlates
    above :data:`ZOOM_NEAR_MATCH` (no evidence can come of it; at the first scale for most pairs
    of real footage). Where no far scale is measured (searched no further, or the shrunk centre too
    small or flat): ``(1, -1, near)``, ``near`` the better of the two directions. ``near`` also
    tells how well one motion of the whole picture explains the pair (:func:`motion_break`)."""
    a, b = _picture(np.asarray(a, np.float64), np.asarray(b, np.float64))
    best, gain = (1.0, -1.0, -1.0), 0.0
    for closer, other, sign in ((b, a, 1), (a, b, -1)):
        match = _matcher(other)
        near = -1.0
        for s in _NEAR:
            near = max(near, match(closer, s))
            if near > ZOOM_NEAR_MATCH:
                break
        far = [] if near > ZOOM_NEAR_MATCH else [match(closer, s) for s in _FAR]
        k = int(np.argmax(far)) if far else 0
        ratio = _unexplained(near) / _unexplained(far[k]) if far and far[k] > -1 else 0.0
        if ratio > gain:
            best, gain = (_FAR[k] ** sign, far[k], near), ratio
        elif best[1] == -1:  # no far scale measured in either direction yet
            best = (1.0, -1.0, max(near, best[2]))
    return best


NO_JUMP = (1.0, -1.0, 1.0)
"""The evidence of a pair not searched in scale (nothing in it moved enough to need a motion)."""


def jump_evidence(a: np.ndarray, b: np.ndarray, score: float) -> tuple[float, float, float]:
    """:func:`zoom_evidence` of a pair whose first-stage metric is ``score``; :data:`NO_JUMP` where
    that is at most :data:`ZOOM_GATE`."""
    return zoom_evidence(a, b) if score > ZOOM_GATE else NO_JUMP


def _unexplained(correlation: float) -> float:
    return max(1.0 - correlation, 1e-4)


def zoom_cut(evidence: Sequence[float]) -> bool:
    """Whether :func:`zoom_evidence` shows a cut to a closer or farther picture (see :data:`ZOOM_RATIO`)."""
    _, far, near = (float(v) for v in evidence)
    return far >= ZOOM_MATCH and near <= ZOOM_NEAR_MATCH and _unexplained(near) >= ZOOM_RATIO * _unexplained(far)


# --------------------------------------------------------------------------------------------- breaks in motion

BREAK_NEAR = 0.6
"""A pair is a break only where the best motion of the whole picture (``near`` of
:func:`zoom_evidence`) correlates at most this: two views of one texture correlate 0.10-0.37 (every
texture cut of seeds 1-20, with and without noise); motion whose ratio comes near
:data:`BREAK_RATIO` at all correlates 0.36 or more (and where it correlates 0.97, hand-held shake
after a still, reaches a ratio of 6)."""

BREAK_RATIO = 4.3
"""A pair is a break when it leaves this many times more of the picture unexplained (``1 - near``)
than either pair beside it that moves. Measured 2026-12-07 with ``scripts/scene_eval.py``'s
catalogue on every pair of seeds 1-20 (60 texture cuts, 10,221 motion pairs), of the eight real
clips at full and half rate (3,428) and of seeds 1-12 with Gaussian noise of 4 or 8 / 255 (36
texture cuts, 6,151 motion): the texture cuts score 6.3-66, motion with ``near`` at most
:data:`BREAK_NEAR` at most 2.86 (a hand sweeping into view over the swaying tree, at half rate),
then 2.53 (an object crossing at 12 fps); the line sits midway on a log scale. A one-frame event (a
flash, a glitch, an object through the frame) makes two such pairs side by side, neither of them a
break; a cut into a shot of one frame, or between two still views, is left to the other tests. It
does not hang on the first stage's threshold: the correlation does not fade with contrast (a brick
wall's cut at 30 % contrast scores 0.0036 on the first stage, under its candidates)."""


def picture_near(a: np.ndarray, b: np.ndarray, score: float, evidence: Sequence[float]) -> float:
    """``near`` of a pair (the best picture-wide motion's correlation), measured here where the
    first stage's gate left it unsearched (``score`` at most :data:`ZOOM_GATE`, :data:`NO_JUMP`'s
    1): a pair beside a possible break must show that one motion explains it, and block matching
    explaining every block (a low score) does not say that (a star field zooming out scores 0.0013
    and correlates 0.45 under one motion)."""
    return float(evidence[2]) if score > ZOOM_GATE else zoom_evidence(a, b)[2]


def change(a: np.ndarray, b: np.ndarray) -> float:
    """The mean absolute difference of two luma planes (the held-frame measure, compared with
    :data:`HELD_THRESHOLD`)."""
    return float(np.mean(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32))))


def moves(change: float) -> bool:
    """Whether a pair whose :func:`change` is this is more than a repeat (:data:`HELD_THRESHOLD`)."""
    return change >= HELD_THRESHOLD


def motion_break(near: float, neighbours: Sequence[tuple[float, float]]) -> bool:
    """Whether a pair whose ``near`` (:func:`zoom_evidence`: the best correlation of the picture
    under one motion) is this is a cut, given ``(near, change)`` of the pairs before and after it
    that exist (``change``: :func:`change`). Within a shot the picture moves as one, or as nearly
    the same mix of motions from pair to pair. A cut between two views of one texture (a brick
    wall seen twice: every block of one looks like some block of the other) the network explains
    block by block, but no motion of the picture as a whole, while the pairs before and after it
    are explained (:data:`BREAK_NEAR`, :data:`BREAK_RATIO`). Only a neighbour that moves tells: a
    repeat (``change`` under :data:`HELD_THRESHOLD`: a still, or animation drawn on 2s, where
    every drawing's pair sits between two repeats) says nothing of the motion, and a fast object
    drawn on 2s would otherwise be cut. A pair with nothing to correlate (``near`` -1: flat
    pictures) is no break, and a neighbour with nothing to correlate explains nothing."""
    moving = [float(v) for v, moved in neighbours if moves(moved)]
    if not moving or not 0 <= near <= BREAK_NEAR:
        return False
    return _unexplained(near) >= BREAK_RATIO * max(_unexplained(v) for v in moving)


# --------------------------------------------------------------------------------------------- held frames

HELD_THRESHOLD = 0.004
"""Mean absolute luma difference (0..1, on a copy at most 128 pixels wide) below which a frame
counts as a repeat of the previous one. Codec noise on a held anime frame measures about 0.001;
the slowest real pans measure well above 0.01."""

HELD_WIDTH = 128

MAX_HOLD = 4
"""A run of identical frames longer than this is a still shot, not a held drawing: all its frames
are kept, so stills do not turn into a slow morph."""


def distinct_frames(clip: vs.VideoNode, threshold: float = HELD_THRESHOLD, max_hold: int = MAX_HOLD) -> list[int]:
    """Indices of the frames that are not repeats of the frame before (one pass over the clip,
    through a 128-pixel-wide luma copy)."""
    return held_runs(clip, threshold, max_hold)[0]


def held_runs(
    clip: vs.VideoNode, threshold: float = HELD_THRESHOLD, max_hold: int = MAX_HOLD
) -> tuple[list[int], set[int]]:
    """:func:`distinct_frames`, and the frames (indices) that carry ``_SceneChangeNext`` from
    another tool, read in the same pass: a cut marked on a held frame that is left out belongs to
    the kept frame it repeats."""
    small = luma_small(clip, HELD_WIDTH)
    diffs = small.std.PlaneStats(small[0] + small[:-1]) if clip.num_frames > 1 else small.std.PlaneStats()
    same, tagged = [], set()
    for i, f in enumerate(diffs.frames(close=True)):
        same.append(i > 0 and float(f.props["PlaneStatsDiff"]) < threshold)
        if f.props.get("_SceneChangeNext", 0):
            tagged.add(i)
    keys: list[int] = []
    i = 0
    while i < len(same):
        j = i + 1
        while j < len(same) and same[j]:
            j += 1
        run = j - i  # frame i and the j - i - 1 frames repeating it
        keys.extend([i] if run <= max_hold else range(i, j))
        i = j
    return keys, tagged
