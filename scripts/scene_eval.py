#!/usr/bin/env python3
"""Missed and false scene cuts of vsrife's detector, next to scxvid and MVTools, on one clip with
exact ground truth.

The clip is made of shots over the photographs bundled with scikit-image: a camera window pans
(0.5 to 12 px/frame at the 320-wide reference size, some with hand-held jitter or acceleration) or
zooms over a photograph, and every shot boundary is a hard cut. Hard cases are included on purpose:
two shots from different regions of the same photograph, texture -> texture cuts (brick -> grass
-> gravel), a slow brightness fade inside a shot (not a cut) and one flash frame (a single much
brighter frame; not a cut, reported separately). Shot lengths (8..30 frames), start positions and
pan directions come from ``--seed``; the list of shots and their order is fixed. ``--size`` keeps
the same picture content and motion (in units of the frame width); the photographs are at most
about 512 pixels, so sizes above 320x192 are upsampled and softer than real footage of that size.

All detectors see the same YUV420P8 (BT.709, limited range) clip; ours is also run on the RGBS
source. A cut at frame k (first frame of a new shot) counts as found when frame k carries
``_SceneChangePrev = 1``; every other frame with ``_SceneChangePrev = 1`` (frame 0 excluded) is a
false cut. Runtime is the best of two sequential passes over the clip (frames pre-rendered in
memory); the flash frame is counted as a false cut but also shown on its own.

Usage:
  .venv/bin/python scripts/scene_eval.py [--size 320x192] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import vapoursynth as vs  # noqa: E402

from vsrife.scene import DEFAULT_THRESHOLD, pair_differences, scene_changes  # noqa: E402
from vsrife.synthetic import photo  # noqa: E402

core = vs.core

REF_WIDTH = 320  # speeds and zoom geometry are given at this output width
SWEEP = [round(0.004 + 0.001 * i, 3) for i in range(13)]  # 0.004 .. 0.016
MV_THSCD1, MV_THSCD2 = 400, 130  # MVTools' documented SCDetection defaults (not passed explicitly)


@dataclass(frozen=True)
class Shot:
    """One shot. ``speed`` in px/frame at the reference width; ``angle`` None = random direction;
    ``zoom`` = scale factor per frame (>1 zooms in); ``jitter`` = hand-held shake amplitude (px);
    ``accel`` = speed grows linearly from 0 to 2*speed; ``fade`` = brightness gain at the last
    frame (linear from 1); ``flash`` = one frame in the middle is a flash; ``region`` picks one
    end of the photograph (0/1) for shots that reuse a photograph."""

    image: str
    speed: float = 0.0
    angle: float | None = None
    zoom: float = 1.0
    jitter: float = 0.0
    accel: bool = False
    fade: float = 1.0
    flash: bool = False
    region: int | None = None
    note: str = ""


SHOTS: tuple[Shot, ...] = (
    Shot("astronaut", 2.0, note="pan 2"),
    Shot("coffee", 6.0, note="pan 6"),
    Shot("chelsea", 1.0, jitter=1.5, note="pan 1 + hand-held"),
    Shot("rocket", 10.0, angle=0.0, note="pan 10 horizontal"),
    Shot("camera", 0.0, zoom=1.015, note="zoom in 1.5%/f"),
    Shot("brick", 4.0, note="pan 4"),
    Shot("grass", 3.0, note="pan 3 (texture->texture)"),
    Shot("gravel", 5.0, note="pan 5 (texture->texture)"),
    Shot("immunohistochemistry", 8.0, note="pan 8"),
    Shot("coins", 0.5, note="pan 0.5"),
    Shot("hubble_deep_field", 3.0, region=0, note="pan 3, region A"),
    Shot("hubble_deep_field", 3.0, region=1, note="pan 3, region B (same photo)"),
    Shot("moon", 1.5, fade=0.3, note="pan 1.5 + fade to 30%"),
    Shot("clock", 2.0, flash=True, note="pan 2 + flash frame"),
    Shot("rocket", 1.0, zoom=1 / 1.02, note="zoom out 2%/f"),
    Shot("cell", 7.0, note="pan 7"),
    Shot("retina", 12.0, note="pan 12"),
    Shot("chelsea", 2.0, zoom=1.01, note="zoom in 1%/f + pan 2"),
    Shot("gravel", 1.0, jitter=3.0, note="pan 1 + hand-held 3px"),
    Shot("grass", 6.0, note="pan 6 (texture->texture)"),
    Shot("brick", 12.0, note="pan 12"),
    Shot("astronaut", 6.0, accel=True, region=1, note="accelerating pan 0..12"),
    Shot("coffee", 4.0, region=0, note="pan 4, region A"),
    Shot("coffee", 4.0, region=1, note="pan 4, region B (same photo)"),
    Shot("coins", 11.0, note="pan 11"),
)


@dataclass
class Rendered:
    frames: list[np.ndarray]  # 3 x H x W float32 RGB
    cuts: list[int]  # first frame of every shot but the first
    flash: int  # index of the flash frame
    shot_of: list[int]  # shot index of every frame
    fade_shot: int


def _view(img: np.ndarray, cx: float, cy: float, s: float, w: int, h: int) -> np.ndarray:
    """Output w x h, centred on (cx, cy) in image pixels, ``s`` image pixels per output pixel."""
    from scipy import ndimage

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    ys = cy + (yy - (h - 1) / 2) * s
    xs = cx + (xx - (w - 1) / 2) * s
    out = np.empty((3, h, w), np.float32)
    for c in range(3):  # img holds bicubic spline coefficients (see _coefficients)
        out[c] = ndimage.map_coordinates(img[c], [ys, xs], order=3, mode="mirror", prefilter=False)
    return np.clip(out, 0.0, 1.0)


def _coefficients(name: str) -> np.ndarray:
    """Spline coefficients of a photograph, 3 x H x W, computed once instead of once per frame."""
    from scipy import ndimage

    img = photo(name)
    return np.stack([ndimage.spline_filter(img[..., c], order=3, mode="mirror") for c in range(3)])


def _trajectory(shot: Shot, n: int, rng: np.random.Generator, unit: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (image px, relative to the start) and scales for the n frames of a shot."""
    t = np.arange(n, dtype=np.float64)
    angle = rng.uniform(0, 2 * np.pi) if shot.angle is None else shot.angle
    dist = shot.speed * (t * t / max(n - 1, 1) if shot.accel else t)  # accel: v from 0 to 2*speed
    ox, oy = dist * np.cos(angle), dist * np.sin(angle)
    if shot.jitter:
        # smooth hand-held shake: sum of a few random sinusoids
        for _ in range(3):
            f, p, q = rng.uniform(0.15, 0.6), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)
            ox = ox + shot.jitter / 2 * np.sin(f * t + p)
            oy = oy + shot.jitter / 2 * np.sin(f * t + q)
    scale = shot.zoom ** (-t)  # image pixels per reference output pixel
    return ox * unit, oy * unit, scale * unit


def render(width: int, height: int, seed: int) -> Rendered:
    rng = np.random.default_rng(seed)
    unit = REF_WIDTH / width  # image pixels per output pixel at zoom 1
    frames: list[np.ndarray] = []
    cuts: list[int] = []
    shot_of: list[int] = []
    flash = fade_shot = -1
    photos: dict[str, np.ndarray] = {}
    for i, shot in enumerate(SHOTS):
        if shot.image not in photos:
            photos[shot.image] = _coefficients(shot.image)
        img = photos[shot.image]
        ih, iw = img.shape[1:]
        n = int(rng.integers(8, 31))
        sub = int(rng.integers(1 << 31))  # direction and shake of this shot
        # shorten the shot until the whole trajectory stays inside the photograph (min 8 frames)
        while True:
            ox, oy, sc = _trajectory(shot, n, np.random.default_rng(sub), unit)
            hw, hh = (width - 1) / 2 * sc, (height - 1) / 2 * sc
            lo_x, hi_x = np.max(hw - ox), np.min(iw - 1 - hw - ox)
            lo_y, hi_y = np.max(hh - oy), np.min(ih - 1 - hh - oy)
            if (lo_x <= hi_x and lo_y <= hi_y) or n <= 8:
                break
            n -= 1
        if lo_x > hi_x:
            lo_x = hi_x = (iw - 1) / 2 - (ox.min() + ox.max()) / 2
        if lo_y > hi_y:
            lo_y = hi_y = (ih - 1) / 2 - (oy.min() + oy.max()) / 2
        if shot.region is None:
            cx, cy = rng.uniform(lo_x, hi_x), rng.uniform(lo_y, hi_y)
        else:  # opposite corners of the feasible area
            cx, cy = (lo_x, lo_y) if shot.region == 0 else (hi_x, hi_y)
        if i:
            cuts.append(len(frames))
        gain = np.linspace(1.0, shot.fade, n)
        flash_at = n // 2 if shot.flash else -1
        for k in range(n):
            fr = _view(img, cx + ox[k], cy + oy[k], sc[k], width, height) * np.float32(gain[k])
            if k == flash_at:
                fr = 1.0 - (1.0 - fr) * np.float32(0.3)  # camera flash: washed towards white
                flash = len(frames)
            frames.append(fr)
            shot_of.append(i)
        if shot.fade != 1.0:
            fade_shot = i
    return Rendered(frames, cuts, flash, shot_of, fade_shot)


def clip_from_planes(planes: list[list[np.ndarray]], fmt: vs.VideoFormat | int, w: int, h: int) -> vs.VideoNode:
    blank = core.std.BlankClip(format=fmt, width=w, height=h, length=len(planes), fpsnum=24000, fpsden=1001)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p, arr in enumerate(planes[n]):
            np.copyto(np.asarray(out[p]), arr)
        return out

    return blank.std.ModifyFrame(blank, fill)


def read_planes(clip: vs.VideoNode) -> list[list[np.ndarray]]:
    return [[np.asarray(f[p]).copy() for p in range(f.format.num_planes)] for f in clip.frames()]


def sequential_props(clip: vs.VideoNode, keys: tuple[str, ...]) -> tuple[list[tuple], float]:
    """Request every frame strictly in order (scxvid needs that); return props and seconds."""
    start = time.perf_counter()
    out = []
    for n in range(clip.num_frames):
        props = clip.get_frame(n).props
        out.append(tuple(props.get(k, 0) for k in keys))
    return out, time.perf_counter() - start


@dataclass
class Result:
    name: str
    params: str
    detected: set[int]
    seconds: float


def score(detected: set[int], cuts: list[int], flash: int) -> dict:
    truth = set(cuts)
    found = detected & truth
    false = detected - truth
    return {
        "detected": len(detected),
        "hit": len(found),
        "missed": sorted(truth - found),
        "false": sorted(false),
        "flash": sorted(false & {flash, flash + 1}),
        "precision": len(found) / len(detected) if detected else 1.0,
        "recall": len(found) / len(truth) if truth else 1.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="320x192", help="WxH of the clip (default 320x192; even numbers)")
    ap.add_argument("--seed", type=int, default=1, help="shot lengths, positions, directions (default 1)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if width % 2 or height % 2:
        ap.error("--size must be even in both dimensions (YUV420P8)")

    t0 = time.perf_counter()
    clip_data = render(width, height, args.seed)
    frames, cuts, flash = clip_data.frames, clip_data.cuts, clip_data.flash
    rgb = clip_from_planes([list(f) for f in frames], vs.RGBS, width, height)
    yuv_conv = rgb.resize.Bicubic(format=vs.YUV420P8, matrix_s="709", range_s="limited")
    yuv = clip_from_planes(read_planes(yuv_conv), vs.YUV420P8, width, height)
    render_s = time.perf_counter() - t0
    nframes = len(frames)

    print(f"scene_eval: {width}x{height}, seed {args.seed}, {nframes} frames, {len(SHOTS)} shots, "
          f"{len(cuts)} true cuts, flash frame {flash}, VapourSynth threads {core.num_threads} "
          f"(clip rendered in {render_s:.1f} s)")
    print()
    print("shots (speeds in px/frame at 320 wide):")
    starts = [0] + cuts
    for i, shot in enumerate(SHOTS):
        end = (starts[i + 1] if i + 1 < len(starts) else nframes) - 1
        print(f"  {i:2d} frames {starts[i]:4d}-{end:4d}  {shot.image:<21s} {shot.note}")
    print()

    def timed(make, keys: tuple[str, ...]) -> tuple[list[tuple], float]:
        """Best of two sequential passes, each on a freshly built node (scxvid keeps state)."""
        props, first = sequential_props(make(), keys)
        return props, min(first, sequential_props(make(), keys)[1])

    _, base_s = timed(lambda: yuv, ())  # fetching the pre-rendered YUV frames alone
    results: list[Result] = []

    def prev_set(props: list[tuple]) -> set[int]:
        return {n for n, p in enumerate(props) if p[0] and n}

    props, secs = timed(lambda: scene_changes(yuv, DEFAULT_THRESHOLD), ("_SceneChangePrev",))
    results.append(Result("vsrife (YUV420P8)", f"threshold={DEFAULT_THRESHOLD}", prev_set(props), secs))
    props, secs = timed(lambda: scene_changes(rgb, DEFAULT_THRESHOLD), ("_SceneChangePrev",))
    results.append(Result("vsrife (RGBS)", f"threshold={DEFAULT_THRESHOLD}", prev_set(props), secs))
    for plugin, package in (("scxvid", "vapoursynth-scxvid"), ("mv", "vapoursynth-mvtools")):
        if not hasattr(core, plugin):
            raise SystemExit(f"scene_eval: the {plugin} plugin is missing: pip install {package} (or .[eval])")
    props, secs = timed(lambda: core.scxvid.Scxvid(yuv), ("_SceneChangePrev",))
    results.append(Result("scxvid", "defaults", prev_set(props), secs))

    def mvtools() -> vs.VideoNode:
        sup = core.mv.Super(yuv)
        fwd = core.mv.Analyse(sup, isb=False)  # forward vectors -> _SceneChangePrev
        bwd = core.mv.Analyse(sup, isb=True)  # backward vectors -> _SceneChangeNext
        return core.mv.SCDetection(core.mv.SCDetection(yuv, fwd), bwd)

    props, secs = timed(mvtools, ("_SceneChangePrev", "_SceneChangeNext"))
    mv_next = {n + 1 for n, (_, q) in enumerate(props) if q and n + 1 < nframes}
    results.append(Result("mvtools", f"thscd1={MV_THSCD1} thscd2={MV_THSCD2} (defaults)", prev_set(props), secs))
    results.append(Result("mvtools Next", "backward vectors, _SceneChangeNext", mv_next, 0.0))

    print(f"detectors (cut at k found if frame k has _SceneChangePrev=1; flash frame {flash} counted as false):")
    hdr = f"  {'detector':<18s} {'params':<38s} {'true':>4s} {'det':>4s} {'miss':>4s} {'false':>5s} {'flash':>5s} {'prec':>5s} {'recall':>6s} {'time s':>7s} {'fps':>6s}"
    print(hdr)
    for r in results:
        s = score(r.detected, cuts, flash)
        fps = f"{nframes / r.seconds:6.0f}" if r.seconds else "     -"
        tim = f"{r.seconds:7.2f}" if r.seconds else "      -"
        print(f"  {r.name:<18s} {r.params:<38s} {len(cuts):4d} {s['detected']:4d} {len(s['missed']):4d} "
              f"{len(s['false']):5d} {len(s['flash']):5d} {s['precision']:5.2f} {s['recall']:6.2f} {tim} {fps}")
    print(f"  (time: best of 2 sequential passes; mvtools runs forward and backward Analyse; "
          f"fetching the pre-rendered YUV frames alone: {base_s:.2f} s)")
    print()
    for r in results:
        s = score(r.detected, cuts, flash)
        miss = ", ".join(f"{k} ({SHOTS[clip_data.shot_of[k - 1]].image}->{SHOTS[clip_data.shot_of[k]].image})" for k in s["missed"])
        fals = ", ".join(f"{k} ({'flash' if k in (flash, flash + 1) else SHOTS[clip_data.shot_of[k]].note})" for k in s["false"])
        print(f"  {r.name}: missed [{miss}]")
        print(f"  {'':{len(r.name)}s}  false  [{fals}]")
    print()

    # raw metric of ours, on the YUV clip: diff[k-1] is the score of the boundary before frame k
    diffs = np.array([f.props["PlaneStatsAverage"] for f in pair_differences(yuv).frames()])[:-1]
    boundary = np.arange(1, nframes)  # boundary into frame k
    is_cut = np.isin(boundary, cuts)
    is_flash = np.isin(boundary, [flash, flash + 1])
    normal = ~is_cut & ~is_flash
    print("vsrife metric (YUV420P8 input) by boundary into frame k:")
    print(f"  true cuts:  min {diffs[is_cut].min():.4f}  median {np.median(diffs[is_cut]):.4f}")
    print(f"  in-shot:    max {diffs[normal].max():.4f}  median {np.median(diffs[normal]):.4f}  (flash excluded)")
    print(f"  flash:      into {diffs[flash - 1]:.4f}  out of {diffs[flash]:.4f}")
    fade = np.array([clip_data.shot_of[k] == clip_data.fade_shot and clip_data.shot_of[k - 1] == clip_data.fade_shot for k in boundary])
    print(f"  fade shot:  max {diffs[fade].max():.4f}")
    print("  every cut, lowest first:")
    for k in sorted(cuts, key=lambda k: diffs[k - 1]):
        a, b = clip_data.shot_of[k - 1], clip_data.shot_of[k]
        print(f"    {k:4d}  {diffs[k - 1]:.4f}  {SHOTS[a].image} ({SHOTS[a].note}) -> {SHOTS[b].image} ({SHOTS[b].note})")
    print("  highest in-shot value of every shot, highest first (flash excluded):")
    per_shot = []
    for i, shot in enumerate(SHOTS):
        sel = normal & np.array([clip_data.shot_of[k] == i and clip_data.shot_of[k - 1] == i for k in boundary])
        if sel.any():
            per_shot.append((diffs[sel].max(), i, shot))
    for v, i, shot in sorted(per_shot, key=lambda x: -x[0]):
        print(f"    shot {i:2d}  {v:.4f}  {shot.image} ({shot.note})")
    print()

    print("vsrife threshold sweep (YUV420P8 input; flash boundaries counted as false):")
    print(f"  {'threshold':>9s} {'missed':>6s} {'false':>5s} {'of which flash':>14s} {'precision':>9s} {'recall':>6s}")
    for thr in SWEEP:
        det = {int(k) for k in boundary[diffs > thr]}
        s = score(det, cuts, flash)
        mark = "  <- default" if abs(thr - DEFAULT_THRESHOLD) < 1e-9 else ""
        print(f"  {thr:9.3f} {len(s['missed']):6d} {len(s['false']):5d} {len(s['flash']):14d} "
              f"{s['precision']:9.2f} {s['recall']:6.2f}{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
