"""Everything about pixel formats, in one place: which clips are supported, the float RGB the network
works in, the conversions there and back (zimg, ``core.resize``), planes to and from arrays, and the
frame properties every output frame carries.

The network sees non-linear RGB in [0, 1]. YUV is converted with the matrix, range and chroma
location the clip says it has (read from frame 0's ``_Matrix``, ``_Range``/``_ColorRange``,
``_ChromaLocation``). Only the matrix is needed: transfer and primaries are left alone, because the
network was trained on gamma-encoded pictures, not on linear light, so HDR (PQ/HLG) stays in its own
encoding and values above 1.0 are not clipped by the conversion. Where a property is missing or
"unspecified", the defaults are those of every common player and encoder (mpv, ffmpeg, zimg):

* matrix: BT.709 for HD (width > 1024 or height > 576), BT.601 (ST 170M) for SD;
* range: limited for YUV;
* chroma location: left (MPEG-2/H.264 default).

A value no conversion knows (``_Matrix=100``, ``_Range=7``) gets the same default, with a warning
that names it. The assumed values are never written into frames: every output frame, real or
interpolated, carries its source frame's properties, so a later filter sees the same colour
properties on all of them.

Integer formats are processed as 32-bit float, never through 8 bits; half float stays half. GRAY
stays one plane: the same plane is fed as R, G and B and the mean of the three outputs is written
back, so no colour is invented.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import vapoursynth as vs

log = logging.getLogger("vsrife")

_MATRIX_UNSPECIFIED = 2
_MATRICES = frozenset({1, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14})
"""``_Matrix`` values zimg converts YUV with (0 is RGB, 3 reserved)."""
_CHROMA_LOCATIONS = frozenset(range(6))

COLOUR_PROPS = ("_Matrix", "_Range", "_ColorRange", "_ChromaLocation", "_Primaries", "_Transfer")


def uncached(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` (a node RIFE built) with VapourSynth's frame cache turned off. For the full-size
    nodes between the source and the network, whose frames the engine reads into its own bounded
    cache, and for nodes that only pass frames on: their automatic caches together kept 26
    work-format frames alive in a 256x192 run (0.43 GB of RGBS at a 1080p peak) and saved one colour
    conversion (under 1 ms at 1080p) per source frame."""
    clip.std.SetVideoCache(mode=0)
    return clip


RECENT_BYTES = 256 << 20
"""The work-format conversion's cache (:func:`recent`) keeps at most this much beyond 3 frames: a
16-thread machine has 10 pairs in flight, 1 GB of RGBS frames at 4K."""


def recent(clip: vs.VideoNode, frames: int) -> vs.VideoNode:
    """``clip`` with a frame cache of a fixed ``frames`` frames: for the source's conversion to the
    work format, whose frame i is asked for by pair i - 1 and by pair i (and by the scene check of
    a pair the first stage flags), a few frames apart when frames are requested in order. Without a
    cache each of those asks converted it again (at 720p, 1.3 ms of CPU each, and their copies);
    with VapourSynth's automatic cache, dozens of full-size frames were kept (:func:`uncached`)."""
    clip.std.SetVideoCache(mode=1, fixedsize=1, maxsize=frames, maxhistory=0)
    return clip


def without_colour_props(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` without the colour props zimg would check: conversions get them explicitly (read and
    validated once), so a nonsense value on some frame cannot fail that frame."""
    return uncached(clip.std.RemoveFrameProps(list(COLOUR_PROPS)))


INTERPOLATED_DROPS = ("_PictType", "_SceneChangeNext", "_SceneChangePrev")
"""Source-frame properties that do not describe an interpolated frame (the scene-change ones are
set again where the output's cuts are)."""


def unsupported(fmt: vs.VideoFormat | None, width: int, height: int) -> str | None:
    """Why a clip of this format and size cannot be interpolated (None: it can)."""
    if fmt is None or fmt.id == 0 or fmt.color_family == vs.UNDEFINED or width == 0 or height == 0:
        return "clips of variable format or size are not supported; make them constant with core.resize first"
    if fmt.color_family not in (vs.YUV, vs.RGB, vs.GRAY):
        return f"format {fmt.name} is not supported; use YUV, RGB or GRAY"
    if fmt.sample_type == vs.INTEGER and fmt.bits_per_sample > 16:
        return f"format {fmt.name} is not supported; use 8-16 bit integer or 16/32 bit float samples"
    return None


@dataclass(frozen=True)
class Colour:
    """How a YUV clip is converted to RGB and back (zimg keyword arguments)."""

    matrix: int
    full_range: bool
    chromaloc: int

    def to_rgb_kwargs(self) -> dict[str, int]:
        return {"matrix_in": self.matrix, "range_in": int(self.full_range), "chromaloc_in": self.chromaloc}

    def from_rgb_kwargs(self) -> dict[str, int]:
        return {"matrix": self.matrix, "range": int(self.full_range), "chromaloc": self.chromaloc}


def default_matrix(width: int, height: int) -> int:
    return int(vs.MATRIX_BT709) if width > 1024 or height > 576 else int(vs.MATRIX_ST170_M)


def _int_prop(props: Mapping[str, object], key: str) -> int | None:
    value = props.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_colour(clip: vs.VideoNode, props: Mapping[str, object], warn: bool = True) -> Colour:
    """The conversion parameters of a YUV clip from its frame properties, with documented defaults
    (and a warning for values that no conversion knows, unless ``warn`` is false: a second reader
    of the same props, such as the scene metric, leaves the warning to the first)."""
    notes: list[str] = []
    default = default_matrix(clip.width, clip.height)
    matrix = _int_prop(props, "_Matrix")
    if matrix is None or matrix == _MATRIX_UNSPECIFIED:
        matrix = default
    elif matrix not in _MATRICES:
        notes.append(
            f"RIFE: _Matrix={props.get('_Matrix')!r} is not a YUV matrix; converting with {default} "
            f"(the default for {clip.width}x{clip.height})"
        )
        matrix = default
    full = read_range(props, notes, "limited") or False
    chromaloc = _int_prop(props, "_ChromaLocation")
    if chromaloc is None:
        chromaloc = 0
    elif chromaloc not in _CHROMA_LOCATIONS:
        notes.append(f"RIFE: _ChromaLocation={chromaloc!r} is not a chroma location (0-5); assuming left (0)")
        chromaloc = 0
    for note in notes if warn else ():
        log.warning("%s", note)
    return Colour(matrix, full, chromaloc)


def read_range(props: Mapping[str, object], notes: list[str], default: str) -> bool | None:
    """Whether ``props`` mark full range (True) or limited (False); None where they say nothing or
    what they say is no range (a note naming ``default``, what is assumed instead, is added)."""
    if "_Range" in props:  # R7x+: 1 = full, 0 = limited
        rng = _int_prop(props, "_Range")
        if rng in (0, 1):
            return rng == int(vs.RANGE_FULL)
        notes.append(f"RIFE: _Range={props.get('_Range')!r} is neither 0 (limited) nor 1 (full); assuming {default}")
    elif "_ColorRange" in props:  # older name: 0 = full, 1 = limited
        return _int_prop(props, "_ColorRange") == 0
    return None


def plain_range(clip: vs.VideoNode, props: Mapping[str, object], warn: bool = True) -> bool | None:
    """Whether an RGB or GRAY clip is full range by its first frame's props (None where they say
    nothing: zimg's default then, full for RGB, limited for GRAY), for a conversion of the clip
    without its colour props: a YUV ``_Matrix`` on RGB frames (``std.CopyFrameProps`` from the YUV
    they were made from) or a nonsense ``_Range`` on some frame failed every frame it touched."""
    notes: list[str] = []
    default = "full" if clip.format.color_family == vs.RGB else "limited"
    full = read_range(props, notes, default)
    for note in notes if warn else ():
        log.warning("%s", note)
    return full


@dataclass(frozen=True)
class WorkFormat:
    """The float RGB/GRAY format the network runs on for a clip, and its conversions."""

    fmt: vs.VideoFormat
    """The clip's own format (the output's)."""
    colour: Colour | None
    """YUV conversion parameters; None for RGB and GRAY."""
    plain_full: bool | None = None
    """RGB and GRAY: whether an integer clip is full range (:func:`plain_range`; None: zimg's default)."""

    @classmethod
    def of(cls, clip: vs.VideoNode) -> WorkFormat:
        fmt = clip.format
        props = clip.get_frame(0).props
        if fmt.color_family == vs.YUV:
            return cls(fmt, read_colour(clip, props))
        return cls(fmt, None, plain_range(clip, props) if fmt.sample_type == vs.INTEGER else None)

    @property
    def id(self) -> int:
        half = self.fmt.sample_type == vs.FLOAT and self.fmt.bits_per_sample == 16
        if self.fmt.color_family == vs.GRAY:
            return int(vs.GRAYH if half else vs.GRAYS)
        return int(vs.RGBH if half else vs.RGBS)

    @property
    def gray(self) -> bool:
        return self.fmt.color_family == vs.GRAY

    @property
    def dtype(self) -> np.dtype:
        """Sample type of the work format's planes."""
        return np.dtype(
            np.float16 if self.fmt.bits_per_sample == 16 and self.fmt.sample_type == vs.FLOAT else np.float32
        )

    @property
    def half(self) -> bool:
        return self.dtype == np.float16

    def to_work(self, clip: vs.VideoNode, keep: int = 3) -> vs.VideoNode:
        """``clip`` in the work format: itself when it is in it; else a conversion whose cache keeps
        the last ``keep`` frames (:func:`recent`; at least 3, fewer than ``keep`` where they would
        hold more than :data:`RECENT_BYTES`)."""
        if clip.format.id == self.id:
            return clip
        frame = (1 if self.gray else 3) * clip.width * clip.height * self.dtype.itemsize
        return recent(self.converted(clip), max(3, min(keep, RECENT_BYTES // frame)))

    def converted(self, clip: vs.VideoNode) -> vs.VideoNode:
        """The conversion of ``clip`` to the work format (a new node, its cache left as it is)."""
        if self.colour is not None:
            return without_colour_props(clip).resize.Bicubic(format=self.id, **self.colour.to_rgb_kwargs())
        # RGB/GRAY integer -> float: a pure rescale, exact
        rng = {} if self.plain_full is None else {"range_in": int(self.plain_full)}
        return without_colour_props(clip).resize.Point(format=self.id, **rng)

    def from_work(self, clip: vs.VideoNode) -> vs.VideoNode:
        """A work-format ``clip`` back in the clip's format."""
        if clip.format.id == self.fmt.id:
            return clip
        if self.colour is not None:
            return without_colour_props(clip).resize.Bicubic(format=self.fmt.id, **self.colour.from_rgb_kwargs())
        rng = {} if self.plain_full is None else {"range": int(self.plain_full)}  # as on the way in
        return without_colour_props(clip).resize.Point(format=self.fmt.id, **rng)

    def planes(self, frame: vs.VideoFrame) -> list[np.ndarray]:
        """The three planes the network takes, as read-only views of a work-format frame."""
        return [np.asarray(frame[0])] * 3 if self.gray else [np.asarray(frame[p]) for p in range(3)]

    @staticmethod
    def new_frame(like: vs.VideoFrame) -> vs.VideoFrame:
        """A writable frame of ``like``'s format, size and props whose pixels are about to be written
        whole: ``like.copy()`` would share ``like``'s planes and copy each one when it is written
        to (copy on write), a whole frame copied for nothing (an RGBS frame per in-between frame)."""
        out = vs.core.create_video_frame(like.format, like.width, like.height)
        out.props.update(like.props)
        return out

    def write(self, frame: vs.VideoFrame, data: np.ndarray) -> None:
        """Store a 3 x H x W result into a (writable) work-format frame."""
        if self.gray:
            np.copyto(np.asarray(frame[0]), data.mean(axis=0, dtype=np.float32).astype(self.dtype))
        else:
            for p in range(3):
                np.copyto(np.asarray(frame[p]), data[p].astype(self.dtype, copy=False))


def warn_if_interlaced(clip: vs.VideoNode) -> None:
    """A warning where frame 0 says the clip is interlaced (``_FieldBased`` 1 or 2). Reads frame 0:
    call it once the frame size is known to fit in memory."""
    field = _int_prop(clip.get_frame(0).props, "_FieldBased")
    if field in (1, 2):
        log.warning(
            "RIFE: the clip is interlaced (_FieldBased=%d, %s field first); RIFE interpolates whole "
            "frames, so two fields' motion gets combed: deinterlace first (bwdif, QTGMC), or set "
            "_FieldBased=0 where it is progressive after all",
            field,
            "bottom" if field == 1 else "top",
        )


def interpolated_props(frame: vs.VideoFrame, source: vs.FrameProps) -> None:
    """Give an interpolated ``frame`` its source frame's properties (colour, field order, SAR...),
    less the ones that describe only a decoded picture or a cut."""
    props = frame.props
    props.clear()
    props.update({k: v for k, v in source.items() if k not in INTERPOLATED_DROPS})
