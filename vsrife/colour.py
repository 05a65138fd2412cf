"""Getting any VapourSynth clip into the RGB the network wants, and back, with zimg (``core.resize``).

The network sees non-linear RGB in [0, 1]. YUV is converted with the matrix, range and chroma
location the clip says it has (read from frame 0's ``_Matrix``, ``_Range``/``_ColorRange``,
``_ChromaLocation``). Only the matrix is needed: transfer and primaries are left alone, because the
network was trained on gamma-encoded pictures, not on linear light, so HDR (PQ/HLG) stays in its own
encoding and values above 1.0 are not clipped by the conversion. Where a property is missing or
"unspecified", the defaults are those of every common player and encoder (mpv, ffmpeg, zimg):

* matrix: BT.709 for HD (width > 1024 or height > 576), BT.601 (ST 170M) for SD;
* range: limited for YUV, full for RGB and GRAY float;
* chroma location: left (MPEG-2/H.264 default).

Integer formats are converted to 32-bit float, never through 8 bits. GRAY stays one plane: the
engine feeds the same plane as R, G and B and writes back their mean, so no colour is invented.
"""

from __future__ import annotations

from dataclasses import dataclass

import vapoursynth as vs

_MATRIX_UNSPECIFIED = 2


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


def read_colour(clip: vs.VideoNode, props: vs.FrameProps | dict) -> Colour:
    """The conversion parameters of a YUV clip from its frame properties, with documented defaults."""
    matrix = int(props.get("_Matrix", _MATRIX_UNSPECIFIED))
    if matrix in (_MATRIX_UNSPECIFIED, int(vs.MATRIX_RGB)):
        matrix = default_matrix(clip.width, clip.height)
    if "_Range" in props:  # R7x+: 1 = full, 0 = limited
        full = int(props["_Range"]) == int(vs.RANGE_FULL)
    elif "_ColorRange" in props:  # older name: 0 = full, 1 = limited
        full = int(props["_ColorRange"]) == 0
    else:
        full = False
    chromaloc = int(props.get("_ChromaLocation", 0))
    return Colour(matrix, full, chromaloc)


def work_format(fmt: vs.VideoFormat) -> int:
    """The float format the network runs on: RGB(S|H) or GRAY(S|H); half stays half."""
    half = fmt.sample_type == vs.FLOAT and fmt.bits_per_sample == 16
    if fmt.color_family == vs.GRAY:
        return vs.GRAYH if half else vs.GRAYS
    return vs.RGBH if half else vs.RGBS


def to_work(clip: vs.VideoNode, colour: Colour | None) -> vs.VideoNode:
    target = work_format(clip.format)
    if clip.format.id == target:
        return clip
    if clip.format.color_family == vs.YUV:
        assert colour is not None
        return clip.resize.Bicubic(format=target, **colour.to_rgb_kwargs())
    # RGB/GRAY integer -> float: a pure rescale of the range, exact
    return clip.resize.Point(format=target)


def from_work(clip: vs.VideoNode, fmt: vs.VideoFormat, colour: Colour | None) -> vs.VideoNode:
    if clip.format.id == fmt.id:
        return clip
    if fmt.color_family == vs.YUV:
        assert colour is not None
        return clip.resize.Bicubic(format=fmt.id, **colour.from_rgb_kwargs())
    return clip.resize.Point(format=fmt.id)
