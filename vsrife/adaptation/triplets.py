"""Training material from the clip itself: frame triplets (n - 1, n, n + 1), where the middle frame is
the target the network must predict from its two neighbours at t = 0.5.

A triplet is usable only when both of its pairs show the same shot in motion: a pair across a scene
cut (the scene detector's metric above its threshold) or a held frame (mean absolute luma
difference below the held-frame threshold, as in ``held_frames=True``) would teach the network to
morph or to freeze. Only the frames of candidate triplets are decoded, so a long film costs a few
hundred frame reads, not a pass over the film.

Part of the usable triplets is held out for validation. Where triplets overlap (short clips, every
centre used), a training triplet next to a validation triplet would have the validation target as
one of its inputs; those are left out of training, so no validation target is ever seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import vapoursynth as vs
from torch import Tensor

from ..formats import WorkFormat
from ..scene import (
    BREAK_NEAR,
    CANDIDATE,
    METRIC_WIDTH,
    MIN_SIZE,
    change,
    jump_evidence,
    luma_small,
    motion_break,
    moves,
    pair_metric,
    picture_near,
    zoom_cut,
)

MIN_SIDE = 32
"""A shrunk copy for training must keep at least this many pixels in each dimension."""

MIN_FRAMES = 5
"""Three triplets: one to validate, one to train on, one left out between them."""

VAL_EVERY = 8
"""About one usable triplet in this many is held out for validation ..."""
MAX_VAL = 8
"""... but no more than this many (validation runs every few steps)."""


def _error(msg: str) -> vs.Error:
    return vs.Error(f"RIFE: {msg}")


class NothingToLearn(vs.Error):
    """The clip holds too few usable frame triplets to adapt on (too short, a still, only cuts):
    ``interpolate --adapt`` then goes on with the base model."""


def check_clip(clip: object) -> vs.VideoNode:
    """The clip, if adaptation can learn from it; otherwise a clear ``RIFE:`` error."""
    if not isinstance(clip, vs.VideoNode):
        raise _error("adapt needs a video clip (vs.VideoNode)")
    # a variable format reads as a format object with id 0 (color family UNDEFINED), not as None
    if clip.format is None or clip.format.id == 0 or clip.width == 0 or clip.height == 0:
        raise _error(
            "adapt does not support clips of variable format or size; make them constant with core.resize first"
        )
    fmt = clip.format
    if fmt.color_family not in (vs.YUV, vs.RGB, vs.GRAY) or (
        fmt.sample_type == vs.INTEGER and fmt.bits_per_sample > 16
    ):
        raise _error(
            f"adapt does not support format {fmt.name}; use YUV, RGB or GRAY at 8-16 bit integer or 16/32 bit float"
        )
    if clip.num_frames < MIN_FRAMES:
        raise NothingToLearn(
            f"RIFE: adapt needs at least {MIN_FRAMES} frames (frame triplets to train and validate on), "
            f"the clip has {clip.num_frames}"
        )
    return clip


# ------------------------------------------------------------------------------------ choosing triplets


def spread(items: Sequence[int], count: int) -> list[int]:
    """``count`` items evenly spread over ``items`` (all of them when there are no more)."""
    if count >= len(items):
        return list(items)
    if count <= 0:
        return []
    step = len(items) / count
    return [items[int(step * (k + 0.5))] for k in range(count)]


def usable(centres: Sequence[int], cut: dict[int, bool], held: dict[int, bool]) -> list[int]:
    """The centres whose pairs (n - 1, n) and (n, n + 1) are neither a cut nor a held frame;
    ``cut[i]`` / ``held[i]`` describe the pair (i, i + 1)."""
    return [n for n in centres if not (cut[n - 1] or cut[n] or held[n - 1] or held[n])]


def split(centres: Sequence[int]) -> tuple[list[int], list[int]]:
    """(train, validation) centres: validation spread over the clip, and no training triplet that
    has a validation target among its frames."""
    n_val = min(MAX_VAL, max(1, len(centres) // VAL_EVERY))
    val = spread(centres, n_val)
    near = {v + d for v in val for d in (-1, 0, 1)}
    return [c for c in centres if c not in near], val


@dataclass(frozen=True)
class Selection:
    train: list[int]
    val: list[int]
    candidates: int
    """How many triplets were examined."""
    rejected: int
    """How many of them spanned a cut or a held frame."""


def pair_flags(
    clip: vs.VideoNode,
    pairs: Sequence[int],
    sc_threshold: float,
    held_threshold: float,
    confirm: Callable[[int], bool] | None = None,
) -> tuple[dict[int, bool], dict[int, bool]]:
    """For each pair start i: (is a scene cut, is a held frame), decided as the filter decides:
    candidates from the scene detector's cheap metric (above half the threshold) confirmed by
    ``confirm(i)`` (the network's evidence; without it, the cheap metric above the threshold
    decides), jumps in scale (:func:`vsrife.scene.jump_evidence`) and breaks in the picture's motion
    (:func:`vsrife.scene.motion_break`, which also reads the pairs beside); held frames by the mean
    absolute luma difference on the detector's small luma copy."""
    small = luma_small(clip, METRIC_WIDTH, MIN_SIZE)
    last = clip.num_frames - 1
    cache: dict[int, np.ndarray] = {}
    measured: dict[int, tuple[float, tuple[float, float, float], float]] = {}

    def luma(i: int) -> np.ndarray:
        if i not in cache:
            cache[i] = np.asarray(small.get_frame(i)[0], dtype=np.float32).copy()
        return cache[i]

    def measure(i: int) -> tuple[float, tuple[float, float, float], float]:
        """The first-stage score of pair i, its evidence in scale and its change, as the filter
        measures them."""
        if i not in measured:
            a, b = luma(i), luma(i + 1)
            score = pair_metric(a, b)
            measured[i] = (score, jump_evidence(a, b, score), change(a, b))
        return measured[i]

    def broken(i: int, near: float) -> bool:
        if not 0 <= near <= BREAK_NEAR:  # as the filter routes it: only such pairs read the pairs beside
            return False
        # the pairs beside that exist and move (a repeat says nothing, and is not measured)
        beside = [(j, *measure(j)) for j in (i - 1, i + 1) if 0 <= j < last]
        nears = [
            (picture_near(luma(j), luma(j + 1), score, ev), moved) for j, score, ev, moved in beside if moves(moved)
        ]
        return motion_break(near, nears)

    cut, held = {}, {}
    for i in pairs:
        score, evidence, moved = measure(i)
        held[i] = moved < held_threshold
        if held[i]:
            cut[i] = False
        elif zoom_cut(evidence) or broken(i, evidence[2]):  # no network needed, as the filter cuts them
            cut[i] = True
        elif confirm is None:
            cut[i] = score > sc_threshold
        else:
            cut[i] = score > sc_threshold * CANDIDATE and confirm(i)
    return cut, held


def select(
    clip: vs.VideoNode,
    max_triplets: int,
    sc_threshold: float,
    held_threshold: float,
    confirm: Callable[[int], bool] | None = None,
) -> Selection:
    """Usable triplet centres of ``clip``, at most ``max_triplets``, split into train/validation."""
    all_centres = list(range(1, clip.num_frames - 1))
    # Examine more candidates than needed, since some are rejected; a short clip: all of them.
    candidates = spread(all_centres, 2 * max_triplets)
    pairs = sorted({p for c in candidates for p in (c - 1, c)})
    cut, held = pair_flags(clip, pairs, sc_threshold, held_threshold, confirm)
    good = usable(candidates, cut, held)
    if not good:
        what = (
            "repeats the frame before it (held frames)" if all(held.values()) else "is a repeat or sits at a scene cut"
        )
        raise NothingToLearn(
            f"RIFE: adapt found no usable frame triplets: every examined frame {what}; there is no motion to learn from"
        )
    good = spread(good, max_triplets)
    train, val = split(good)
    if not train:
        raise NothingToLearn(
            f"RIFE: adapt found only {len(good)} usable frame triplet(s) (the rest span cuts or held frames); "
            "it needs at least 3 consecutive ones, to train on and to validate"
        )
    return Selection(train, val, len(candidates), len(candidates) - len(usable(candidates, cut, held)))


# ------------------------------------------------------------------------------------ frames in memory


def round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


def frame_bytes(clip: vs.VideoNode, multiple: int) -> int:
    """Memory one stored frame takes (float16 RGB, padded to at least one crop)."""
    return 3 * round_up(clip.height, multiple) * round_up(clip.width, multiple) * 2


def max_triplets_for(clip: vs.VideoNode, multiple: int, memory_mb: int, cap: int) -> int:
    """How many triplets fit into ``memory_mb``: overlapping triplets of a short clip share frames
    (about one frame each), spread-out ones of a long clip do not (three each)."""
    fit = memory_mb * 2**20 // frame_bytes(clip, multiple)
    if clip.num_frames <= fit:
        return min(cap, clip.num_frames - 2)
    return max(2, min(cap, fit // 3))


def rgb_clip(clip: vs.VideoNode) -> vs.VideoNode:
    """The clip as the network sees it (non-linear RGB, or GRAY, as 16/32-bit float)."""
    return WorkFormat.of(clip).to_work(clip)


class FrameStore:
    """The frames triplets need, as float16 3 x H' x W' tensors, at one resolution."""

    def __init__(self, frames: dict[int, Tensor], height: int, width: int) -> None:
        self.frames = frames
        self.height, self.width = height, width
        """The picture size (frames may be larger: edge padding)."""

    @classmethod
    def read(cls, clip: vs.VideoNode, indices: Sequence[int]) -> FrameStore:
        work = rgb_clip(clip)
        frames = {}
        for i in sorted(set(indices)):
            f = work.get_frame(i)
            planes = [np.asarray(f[p]) for p in range(f.format.num_planes)]
            frames[i] = torch.from_numpy(np.stack(planes * 3 if len(planes) == 1 else planes).astype(np.float16))
        return cls(frames, clip.height, clip.width)

    def prepared(self, factor: int, min_h: int, min_w: int) -> FrameStore:
        """A copy shrunk ``factor`` times (box filter) and edge-replicated up to at least
        ``min_h`` x ``min_w``, so that one crop fits even a frame smaller than it."""
        h, w = self.height // factor, self.width // factor
        out = {}
        for i, x in self.frames.items():
            y = x[None, :, : h * factor, : w * factor].float()
            if factor > 1:
                y = torch.nn.functional.avg_pool2d(y, factor)
            ph, pw = max(0, min_h - h), max(0, min_w - w)
            if ph or pw:
                y = torch.nn.functional.pad(y, (0, pw, 0, ph), mode="replicate")
            out[i] = y[0].half().contiguous()
        return FrameStore(out, h, w)

    def triplet(self, n: int, y: int, x: int, h: int, w: int) -> tuple[Tensor, Tensor, Tensor]:
        """Frames n - 1, n + 1 and the target n, cropped to the window (y, x, h, w), as float32."""
        return tuple(self.frames[i][:, y : y + h, x : x + w].float() for i in (n - 1, n + 1, n))  # type: ignore[return-value]


@dataclass(frozen=True)
class Batch:
    img0: Tensor
    img1: Tensor
    gt: Tensor
    valid_h: int
    valid_w: int
    """The top-left valid_h x valid_w of a crop is real picture (the rest is edge padding)."""


def crop_size(height: int, width: int, crop: int, multiple: int) -> tuple[int, int]:
    """Crop dimensions: ``crop`` rounded to the padding multiple, but no larger than the frame padded
    to that multiple (small clips train on the whole, padded frame)."""
    c = max(multiple, crop // multiple * multiple)
    return min(c, round_up(height, multiple)), min(c, round_up(width, multiple))


def _window(rng: np.random.Generator, h: int, w: int, frame_h: int, frame_w: int) -> tuple[int, int]:
    y = int(rng.integers(0, frame_h - h + 1)) if frame_h > h else 0
    x = int(rng.integers(0, frame_w - w + 1)) if frame_w > w else 0
    return y, x


@dataclass(frozen=True)
class Source:
    """Training material at one resolution: the frames and the crop size used on them."""

    store: FrameStore
    crop_h: int
    crop_w: int


def sources(
    frames: FrameStore, factors: Sequence[int], crop: int, val_crop: int, multiple: int
) -> list[tuple[Source, int, int]]:
    """(source, validation crop height, width) for each usable resolution factor: the full frames
    and copies shrunk 2, 3... times (a triplet n - 1, n, n + 1 spans two frame intervals; shrunk
    twice, its motion in pixels is that of the one interval interpolation works across).
    Factors that leave less than :data:`MIN_SIDE` pixels are skipped."""
    out = []
    for f in factors:
        h, w = frames.height // f, frames.width // f
        if f > 1 and min(h, w) < MIN_SIDE:
            continue
        ch, cw = crop_size(h, w, crop, multiple)
        vh, vw = crop_size(h, w, val_crop, multiple)
        out.append((Source(frames.prepared(f, max(ch, vh), max(cw, vw)), ch, cw), vh, vw))
    return out


def training_batch(
    store: FrameStore, centres: Sequence[int], batch: int, h: int, w: int, rng: np.random.Generator, flips: str = "hv"
) -> Batch:
    """Random triplets at random crops, each played backwards (swapping the two inputs: at t = 0.5
    the target stays the same) and flipped left-right ("h" in ``flips``) and upside down ("v") at random."""
    zs: list[list[Tensor]] = [[], [], []]
    for _ in range(batch):
        n = int(centres[int(rng.integers(len(centres)))])
        y, x = _window(rng, h, w, store.height, store.width)
        a, b, g = store.triplet(n, y, x, h, w)
        if rng.random() < 0.5:
            a, b = b, a
        dims = [d for d, axis in ((2, "h"), (1, "v")) if rng.random() < 0.5 and axis in flips]
        if dims:
            a, b, g = (t.flip(dims) for t in (a, b, g))
        for z, t in zip(zs, (a, b, g), strict=True):
            z.append(t)
    img0, img1, gt = (torch.stack(z) for z in zs)
    return Batch(img0, img1, gt, min(h, store.height), min(w, store.width))


def validation_batches(store: FrameStore, centres: Sequence[int], h: int, w: int, seed: int, chunk: int) -> list[Batch]:
    """One fixed crop per validation triplet (the same at every validation), in chunks."""
    rng = np.random.default_rng([seed, 1])
    crops = [store.triplet(n, *_window(rng, h, w, store.height, store.width), h, w) for n in centres]
    out = []
    for k in range(0, len(crops), chunk):
        part = crops[k : k + chunk]
        img0, img1, gt = (torch.stack([c[j] for c in part]) for j in range(3))
        out.append(Batch(img0, img1, gt, min(h, store.height), min(w, store.width)))
    return out


def needed_frames(centres: Sequence[int]) -> list[int]:
    return sorted({c + d for c in centres for d in (-1, 0, 1)})
