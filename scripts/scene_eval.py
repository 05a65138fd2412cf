#!/usr/bin/env python3
"""Scene-cut decisions with exact ground truth, next to MVTools and scxvid, and what they cost in
interpolation quality.

Synthetic clips (``--seeds``): shots over the photographs bundled with scikit-image, each built to
be hard for a cheap metric, every frame an exact function of time (``vsrife.synthetic.Shot``), so
the true in-between frame at t = 0.5 is known. In-shot pair kinds:

  pan       pans of 2..10 % of the frame width per frame, several photographs and directions,
            one accelerating from 0 to 10 %
  handheld  slow pans with fast hand-held shake
  object    a cut-out of another photograph crossing the frame at 6..10 % over a (nearly) still
            background
  zoom      zooms in and out of up to 20 % per frame
  rotation  rotations of 3..9 degrees per frame, some with a pan
  blur      fast pans, a rotation, a zoom and a moving object with motion blur (each frame the
            mean of 12 instants over an exposure of 1/2 or 1 frame interval)
  lowfps    motions of the kinds above filmed at 10-15 fps: 24 fps motions with 24/fps times larger
            steps (and faster shake), still at most 10 % of the width per frame
  fade      fades out (to 25 %) and in, dissolves (cross-fades) between two panning shots
  flash     the two pairs touching a flash frame (one frame washed towards white; a slow pan)

Every shot boundary is a cut. Cut kinds: ``cut:different`` (different photographs),
``cut:same-photo`` (two regions of one photograph, same motion, the second shot jumping at least
40 % of the width away from where the first would continue), ``cut:texture`` (brick -> brick,
gravel -> gravel, grass -> gravel), ``cut:close-up`` (the same photograph seen 1.6 to 2 x closer).
Shot lengths (6..12 frames), positions and the directions marked random come from the seed. No
in-shot pair moves any picture content by more than 10 % of the frame width (the target range).

Real clips (``--clips``, tests/helpers.py footage): labelled by inspection (see REAL_CUTS), and
the same clips at half rate (every odd frame dropped: twice the motion per frame).

Detectors are functions ``decide(clip) -> list[bool]`` (entry i: a cut between frames i and i+1)
in DETECTORS: ``stage1`` (vsrife.scene.pair_differences > DEFAULT_THRESHOLD, on the YUV420P8
clip), ``mvtools`` (SCDetection with forward vectors, default thresholds, YUV420P8), ``scxvid``
(defaults, YUV420P8, frames requested in order), ``rife`` (``vsrife.RIFE(clip, 2, model=...,
sc=True)`` on the RGBS clip; pair i is a cut when output frame 2i + 1 has ``RifeSceneCut = 1``:
the filter's own decision, whatever detector it uses).

Quality (unless ``--no-quality``): PSNR (dB, RGB, whole frame, mean over pairs) of RIFE's t = 0.5
frame with sc=True and sc=False against the exact in-between (synthetic, every in-shot pair but the
flash pairs) or, on the half-rate real clips, against the dropped real frame; pairs that span a
labelled cut are reported apart. The sc=True run is the one the ``rife`` detector reads.

Usage:
  .venv/bin/python scripts/scene_eval.py [--seeds 1] [--kinds all] [--clips bikes,carphone,bigbuckbunny]
      [--detectors stage1,mvtools,scxvid,rife] [--model hdv3] [--no-quality] [--size 320x192]
      [--real-width 640] [--shots] [--list]
  .venv/bin/python scripts/scene_eval.py --sheet bikes:29,75 --out sheet.png   # frames around pairs
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import vapoursynth as vs

from tests.helpers import footage, psnr
from vsrife.formats import read_colour
from vsrife.scene import DEFAULT_THRESHOLD, SCORE_PROP, pair_differences
from vsrife.synthetic import Camera, PhotoLibrary, Shot, Sprite, clip_from_frames, place, render

core = vs.core

REF_WIDTH = 320  # lens 1 = one image pixel per screen pixel at this width
TARGET_STEP = 0.10  # targets: no false cut on motion up to 10 % of the width per frame
SWEEP = [round(0.006 + 0.002 * i, 3) for i in range(13)]  # 0.006 .. 0.030
MOTION_KINDS = ("pan", "handheld", "object", "zoom", "rotation", "blur", "lowfps", "fade")
CUT_KINDS = ("cut:different", "cut:same-photo", "cut:texture", "cut:close-up")
KINDS = (*MOTION_KINDS, "flash", *CUT_KINDS)
MIN_JUMP = 0.4  # a same-photo cut jumps at least this fraction of the width

# ------------------------------------------------------------------------------------ real footage labels

REAL_CUTS: dict[str, tuple[int, ...]] = {
    # pair i = a cut between frames i and i + 1 (0-based, as decoded by BestSource).
    # Decided by looking at every frame (contact sheets of all frames, 10 per row, then 4-frame
    # strips around each of the 12 highest stage-1 scores, written with --sheet and viewed):
    # bikes: six shots (road from above 0-29, man and parked cars 30-75, taxi with a cyclist
    #   76-136, street behind railings 137-186, legs walking past a bollard 187-241, close-up of a
    #   bicycle 242-249). The other high scores (pairs 98-102, 81, 83) are a blurred van driving
    #   through the foreground of the taxi shot: motion, no cut.
    # carphone: one shot (a man talking in a car, the window behind him); no cut.
    # bigbuckbunny: one shot (the rabbit stepping out of its burrow, a still camera); no cut. Its
    #   highest scores (pairs 37-43, 105) are the rabbit's fast arm movements.
    "bikes": (29, 75, 136, 186, 241),
    "carphone": (),
    "bigbuckbunny": (),
    # the OpenCV sample clips (issue 12's five): megamind, an animated trailer: a dark title frame
    #   (0), then shots 1-97, 98-153, 154-199, 200-269; tree: one shot, a tree swaying, a hand
    #   sweeping into view over its last 15 frames (pairs 53-66 score high: motion, no cut);
    #   vtest (pedestrians, static camera), cup and box (hand-held objects): one shot each.
    "megamind": (0, 97, 153, 199),
    "tree": (),
    "vtest": (),
    "cup": (),
    "box": (),
}

# ------------------------------------------------------------------------------------ the synthetic catalogue


@dataclass(frozen=True)
class Motion:
    """A camera motion in screen units: ``speed`` = fraction of the frame width per frame,
    ``angle`` in degrees (0 = content moves left, the camera right; None = random per seed),
    ``accel``: the speed grows from 0 at the first frame to ``speed`` at the last; ``shake`` =
    hand-held amplitude (fraction of the width); ``zoom`` per frame; ``spin`` degrees per frame;
    ``lens`` image pixels per screen pixel at 320 wide (< 1 magnifies)."""

    image: str
    speed: float = 0.0
    angle: float | None = None
    accel: bool = False
    shake: float = 0.0
    zoom: float = 1.0
    spin: float = 0.0
    lens: float = 1.0


@dataclass(frozen=True)
class Thing:
    """A cut-out of ``image`` crossing the screen at ``speed`` (fraction of the width per frame) in
    direction ``angle`` (degrees, 0 = to the right, 90 = down), entering from outside."""

    image: str
    speed: float
    angle: float
    radius: float = 0.32  # fraction of the frame height (vertical radius; horizontal 1.3 x that)


@dataclass(frozen=True)
class Spec:
    kind: str
    note: str
    motion: Motion
    frames: tuple[int, int] = (7, 12)  # length range, drawn per seed
    thing: Thing | None = None
    dissolve: Motion | None = None
    gain: tuple[float, float] = (1.0, 1.0)
    flash: bool = False
    shutter: float = 0.0
    fps: float = 24.0  # filmed at: the motion (given at 24 fps) is 24 / fps times faster per frame
    cut: str = "cut:different"  # the cut into this shot from the previous one of its group
    place: str = "random"  # "away": far from where the previous shot would go on; "near": where it ended


M, S, T = Motion, Spec, Thing

CATALOGUE: tuple[tuple[Spec, ...], ...] = (
    (S("pan", "pan 2%", M("astronaut", 0.02)),),
    (S("pan", "pan 10% horizontal", M("hubble_deep_field", 0.10, 0)),),
    (S("object", "object 8% from the left, still background", M("coffee"), thing=T("astronaut", 0.08, 0)),),
    (S("zoom", "zoom in 10%/f", M("retina", zoom=1.10)),),
    (
        S("pan", "pan 4% right", M("camera", 0.04, 0)),
        S("pan", "same photo, far region", M("camera", 0.04, 0), cut="cut:same-photo", place="away"),
    ),
    (S("rotation", "rotate 3 deg/f", M("rocket", spin=3)),),
    (S("handheld", "pan 1% + shake 2.5%", M("chelsea", 0.01, shake=0.025)),),
    (S("blur", "pan 8%, 180-degree shutter", M("retina", 0.08), shutter=0.5),),
    (S("lowfps", "pan 4% at 10 fps", M("hubble_deep_field", 0.04), fps=10),),
    (S("pan", "pan 6% left", M("rocket", 0.06, 180)),),
    (S("fade", "pan 2% + fade out to 25%", M("moon", 0.02), gain=(1.0, 0.25)),),
    (S("pan", "pan 10% vertical", M("immunohistochemistry", 0.10, 90)),),
    (
        S("pan", "pan 4% brick", M("brick", 0.04)),
        S("pan", "brick, far region", M("brick", 0.04), cut="cut:texture", place="away"),
    ),
    (S("object", "object 10% from the right, still background", M("astronaut"), thing=T("chelsea", 0.10, 180)),),
    (S("pan", "pan 8% diagonal", M("retina", 0.08, 135)),),
    (S("zoom", "zoom out 12%/f + pan 2%", M("hubble_deep_field", 0.02, zoom=1 / 1.12)),),
    (S("pan", "pan 2% + flash frame", M("clock", 0.02), flash=True),),
    (S("rotation", "rotate 6 deg/f", M("retina", spin=6)),),
    (S("lowfps", "pan 2% + shake 2% at 12 fps", M("chelsea", 0.02, shake=0.02), fps=12),),
    (S("pan", "pan 10%", M("stereo_motorcycle", 0.10)),),
    (S("blur", "object 10%, 360-degree shutter", M("grass", 0.01), thing=T("coffee", 0.10, 0), shutter=1.0),),
    (
        S("pan", "wide, pan 1%", M("astronaut", 0.01)),
        S("pan", "close-up x2", M("astronaut", 0.01, lens=0.5), cut="cut:close-up", place="near"),
    ),
    (S("fade", "dissolve pan 2% -> pan 2%", M("coffee", 0.02), dissolve=M("retina", 0.02), frames=(10, 12)),),
    (S("pan", "pan 8% vertical", M("cell", 0.08, 270)),),
    (
        S(
            "object",
            "object 6% from the top, panning background",
            M("hubble_deep_field", 0.01),
            thing=T("retina", 0.06, 90),
        ),
    ),
    (S("lowfps", "zoom in 4.5%/f at 12 fps", M("astronaut", zoom=1.045), fps=12),),
    (
        S("pan", "pan 3%", M("hubble_deep_field", 0.03, 0)),
        S("pan", "same photo, far region", M("hubble_deep_field", 0.03, 0), cut="cut:same-photo", place="away"),
    ),
    (S("handheld", "pan 3% + shake 3%", M("gravel", 0.03, shake=0.03)),),
    (S("rotation", "rotate 4 deg/f + pan 4%", M("coffee", 0.04, spin=4)),),
    (S("blur", "pan 10%, 360-degree shutter", M("retina", 0.10), shutter=1.0),),
    (S("pan", "pan 6%", M("camera", 0.06)),),
    (S("lowfps", "rotate 3 deg/f at 15 fps", M("coffee", spin=3), fps=15),),
    (S("fade", "pan 3% + fade in from 20%", M("coins", 0.03), gain=(0.2, 1.0)),),
    (
        S("pan", "pan 5% gravel", M("gravel", 0.05)),
        S("pan", "gravel, far region", M("gravel", 0.05), cut="cut:texture", place="away"),
    ),
    (S("zoom", "zoom in 16%/f", M("astronaut", zoom=1.16), frames=(6, 9)),),
    (S("object", "object 10% diagonal, still background", M("camera"), thing=T("rocket", 0.10, 45)),),
    (S("pan", "pan 8% brick", M("brick", 0.08)),),
    (S("lowfps", "object 5% at 12 fps", M("rocket"), thing=T("astronaut", 0.05, 180), fps=12),),
    (S("pan", "accelerating pan 0 -> 10%", M("retina", 0.10, accel=True)),),
    (S("handheld", "still + shake 4%", M("cell", shake=0.04)),),
    (S("blur", "rotate 6 deg/f, 360-degree shutter", M("hubble_deep_field", spin=6), shutter=1.0),),
    (
        S("pan", "pan 8% right", M("retina", 0.08, 0)),
        S("pan", "same photo, far region", M("retina", 0.08, 0), cut="cut:same-photo", place="away"),
    ),
    (S("rotation", "rotate 9 deg/f", M("astronaut", spin=9), frames=(6, 9)),),
    (S("fade", "dissolve pan 6% -> pan 6%", M("retina", 0.06), dissolve=M("hubble_deep_field", 0.06), frames=(9, 11)),),
    (S("pan", "pan 10% diagonal", M("grass", 0.10, 45)),),
    (S("lowfps", "pan 4% + zoom 4% + rotate 3 deg/f at 12 fps", M("retina", 0.02, zoom=1.02, spin=1.5), fps=12),),
    (S("pan", "pan 4% grass", M("grass", 0.04)), S("pan", "gravel", M("gravel", 0.04), cut="cut:texture")),
    (S("blur", "zoom in 10%/f, 360-degree shutter", M("astronaut", zoom=1.10), shutter=1.0, frames=(6, 9)),),
    (S("zoom", "zoom out 15%/f", M("retina", zoom=1 / 1.15)),),
    (S("pan", "pan 4% + flash frame", M("camera", 0.04), flash=True),),
    (
        S("pan", "wide, still", M("rocket")),
        S("pan", "close-up x1.6", M("rocket", lens=0.625), cut="cut:close-up", place="near"),
    ),
    (
        S("pan", "pan 6% motorbike", M("stereo_motorcycle", 0.06, 0)),
        S("pan", "same photo, far region", M("stereo_motorcycle", 0.06, 0), cut="cut:same-photo", place="away"),
    ),
)


# ------------------------------------------------------------------------------------ building the synthetic clip


@dataclass
class Placed:
    spec: Spec
    shot: Shot
    start: int  # first frame in the clip
    cut_in: str  # kind of the cut into this shot ("" for the first)
    label: str  # "seed:index photograph note"


@dataclass
class Labelled:
    """A clip with per-pair ground truth. Pair i = frames i and i + 1."""

    name: str
    yuv: vs.VideoNode  # YUV420P8 (stage1, MVTools, scxvid)
    rgb: vs.VideoNode  # RGBS (RIFE)
    kind: list[str]  # per pair: a motion kind, "flash", a cut kind ("cut:..."); "motion"/"cut" on real clips
    step: list[float]  # per pair: largest displacement as a fraction of the width (nan where unknown)
    shot: list[str]  # per pair: the shot it lies in ("" for cuts)
    truth: Callable[[int], np.ndarray] | None = None  # the true RGB 3 x H x W frame at t = 0.5 of pair i
    scored: list[bool] = field(default_factory=list)  # pairs the quality report scores

    @property
    def cut(self) -> list[bool]:
        return [k.startswith("cut") for k in self.kind]


def _camera(m: Motion, frames: int, unit: float, rng: np.random.Generator) -> Camera:
    """Velocities in image pixels: a fraction of the width at 320 wide, times the lens."""
    px = REF_WIDTH * m.lens
    a = math.radians(float(rng.uniform(0, 360)) if m.angle is None else m.angle)
    vx, vy = m.speed * px * math.cos(a), m.speed * px * math.sin(a)
    ax = ay = 0.0
    if m.accel:  # speed from 0 at the first frame to m.speed at the last
        ax, ay, vx, vy = vx / max(frames - 1, 1), vy / max(frames - 1, 1), 0.0, 0.0
    shake = (
        tuple(
            (
                m.shake * px / 2,
                float(rng.uniform(0.5, 1.5)),
                float(rng.uniform(0, 2 * np.pi)),
                float(rng.uniform(0, 2 * np.pi)),
            )
            for _ in range(3)
        )
        if m.shake
        else ()
    )
    return Camera(
        m.image, scale=m.lens * unit, vx=vx, vy=vy, ax=ax, ay=ay, zoom=m.zoom, spin=math.radians(m.spin), shake=shake
    )


def _thing(t: Thing, lens: float, width: int, height: int, library: PhotoLibrary, rng: np.random.Generator) -> Sprite:
    """The cut-out starts just outside the frame (its centre a radius beyond the edge it enters
    from, at a random offset across its path) and crosses it."""
    ry = t.radius * height
    rx = 1.3 * ry
    scale = lens * REF_WIDTH / width
    iw, ih = library.size(t.image)
    sx = float(rng.uniform(rx * scale + 3, iw - 4 - rx * scale))
    sy = float(rng.uniform(ry * scale + 3, ih - 4 - ry * scale))
    a = math.radians(t.angle)
    dx, dy = math.cos(a), math.sin(a)
    reach = abs(dx) * (width / 2 + rx) + abs(dy) * (height / 2 + ry)
    side = float(rng.uniform(-0.25, 0.25)) * height
    x = (width - 1) / 2 - dx * reach - dy * side
    y = (height - 1) / 2 - dy * reach + dx * side
    return Sprite(t.image, sx, sy, rx, ry, x, y, t.speed * width * dx, t.speed * width * dy, scale)


def _shot(
    spec: Spec,
    width: int,
    height: int,
    library: PhotoLibrary,
    rng: np.random.Generator,
    previous: Shot | None,
    mode: str,
) -> Shot:
    """``spec`` drawn and placed; ``mode`` = "random", "near" or "away" (see Spec.place)."""
    frames = int(rng.integers(spec.frames[0], spec.frames[1] + 1))
    unit = REF_WIDTH / width
    shot = Shot(
        _camera(spec.motion, frames, unit, rng),
        frames,
        sprite=_thing(spec.thing, spec.motion.lens, width, height, library, rng) if spec.thing else None,
        dissolve=_camera(spec.dissolve, frames, unit, rng) if spec.dissolve else None,
        gain=spec.gain,
        flash=frames // 2 if spec.flash else None,
        shutter=spec.shutter,
    )
    if spec.fps != 24.0:
        shot = shot.retimed(24.0 / spec.fps)
    near = away = None
    if previous is not None and mode == "near":
        near = previous.camera.centre(previous.frames - 1)
    elif previous is not None and mode == "away":
        away = previous.camera.centre(previous.frames)  # where the first shot would have gone on
    shot = place(shot, width, height, library, rng, near=near, away=away)
    if shot.flash is not None and shot.flash >= shot.frames - 1:  # shortened by place()
        shot = replace(shot, flash=shot.frames // 2)
    return shot


def _wanted(group: Sequence[Spec], kinds: set[str]) -> bool:
    return any(s.kind in kinds or (i and s.cut in kinds) or (s.flash and "flash" in kinds) for i, s in enumerate(group))


def build_shots(seed: int, width: int, height: int, kinds: set[str], library: PhotoLibrary) -> list[Placed]:
    """The catalogue's groups that contain any of ``kinds`` (shot kinds, cut kinds, "flash"),
    placed for ``seed``; each group draws from its own random stream, so selecting kinds does not
    change the shots that remain."""
    out: list[Placed] = []
    start = 0
    for g, group in enumerate(CATALOGUE):
        if not _wanted(group, kinds):
            continue
        rng = np.random.default_rng([seed, g])
        for i, spec in enumerate(group):
            if i:
                previous, mode = out[-1].shot, spec.place
            elif out and _end_image(out[-1].shot) == spec.motion.image:
                # selected kinds can put two groups over one photograph next to each other: make
                # that a real cut too, far from where the previous shot would go on
                previous, mode = out[-1].shot, "away"
            else:
                previous, mode = None, "random"
            shot = _shot(spec, width, height, library, rng, previous, mode)
            if i:
                cut_in = spec.cut
            elif out:
                cut_in = "cut:same-photo" if _end_image(out[-1].shot) == shot.camera.image else "cut:different"
            else:
                cut_in = ""
            out.append(Placed(spec, shot, start, cut_in, f"{seed}:{len(out):02d} {spec.motion.image} {spec.note}"))
            start += shot.frames
    return out


def _end_image(shot: Shot) -> str:
    return (shot.dissolve or shot.camera).image


def pair_labels(shots: Sequence[Placed], width: int, height: int) -> tuple[list[str], list[float], list[str]]:
    """Per pair of the concatenated shots: kind, largest step / width, owning shot."""
    kind: list[str] = []
    step: list[float] = []
    owner: list[str] = []
    for p in shots:
        if p.cut_in:
            kind.append(p.cut_in)
            step.append(math.nan)
            owner.append("")
        for k in range(p.shot.frames - 1):
            flash = p.shot.flash in (k, k + 1)
            kind.append("flash" if flash else p.spec.kind)
            step.append(p.shot.step(k, width, height) / width)
            owner.append(p.label)
    return kind, step, owner


def jump(prev: Placed, nxt: Placed, width: int) -> float:
    """How far (fraction of the width, screen units of the first shot) the second shot's start is
    from where the first shot would have gone on."""
    (x0, y0), (x1, y1) = prev.shot.camera.centre(prev.shot.frames), nxt.shot.camera.centre(0)
    return math.hypot(x1 - x0, y1 - y0) / prev.shot.camera.scale / width


def synthetic_clip(
    seed: int, width: int, height: int, kinds: set[str], library: PhotoLibrary
) -> tuple[Labelled, list[Placed]]:
    shots = build_shots(seed, width, height, kinds, library)
    frames = [render(p.shot, float(k), width, height, library) for p in shots for k in range(p.shot.frames)]
    kind, step, owner = pair_labels(shots, width, height)
    # pair index -> (shot, local frame of the pair's first frame), for the exact in-betweens
    where = {p.start + k: (p, k) for p in shots for k in range(p.shot.frames - 1)}

    def truth(i: int) -> np.ndarray:
        p, k = where[i]
        return render(p.shot, k + 0.5, width, height, library)

    rgb = clip_from_frames(frames)
    yuv = materialised(rgb.resize.Bicubic(format=vs.YUV420P8, matrix_s="709", range_s="limited"))
    scored = [k in MOTION_KINDS for k in kind]
    return Labelled(f"synthetic seed {seed}", yuv, rgb, kind, step, owner, truth, scored), shots


def materialised(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` with its frames computed once and kept in memory (detector timings then measure
    the detector, not the rendering)."""
    planes = [[np.asarray(f[p]).copy() for p in range(f.format.num_planes)] for f in clip.frames()]
    blank = core.std.BlankClip(clip, length=len(planes))

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p, arr in enumerate(planes[n]):
            np.copyto(np.asarray(out[p]), arr)
        return out

    return blank.std.ModifyFrame(blank, fill)


# ------------------------------------------------------------------------------------ real clips


def real_clip(name: str, max_width: int) -> Labelled:
    """A real clip as decoded, shrunk to at most ``max_width`` (keeping its colour matrix), with
    the labels of REAL_CUTS."""
    yuv = core.bs.VideoSource(str(footage(name)))
    if yuv.format.color_family == vs.RGB:  # tree.avi: RGB24; the YUV detectors get it as BT.709
        yuv = yuv.resize.Bicubic(format=vs.YUV420P8, matrix_s="709")
    colour = read_colour(yuv, yuv.get_frame(0).props)
    if yuv.width > max_width:
        h = round(yuv.height * max_width / yuv.width / 2) * 2
        yuv = yuv.resize.Bicubic(max_width, h).std.SetFrameProps(_Matrix=colour.matrix)
    rgb = yuv.resize.Bicubic(format=vs.RGBS, **colour.to_rgb_kwargs())
    cuts = set(REAL_CUTS[name])
    n = yuv.num_frames - 1
    return Labelled(name, yuv, rgb, ["cut" if i in cuts else "motion" for i in range(n)], [math.nan] * n, [name] * n)


def half_rate(clip: Labelled) -> Labelled:
    """Every odd frame dropped. Pair j (frames 2j, 2j + 2) is a cut if a labelled cut lies between;
    its true in-between is the dropped real frame 2j + 1 (scored for quality: pairs with a cut
    apart)."""
    n = (clip.yuv.num_frames + 1) // 2 - 1
    kind = ["cut" if "cut" in (clip.kind[2 * j], clip.kind[2 * j + 1]) else "motion" for j in range(n)]

    def truth(j: int) -> np.ndarray:
        return frame_array(clip.rgb.get_frame(2 * j + 1))

    return Labelled(
        f"{clip.name}@half",
        clip.yuv[::2],
        clip.rgb[::2],
        kind,
        [math.nan] * n,
        [f"{clip.name}@half"] * n,
        truth,
        [True] * n,
    )


def frame_array(f: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(f[p]) for p in range(f.format.num_planes)])


# ------------------------------------------------------------------------------------ detectors


@dataclass(frozen=True)
class Detector:
    """``decide(clip)`` -> one bool per pair (entry i: a cut between frames i and i + 1), given
    the clip in the format ``wants``: "yuv" (YUV420P8) or "rgb" (RGBS)."""

    decide: Callable[[vs.VideoNode], list[bool]]
    wants: str


def stage1_scores(clip: vs.VideoNode) -> list[float]:
    return [float(f.props[SCORE_PROP]) for f in pair_differences(clip).frames()][:-1]


def _stage1(clip: vs.VideoNode) -> list[bool]:
    return [s > DEFAULT_THRESHOLD for s in stage1_scores(clip)]


def _prev_flags(clip: vs.VideoNode) -> list[bool]:
    """``_SceneChangePrev`` of frames 1.. as pair decisions, frames requested strictly in order
    (scxvid keeps state and needs that)."""
    return [bool(clip.get_frame(n).props.get("_SceneChangePrev", 0)) for n in range(1, clip.num_frames)]


def _plugin(name: str, package: str) -> None:
    if not hasattr(core, name):
        raise SystemExit(f"scene_eval: the {name} plugin is missing: pip install {package} (or .[eval])")


def _mvtools(clip: vs.VideoNode) -> list[bool]:
    _plugin("mv", "vapoursynth-mvtools")
    vectors = core.mv.Analyse(core.mv.Super(clip), isb=False)  # forward vectors -> _SceneChangePrev
    return _prev_flags(core.mv.SCDetection(clip, vectors))  # thscd1=400, thscd2=130 (defaults)


def _scxvid(clip: vs.VideoNode) -> list[bool]:
    _plugin("scxvid", "vapoursynth-scxvid")
    return _prev_flags(core.scxvid.Scxvid(clip))


@dataclass
class Run:
    """Results of one RIFE(clip, 2, sc=...) node, filled pair by pair."""

    node: vs.VideoNode
    cut: dict[int, bool] = field(default_factory=dict)  # RifeSceneCut of output frame 2i + 1
    psnr: dict[int, float] = field(default_factory=dict)  # that frame against the truth
    seconds: float = 0.0


class RifeRuns:
    """``vsrife.RIFE(clip, 2, model=..., sc=...)`` per clip and sc, each frame computed once: the
    ``rife`` detector and the quality report share the sc=True run."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._runs: dict[tuple[int, bool], tuple[vs.VideoNode, Run]] = {}  # the clip is kept so its id stays unique

    def run(
        self, clip: vs.VideoNode, sc: bool, pairs: Iterable[int], truth: Callable[[int], np.ndarray] | None = None
    ) -> Run:
        key = (id(clip), sc)
        if key not in self._runs:
            import vsrife

            self._runs[key] = (clip, Run(vsrife.RIFE(clip, 2, model=self.model, sc=sc)))
        run = self._runs[key][1]
        start = time.perf_counter()
        for i in pairs:
            if i in run.cut and (truth is None or i in run.psnr):
                continue
            f = run.node.get_frame(2 * i + 1)
            run.cut[i] = bool(f.props.get("RifeSceneCut", 0))
            if truth is not None:
                run.psnr[i] = psnr(frame_array(f), truth(i))
        run.seconds += time.perf_counter() - start
        return run

    def seconds(self, clip: vs.VideoNode, sc: bool) -> float:
        entry = self._runs.get((id(clip), sc))
        return entry[1].seconds if entry else 0.0

    def result(self, clip: vs.VideoNode, sc: bool) -> Run | None:
        entry = self._runs.get((id(clip), sc))
        return entry[1] if entry else None

    def decide(self, clip: vs.VideoNode) -> list[bool]:
        pairs = range(clip.num_frames - 1)
        run = self.run(clip, True, pairs)
        return [run.cut[i] for i in pairs]


def make_detectors(runs: RifeRuns) -> dict[str, Detector]:
    """Every detector the evaluation knows. Add one here to evaluate it."""
    return {
        "stage1": Detector(_stage1, "yuv"),
        "mvtools": Detector(_mvtools, "yuv"),
        "scxvid": Detector(_scxvid, "yuv"),
        "rife": Detector(runs.decide, "rgb"),
    }


@dataclass
class Decisions:
    cut: list[bool]
    seconds: float


def detect(clip: Labelled, detectors: dict[str, Detector]) -> dict[str, Decisions]:
    out = {}
    for name, det in detectors.items():
        start = time.perf_counter()
        cut = det.decide(clip.yuv if det.wants == "yuv" else clip.rgb)
        if len(cut) != len(clip.kind):
            raise SystemExit(f"scene_eval: detector {name} returned {len(cut)} decisions for {len(clip.kind)} pairs")
        out[name] = Decisions(list(cut), time.perf_counter() - start)
    return out


def quality(clip: Labelled, runs: RifeRuns) -> None:
    """PSNR of the t = 0.5 frame with sc=True and sc=False on every scored pair (the truth is
    rendered once per pair)."""
    assert clip.truth is not None
    for i in (i for i, s in enumerate(clip.scored) if s):
        t = clip.truth(i)
        for sc in (True, False):
            runs.run(clip.rgb, sc, [i], lambda _, t=t: t)


# ------------------------------------------------------------------------------------ reports


@dataclass
class Evaluated:
    clip: Labelled
    decisions: dict[str, Decisions]
    scores: list[float]  # stage-1 metric per pair (YUV420P8)
    shots: list[Placed] = field(default_factory=list)


def _cell(v: object) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """First column left-aligned, the others right-aligned."""
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    for r in [list(header), *cells]:
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def _nanmax(v: Sequence[float]) -> float:
    v = [x for x in v if not math.isnan(x)]
    return max(v) if v else math.nan


def _errors(e: Evaluated, det: str, idx: Sequence[int]) -> int:
    """Wrong decisions among pairs ``idx``: missed cuts or false cuts."""
    d, cut = e.decisions[det].cut, e.clip.cut
    return sum(d[i] != cut[i] for i in idx)


def _pooled(evals: Sequence[Evaluated], select: Callable[[Labelled, int], bool]) -> list[tuple[Evaluated, list[int]]]:
    return [(e, [i for i in range(len(e.clip.kind)) if select(e.clip, i)]) for e in evals]


def report_kinds(evals: Sequence[Evaluated], dets: Sequence[str]) -> None:
    print("per kind (pooled over seeds): false cuts on motion/flash rows, missed cuts on cut rows;")
    print(
        f"stage-1 score = largest in-shot score (motion, flash) or smallest cut score (cuts); threshold {DEFAULT_THRESHOLD}"
    )
    rows = []
    for kind in KINDS:
        sel = _pooled(evals, lambda c, i, k=kind: c.kind[i] == k)
        n = sum(len(idx) for _, idx in sel)
        if not n:
            continue
        scores = [e.scores[i] for e, idx in sel for i in idx]
        steps = [e.clip.step[i] for e, idx in sel for i in idx]
        score = min(scores) if kind.startswith("cut") else max(scores)
        step = _nanmax(steps)
        rows.append(
            [
                kind,
                n,
                "-" if math.isnan(step) else f"{100 * step:.1f}",
                score,
                *(sum(_errors(e, d, idx) for e, idx in sel) for d in dets),
            ]
        )
    table(["kind", "pairs", "max step %", "stage-1 score", *dets], rows)
    print()
    targets = (
        (
            "motion <= 10%/frame (flash excluded): false cuts",
            lambda c, i: c.kind[i] in MOTION_KINDS and c.step[i] <= TARGET_STEP + 1e-9,
        ),
        ("cuts: missed", lambda c, i: c.cut[i]),
        ("flash pairs: cut", lambda c, i: c.kind[i] == "flash"),
    )
    rows = []
    for name, pred in targets:
        sel = _pooled(evals, pred)
        rows.append([name, sum(len(idx) for _, idx in sel), *(sum(_errors(e, d, idx) for e, idx in sel) for d in dets)])
    table(["target (goal: 0 in the first two rows)", "pairs", *dets], rows)
    print()


def report_shots(evals: Sequence[Evaluated], dets: Sequence[str], runs: RifeRuns | None) -> None:
    print(
        "per shot: largest step, largest stage-1 score, false cuts per detector (flash pairs included); with --quality the mean"
    )
    print("PSNR (dB) of the t = 0.5 frame against the exact in-between, sc=False / sc=True (flash pairs left out)")
    rows = []
    for e in evals:
        on, off = (runs.result(e.clip.rgb, sc) if runs else None for sc in (True, False))
        for p in e.shots:
            idx = [i for i, o in enumerate(e.clip.shot) if o == p.label]
            if not idx:
                continue
            row = [
                p.label,
                p.spec.kind,
                p.shot.frames,
                f"{100 * _nanmax([e.clip.step[i] for i in idx]):.1f}",
                max(e.scores[i] for i in idx),
                *(_errors(e, d, idx) for d in dets),
            ]
            scored = [i for i in idx if e.clip.scored[i]]
            if on and off and scored and all(i in on.psnr and i in off.psnr for i in scored):
                a, b = (float(np.mean([r.psnr[i] for i in scored])) for r in (off, on))
                row += [f"{a:.2f}", f"{b:.2f}", f"{b - a:+.3f}"]
            else:
                row += ["-", "-", "-"]
            rows.append(row)
    table(["shot", "kind", "frames", "step %", "stage-1 max", *dets, "PSNR off", "PSNR on", "on-off"], rows)
    print()


def report_cuts(evals: Sequence[Evaluated], dets: Sequence[str], lowest: int = 12) -> None:
    cuts = [(e.scores[i], e, i) for e in evals for i, c in enumerate(e.clip.cut) if c]
    missed = [(s, e, i) for s, e, i in cuts if any(not e.decisions[d].cut[i] for d in dets)]
    show = sorted(
        {(id(e), i): (s, e, i) for s, e, i in sorted(cuts, key=lambda x: x[0])[:lowest] + missed}.values(),
        key=lambda x: x[0],
    )
    print(f"cuts: the {lowest} lowest stage-1 scores and every cut a detector missed (pair i = frames i, i+1)")
    rows = []
    for s, e, i in show:
        before = e.clip.shot[i - 1] if i else ""
        after = e.clip.shot[i + 1] if i + 1 < len(e.clip.shot) else ""
        rows.append(
            [
                f"{e.clip.name} pair {i}",
                e.clip.kind[i],
                s,
                ",".join(d for d in dets if not e.decisions[d].cut[i]) or "-",
                f"{before} -> {after}",
            ]
        )
    table(["cut", "kind", "stage-1", "missed by", "shots"], rows)
    print()


def report_sweep(evals: Sequence[Evaluated]) -> None:
    print("stage-1 threshold sweep (pooled seeds): false cuts on motion <= 10%, flash pairs cut, missed cuts")
    motion = [
        (e.scores[i])
        for e in evals
        for i, k in enumerate(e.clip.kind)
        if k in MOTION_KINDS and e.clip.step[i] <= TARGET_STEP + 1e-9
    ]
    flash = [e.scores[i] for e in evals for i, k in enumerate(e.clip.kind) if k == "flash"]
    cuts = [e.scores[i] for e in evals for i, c in enumerate(e.clip.cut) if c]
    rows = [
        [
            f"{t:.3f}" + (" (default)" if abs(t - DEFAULT_THRESHOLD) < 1e-9 else ""),
            sum(s > t for s in motion),
            sum(s > t for s in flash),
            sum(s <= t for s in cuts),
        ]
        for t in SWEEP
    ]
    table(["threshold", "false", "flash", "missed"], rows)
    print()


def report_real(evals: Sequence[Evaluated], dets: Sequence[str]) -> None:
    print("real clips (labels: REAL_CUTS; @half = every odd frame dropped): missed / false cuts per detector")
    rows = []
    for e in evals:
        cut = e.clip.cut
        still = [i for i, c in enumerate(cut) if not c]
        top = max(still, key=lambda i: e.scores[i]) if still else None
        low = min((e.scores[i] for i, c in enumerate(cut) if c), default=math.nan)
        rows.append(
            [
                e.clip.name,
                e.clip.yuv.width,
                len(cut),
                sum(cut),
                f"{e.scores[top]:.4f} @{top}" if top is not None else "-",
                low,
                *(f"{_errors(e, d, [i for i, c in enumerate(cut) if c])} / {_errors(e, d, still)}" for d in dets),
            ]
        )
    table(
        ["clip", "width", "pairs", "cuts", "stage-1 max in-shot", "stage-1 min cut", *(f"{d} m/f" for d in dets)], rows
    )
    print("  false cuts (pairs):")
    for e in evals:
        for d in dets:
            false = [i for i, (x, c) in enumerate(zip(e.decisions[d].cut, e.clip.cut)) if x and not c]
            if false:
                print(f"    {e.clip.name:<18s} {d:<8s} {false}")
    print()


def report_quality(synthetic: Sequence[Evaluated], real: Sequence[Evaluated], runs: RifeRuns) -> None:
    print(
        f"quality (model {runs.model}): mean PSNR (dB) of the t = 0.5 frame, sc=False vs sc=True (target: within 0.02 dB)"
    )
    rows = []

    def row(name: str, items: list[tuple[Evaluated, int]]) -> list[object]:
        off = [runs.result(e.clip.rgb, False).psnr[i] for e, i in items]
        on = [runs.result(e.clip.rgb, True).psnr[i] for e, i in items]
        held = sum(runs.result(e.clip.rgb, True).cut[i] for e, i in items)
        worst = min(b - a for a, b in zip(off, on))
        return [
            name,
            len(items),
            held,
            f"{np.mean(off):.3f}",
            f"{np.mean(on):.3f}",
            f"{np.mean(on) - np.mean(off):+.3f}",
            f"{worst:+.2f}",
        ]

    for kind in MOTION_KINDS:
        items = [(e, i) for e in synthetic for i, k in enumerate(e.clip.kind) if k == kind and e.clip.scored[i]]
        if items:
            rows.append(row(f"synthetic {kind}", items))
    items = [(e, i) for e in synthetic for i, s in enumerate(e.clip.scored) if s]
    if items:
        rows.append(row("synthetic, all scored pairs", items))
    for e in real:
        if e.clip.truth is None:
            continue
        for label, want in (("no cut", False), ("across a cut", True)):
            items = [(e, i) for i, c in enumerate(e.clip.cut) if c == want and e.clip.scored[i]]
            if items:
                rows.append(row(f"{e.clip.name} ({label})", items))
    table(["pairs", "n", "held (sc=True)", "PSNR off", "PSNR on", "on-off", "worst pair"], rows)
    print()


def report_times(evals: Sequence[Evaluated], dets: Sequence[str], runs: RifeRuns) -> None:
    print("detector time, seconds (rife: the whole sc=True run, interpolation included; shared with --quality)")
    rows = []
    for e in evals:
        rows.append(
            [
                e.clip.name,
                len(e.clip.kind),
                *(runs.seconds(e.clip.rgb, True) if d == "rife" else e.decisions[d].seconds for d in dets),
            ]
        )
    table(["clip", "pairs", *dets], rows)
    print()


# ------------------------------------------------------------------------------------ contact sheets, listing


def write_sheet(clip: vs.VideoNode, pairs: Sequence[int], path: Path, width: int = 240) -> None:
    """One row per pair i: frames i-1, i | i+1, i+2 (a red bar marks the boundary), RGB 8 bit."""
    import imageio.v3 as iio

    h = round(clip.height * width / clip.width / 2) * 2
    small = clip.resize.Bicubic(width, h, format=vs.RGB24)
    rows = []
    for i in pairs:
        row = []
        for n in range(i - 1, i + 3):
            img = np.ascontiguousarray(
                frame_array(small.get_frame(min(max(n, 0), clip.num_frames - 1))).transpose(1, 2, 0)
            )
            if n == i + 1:
                img[:, :3] = (255, 0, 0)
            row.append(np.pad(img, ((2, 2), (2, 2), (0, 0))))
        rows.append(np.concatenate(row, 1))
    iio.imwrite(path, np.concatenate(rows, 0))


def list_shots(shots: Sequence[Placed], width: int, height: int) -> None:
    rows = []
    for n, p in enumerate(shots):
        steps = [p.shot.step(k, width, height) / width for k in range(p.shot.frames - 1)]
        extra = f"jump {100 * jump(shots[n - 1], p, width):.0f}%" if p.cut_in == "cut:same-photo" else ""
        rows.append(
            [
                p.label,
                p.spec.kind,
                p.cut_in or "-",
                p.start,
                p.shot.frames,
                f"{100 * max(steps):.1f}",
                f"{p.shot.camera.scale * width / REF_WIDTH:.2f}",
                extra,
            ]
        )
    table(["shot", "kind", "cut into it", "start", "frames", "max step %", "lens", ""], rows)


# ------------------------------------------------------------------------------------ main


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def _names(text: str, known: Sequence[str], what: str, ap: argparse.ArgumentParser) -> list[str]:
    if text == "all":
        return list(known)
    if text == "none":
        return []
    names = [n for n in text.split(",") if n]
    bad = [n for n in names if n not in known]
    if bad:
        ap.error(f"unknown {what} {', '.join(bad)}; known: {', '.join(known)}")
    return names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="320x192", help="WxH of the synthetic clips (default 320x192; even numbers)")
    ap.add_argument("--seeds", default="1", help="synthetic seeds: 1 | 1,4 | 1-5 (default 1)")
    ap.add_argument("--kinds", default="all", help=f"synthetic kinds: all | none | a list of {', '.join(KINDS)}")
    ap.add_argument("--clips", default="all", help=f"real clips: all | none | a list of {', '.join(REAL_CUTS)}")
    ap.add_argument("--detectors", default="stage1,mvtools,scxvid,rife", help="detectors to run (see make_detectors)")
    ap.add_argument("--model", default="hdv3", help="RIFE model of the rife detector and the quality report")
    ap.add_argument("--no-quality", dest="quality", action="store_false", help="skip the sc=True/False quality report")
    ap.add_argument("--real-width", type=int, default=640, help="shrink real clips wider than this (default 640)")
    ap.add_argument("--shots", action="store_true", help="print the per-shot table even without --quality")
    ap.add_argument("--list", action="store_true", help="list the synthetic shots (steps, lenses, jumps) and exit")
    ap.add_argument(
        "--sheet",
        metavar="CLIP:PAIRS",
        help="write a contact sheet of frames around pairs, e.g. bikes:29,75 or synthetic:12 (first seed), and exit",
    )
    ap.add_argument("--out", default="scene_sheet.png", help="file for --sheet")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if width % 2 or height % 2:
        ap.error("--size must be even in both dimensions (YUV420P8)")
    kinds = set(_names(args.kinds, KINDS, "kind", ap))
    clips = _names(args.clips, list(REAL_CUTS), "clip", ap)
    seeds = _seeds(args.seeds) if kinds else []
    library = PhotoLibrary()

    if args.sheet:
        name, _, pairs = args.sheet.partition(":")
        clip = (
            synthetic_clip(seeds[0], width, height, kinds, library)[0]
            if name == "synthetic"
            else real_clip(name, args.real_width)
        )
        write_sheet(clip.rgb, [int(p) for p in pairs.split(",")], Path(args.out))
        print(f"scene_eval: wrote {args.out}")
        return 0
    if args.list:
        for seed in seeds:
            list_shots(build_shots(seed, width, height, kinds, library), width, height)
        return 0

    runs = RifeRuns(args.model)
    known = make_detectors(runs)
    dets = _names(args.detectors, list(known), "detector", ap)
    detectors = {d: known[d] for d in dets}
    print(
        f"scene_eval: synthetic {width}x{height} seeds {seeds or '-'}; real clips {clips or '-'} (at most "
        f"{args.real_width} wide); detectors {dets}; quality {'on, model ' + args.model if args.quality else 'off'}; "
        f"VapourSynth threads {core.num_threads}"
    )
    print()
    t0 = time.perf_counter()
    synthetic: list[Evaluated] = []
    for seed in seeds:
        clip, shots = synthetic_clip(seed, width, height, kinds, library)
        if args.quality:
            quality(clip, runs)
        synthetic.append(Evaluated(clip, detect(clip, detectors), stage1_scores(clip.yuv), shots))
        print(
            f"  {clip.name}: {clip.yuv.num_frames} frames, {len(shots)} shots, {sum(clip.cut)} cuts "
            f"({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
        )
    real: list[Evaluated] = []
    for name in clips:
        full = real_clip(name, args.real_width)
        for clip in (full, half_rate(full)):
            if args.quality and clip.truth is not None:
                quality(clip, runs)
            real.append(Evaluated(clip, detect(clip, detectors), stage1_scores(clip.yuv)))
            print(f"  {clip.name}: done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    if synthetic:
        print(
            f"synthetic clips: {sum(e.clip.yuv.num_frames for e in synthetic)} frames, "
            f"{sum(len(e.shots) for e in synthetic)} shots, {sum(sum(e.clip.cut) for e in synthetic)} cuts"
        )
        print()
        report_kinds(synthetic, dets)
        if args.quality or args.shots:
            report_shots(synthetic, dets, runs if args.quality else None)
        report_cuts(synthetic, dets)
        report_sweep(synthetic)
    if real:
        report_real(real, dets)
    if args.quality and (synthetic or real):
        report_quality(synthetic, real, runs)
    report_times(synthetic + real, dets, runs)
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
