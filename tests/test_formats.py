"""Every input format through ``vsrife.RIFE`` with the real HDv3 weights: YUV (all subsamplings,
8-16 bit integer, half and single float), GRAY and RGB.

* formats, sizes, rates and frame counts are kept; source frames pass through bit-exact with
  their properties; interpolated frames are finite and within the value range;
* GRAY invents no colour: it is the mean of the channels of the same picture run as RGB;
* zimg oracle: RIFE on YUV == zimg to RGBS with the expected matrix/range/chroma location, RIFE,
  zimg back; the explicit-property and the default (missing property) cases; a wrong matrix,
  range or chroma location would be detected;
* high bit depth is never squeezed through 8 bits; values above 1.0 are not clipped;
* quality on YUV input: a photograph moved by a known sub-pixel motion.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import vapoursynth as vs

import vsrife
from vsrife.formats import Colour, WorkFormat, default_matrix, read_colour
from vsrife.synthetic import clip_from_frames, photo, window

from helpers import OWN_PROPS, arrays, convert, planes, random_clip
from helpers import same_frames as same

pytestmark = pytest.mark.graph

core = vs.core

YUV = [
    vs.YUV420P8,
    vs.YUV422P8,
    vs.YUV444P8,
    vs.YUV420P10,
    vs.YUV422P10,
    vs.YUV444P10,
    vs.YUV420P12,
    vs.YUV422P12,
    vs.YUV444P12,
    vs.YUV420P16,
    vs.YUV422P16,
    vs.YUV444P16,
    vs.YUV444PH,
    vs.YUV444PS,
]
GRAY = [vs.GRAY8, vs.GRAY10, vs.GRAY16, vs.GRAYH, vs.GRAYS]
RGB = [vs.RGB24, vs.RGB30, vs.RGB48, vs.RGBH, vs.RGBS]


def fmt_name(fmt: int) -> str:
    return core.get_video_format(fmt).name


def tagged(clip: vs.VideoNode) -> vs.VideoNode:
    """Each frame carries its index and a string, to check that props pass through."""

    def tag(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        f = f.copy()
        f.props["SrcIndex"] = n
        f.props["Tag"] = "source"
        return f

    return clip.std.ModifyFrame(clip, tag)


def psnr(a: vs.VideoFrame, b: vs.VideoFrame, planes_: list[int] | None = None) -> float:
    """PSNR (dB) over the given planes, peak = the format's full code range (1.0 for float)."""
    fmt = a.format
    peak = 1.0 if fmt.sample_type == vs.FLOAT else float((1 << fmt.bits_per_sample) - 1)
    err = [
        ((np.asarray(a[p], np.float64) - np.asarray(b[p], np.float64)) / peak) ** 2
        for p in (planes_ or range(fmt.num_planes))
    ]
    mse = float(np.mean(np.concatenate([e.ravel() for e in err])))
    return float("inf") if mse == 0 else -10 * np.log10(mse)


# ------------------------------------------------------------------------------------ every format


@pytest.mark.parametrize("fmt", YUV + GRAY + RGB, ids=fmt_name)
def test_format_is_kept_and_sources_pass_through(fmt: int, hdv3_random: dict) -> None:
    src = tagged(convert(random_clip(3, 32, 32, seed=fmt % 1000, fps=(30000, 1001)), fmt))
    out = vsrife.RIFE(src, 2, model=hdv3_random)
    assert out.format.id == fmt
    assert (out.width, out.height) == (32, 32)
    assert out.fps == Fraction(60000, 1001) and out.num_frames == 6
    info = core.get_video_format(fmt)
    for k in range(3):  # source frames: bit-exact, every plane, with their properties
        f, s = out.get_frame(2 * k), src.get_frame(k)
        assert f.format.id == fmt and same(f, s), k
        assert f.props["RifeTimestep"] == 0.0
        assert {key: v for key, v in f.props.items() if key not in OWN_PROPS} == {
            key: v for key, v in s.props.items() if key not in OWN_PROPS
        }
        assert Fraction(f.props["_DurationNum"], f.props["_DurationDen"]) == Fraction(1001, 60000)
    for k, (i, j) in ((1, (0, 1)), (3, (1, 2))):  # interpolated frames: finite, within the value range
        f = out.get_frame(k)
        assert f.props["RifeTimestep"] == 0.5 and f.format.id == fmt
        assert f.props["_DurationNum"] == 1001 and f.props["_DurationDen"] == 60000
        a, b = src.get_frame(i), src.get_frame(j)
        assert not same(f, a) and not same(f, b)
        # the same props as the real frame before it (colour, tags), so every output frame agrees
        assert {key: v for key, v in f.props.items() if key not in OWN_PROPS} == {
            key: v for key, v in a.props.items() if key not in OWN_PROPS
        }
        if info.sample_type == vs.FLOAT:
            slack = 0.05
        else:
            slack = 0.05 * ((1 << info.bits_per_sample) - 1)
        for p, (x, y, m) in enumerate(zip(arrays(a), arrays(b), arrays(f))):
            m = m.astype(np.float64)
            assert np.isfinite(m).all(), p
            lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
            assert lo - slack <= m.min() and m.max() <= hi + slack, (p, lo, hi, m.min(), m.max())
    # past the last source frame: the last frame, held
    assert same(out.get_frame(5), src.get_frame(2))


# ------------------------------------------------------------------------------------ GRAY


def test_gray_is_the_channel_mean_of_the_same_picture_as_rgb(hdv3_random: dict) -> None:
    gray = random_clip(3, 48, 32, seed=31).std.ShufflePlanes(1, vs.GRAY)  # a GRAYS clip
    out = vsrife.RIFE(gray, 2, model=hdv3_random)
    assert out.format.id == vs.GRAYS and out.format.num_planes == 1  # no colour invented: one plane
    rgb = core.std.ShufflePlanes([gray, gray, gray], [0, 0, 0], vs.RGB)
    out_rgb = vsrife.RIFE(rgb, 2, model=hdv3_random)
    for k in (1, 3):
        g = np.asarray(out.get_frame(k)[0])
        c = planes(out_rgb.get_frame(k))
        diff = float(np.abs(g - c.mean(axis=0, dtype=np.float32)).max())
        print(f"GRAY vs RGB channel mean, frame {k}: max |diff| = {diff:.2e}")
        assert diff <= 1e-6


def test_gray16_matches_rgb_channel_mean_through_the_integer_conversion(hdv3_random: dict) -> None:
    gray = random_clip(3, 32, 32, seed=32).std.ShufflePlanes(0, vs.GRAY).resize.Point(format=vs.GRAY16)
    out = np.asarray(vsrife.RIFE(gray, 2, model=hdv3_random).get_frame(1)[0]).astype(np.int64)
    gs = gray.resize.Point(format=vs.GRAYS)  # the same conversion RIFE makes (limited range, as zimg defaults GRAY)
    rgb = core.std.ShufflePlanes([gs, gs, gs], [0, 0, 0], vs.RGB)
    mean = planes(vsrife.RIFE(rgb, 2, model=hdv3_random).get_frame(1)).mean(axis=0, dtype=np.float32)
    blank = core.std.BlankClip(gs, length=1)

    def put(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        f = f.copy()
        np.copyto(np.asarray(f[0]), mean)
        return f

    ref = np.asarray(blank.std.ModifyFrame(blank, put).resize.Point(format=vs.GRAY16).get_frame(0)[0]).astype(np.int64)
    diff = int(np.abs(out - ref).max())
    print(f"GRAY16 vs RGB channel mean through GRAYS: max |diff| = {diff} codes")
    assert diff <= 1


# ------------------------------------------------------------------------------------ zimg oracle


def yuv_clip(fmt: int, width: int, height: int, props: dict, seed: int, n: int = 2) -> vs.VideoNode:
    """A colourful YUV clip carrying exactly ``props`` (the colour ones not listed are removed)."""
    clip = random_clip(n, width, height, seed=seed).resize.Bicubic(format=fmt, matrix=1, range=0)
    clip = clip.std.RemoveFrameProps(
        props=["_Matrix", "_Range", "_ColorRange", "_ChromaLocation", "_Primaries", "_Transfer"]
    )
    return clip.std.SetFrameProps(**props) if props else clip


def oracle(yuv: vs.VideoNode, matrix: int, full: bool, chromaloc: int, model: dict) -> vs.VideoNode:
    """What RIFE on YUV must give, assembled by hand from zimg and RIFE on RGBS."""
    rgb = yuv.resize.Bicubic(format=vs.RGBS, matrix_in=matrix, range_in=int(full), chromaloc_in=chromaloc)
    out = vsrife.RIFE(rgb, 2, model=model)
    return out.resize.Bicubic(format=yuv.format.id, matrix=matrix, range=int(full), chromaloc=chromaloc)


_P10, _P16 = vs.YUV420P10, vs.YUV444P16
_LEGACY = pytest.mark.filterwarnings("ignore:The _ColorRange frame property has been deprecated")
ORACLE_CASES = [
    # (format, width, height, frame props, expected (matrix, full range, chroma location))
    pytest.param(
        _P10, 64, 48, {"_Matrix": 1, "_Range": 0, "_ChromaLocation": 0}, (1, False, 0), id="420P10-709-lim-left"
    ),
    pytest.param(
        _P10, 64, 48, {"_Matrix": 6, "_Range": 1, "_ChromaLocation": 2}, (6, True, 2), id="420P10-170M-full-tl"
    ),
    pytest.param(
        _P10, 64, 48, {"_Matrix": 9, "_ColorRange": 0}, (9, True, 0), id="420P10-2020-ColorRange", marks=_LEGACY
    ),
    pytest.param(
        _P16, 64, 48, {"_Matrix": 1, "_Range": 0, "_ChromaLocation": 0}, (1, False, 0), id="444P16-709-limited"
    ),
    pytest.param(_P16, 64, 48, {"_Matrix": 5, "_Range": 1}, (5, True, 0), id="444P16-470BG-full"),
    # defaults: properties missing (or "unspecified") -> by size; limited; left
    pytest.param(_P10, 1280, 64, {}, (1, False, 0), id="420P10-default-HD-width-709"),
    pytest.param(_P16, 64, 600, {"_Matrix": 2}, (1, False, 0), id="444P16-unspecified-HD-height-709"),
    pytest.param(_P10, 720, 480, {}, (6, False, 0), id="420P10-default-SD-720x480-170M"),
    pytest.param(_P16, 64, 48, {}, (6, False, 0), id="444P16-default-SD-170M"),
]


@pytest.mark.parametrize(("fmt", "w", "h", "props", "expected"), ORACLE_CASES)
def test_yuv_equals_zimg_to_rgb_rife_and_back(
    fmt: int, w: int, h: int, props: dict, expected: tuple, hdv3_random: dict
) -> None:
    yuv = yuv_clip(fmt, w, h, props, seed=w + h + len(props))
    matrix, full, chromaloc = expected
    assert read_colour(yuv, yuv.get_frame(0).props) == Colour(matrix, full, chromaloc)
    got = vsrife.RIFE(yuv, 2, model=hdv3_random).get_frame(1)
    assert got.props["RifeTimestep"] == 0.5  # really interpolated (no scene cut)
    want = oracle(yuv, matrix, full, chromaloc, hdv3_random).get_frame(1)
    db = psnr(got, want)
    print(f"{fmt_name(fmt)} {w}x{h} {props}: PSNR vs zimg oracle = {db} dB")
    assert same(got, want)  # exact by construction (same zimg calls, same network); PSNR = inf
    # and it carries the same colour props as the real frames around it (none assumed into it)
    real = yuv.get_frame(0).props
    for key in ("_Matrix", "_Range", "_ColorRange", "_ChromaLocation"):
        assert got.props.get(key) == real.get(key), key


def test_a_wrong_colour_assumption_would_be_detected(hdv3_random: dict) -> None:
    """Why the oracle comparison is exact and not a PSNR bound: a wrong but symmetric assumption
    (the same wrong matrix in and out) changes what the network sees a lot, yet the output only a
    little (the network is nearly colour-equivariant), by less than a 60 dB bound would notice.
    Exact equality fails for every one of these mistakes."""
    yuv = yuv_clip(vs.YUV420P10, 1280, 64, {}, seed=1344)  # HD by size, no props: must be 709 limited left
    got = vsrife.RIFE(yuv, 2, model=hdv3_random).get_frame(1)
    right = oracle(yuv, 1, False, 0, hdv3_random).get_frame(1)
    assert same(got, right)
    # what the network is given: 709 vs 601 / limited vs full differ grossly
    rgb = {
        (m, r): yuv.resize.Bicubic(format=vs.RGBS, matrix_in=m, range_in=r).get_frame(0)
        for m, r in ((1, 0), (6, 0), (1, 1))
    }
    db_matrix, db_range = psnr(rgb[(1, 0)], rgb[(6, 0)]), psnr(rgb[(1, 0)], rgb[(1, 1)])
    print(f"network input, 709 vs 601: {db_matrix:.1f} dB; limited vs full: {db_range:.1f} dB")
    assert db_matrix < 40 and db_range < 30
    # the output, end to end
    wrong = {
        "601 matrix": oracle(yuv, 6, False, 0, hdv3_random).get_frame(1),
        "full range": oracle(yuv, 1, True, 0, hdv3_random).get_frame(1),
        "centre chroma": oracle(yuv, 1, False, 1, hdv3_random).get_frame(1),
    }
    for name, frame in wrong.items():
        print(f"RIFE output vs oracle assuming {name}: {psnr(got, frame):.1f} dB (exact equality fails)")
        assert not same(got, frame)
    # an asymmetric mistake (in with one matrix, out with another) is gross
    rgb601 = yuv.resize.Bicubic(format=vs.RGBS, matrix_in=6, range_in=0)
    mixed = (
        vsrife.RIFE(rgb601, 2, model=hdv3_random).resize.Bicubic(format=vs.YUV420P10, matrix=1, range=0).get_frame(1)
    )
    print(f"RIFE output vs in-601/out-709: {psnr(got, mixed):.1f} dB")
    assert psnr(got, mixed) < 45


@pytest.mark.graph
def test_odd_colour_props_and_interlacing_are_each_warned_about_once(
    v46_random: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """One warning per odd prop for one RIFE() (the scene metric read the props again and every
    warning came twice under vspipe), and one for an interlaced clip, which was interpolated silently
    (both found by hostile testing)."""
    import logging

    src = convert(random_clip(3, 32, 32, seed=4), vs.YUV420P8)
    odd = src.std.SetFrameProps(_Matrix=100, _Range=7, _ChromaLocation=9, _FieldBased=2)
    with caplog.at_level(logging.WARNING, logger="vsrife"):
        vsrife.RIFE(odd, model=v46_random).get_frame(1)
    notes = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for what in ("_Matrix=100", "_Range=7", "_ChromaLocation=9", "interlaced (_FieldBased=2, top field first)"):
        assert sum(what in n for n in notes) == 1, (what, notes)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vsrife"):
        vsrife.RIFE(src, model=v46_random).get_frame(1)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_default_matrix_by_frame_size() -> None:
    for (w, h), m in {
        (1920, 1080): 1,
        (1280, 720): 1,
        (3840, 2160): 1,
        (1025, 576): 1,
        (1024, 577): 1,
        (1024, 576): 6,
        (720, 480): 6,
        (720, 576): 6,
        (640, 360): 6,
    }.items():
        assert default_matrix(w, h) == m, (w, h)
        clip = core.std.BlankClip(format=vs.YUV444P8, width=w, height=h, length=1)
        assert read_colour(clip, {}) == Colour(m, False, 0)
        assert read_colour(clip, {"_Matrix": 0}).matrix == m  # "RGB" on a YUV clip is nonsense: default
    clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=1)
    assert read_colour(clip, {"_Range": 1}).full_range and not read_colour(clip, {"_Range": 0}).full_range
    assert read_colour(clip, {"_ColorRange": 0}).full_range and not read_colour(clip, {"_ColorRange": 1}).full_range
    assert read_colour(clip, {"_Range": 0, "_ColorRange": 0}).full_range is False  # the current name wins
    assert read_colour(clip, {"_ChromaLocation": 2}).chromaloc == 2


# ------------------------------------------------------------------------------------ bit depth


def gray_gradient_yuv(fmt: int, w: int = 128, h: int = 96, n: int = 2) -> vs.VideoNode:
    """A smooth moving grey (R = G = B) gradient: luma is one value per pixel, so a trip through
    8 bits would leave at most 256 distinct luma values."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for k in range(n):
        v = 0.5 + 0.35 * np.sin(0.045 * (xx - 1.5 * k) + 0.031 * (yy - k)) * np.cos(0.02 * (yy + xx - 2 * k))
        frames.append(np.repeat(v[None].astype(np.float32), 3, axis=0))
    return clip_from_frames(frames).resize.Bicubic(format=fmt, matrix=1, range=0)


def test_16_bit_stays_16_bit(hdv3_random: dict) -> None:
    src = gray_gradient_yuv(vs.YUV420P16)
    mid = np.asarray(vsrife.RIFE(src, 2, model=hdv3_random, sc=False).get_frame(1)[0])
    distinct = len(np.unique(mid))
    print(f"YUV420P16 interpolated luma: {distinct} distinct values in {mid.size} pixels")
    assert distinct > 2000  # far more than the 256 an 8-bit trip would leave


def test_10_bit_is_not_8_bit_shifted(hdv3_random: dict) -> None:
    src = gray_gradient_yuv(vs.YUV420P10)
    mid = np.asarray(vsrife.RIFE(src, 2, model=hdv3_random, sc=False).get_frame(1)[0])
    off_grid = float(np.mean(mid % 4 != 0))
    print(f"YUV420P10 interpolated luma: {off_grid:.0%} of values not multiples of 4, {len(np.unique(mid))} distinct")
    assert off_grid > 0.5  # 8-bit data shifted left by 2 would give 0%
    assert len(np.unique(mid)) > 256


# ------------------------------------------------------------------------------------ quality on YUV


MARGIN = 8


def luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a[MARGIN:-MARGIN, MARGIN:-MARGIN], b[MARGIN:-MARGIN, MARGIN:-MARGIN]
    return float(-10 * np.log10(np.mean(((a.astype(np.float64) - b) / 1023.0) ** 2)))


@pytest.mark.parametrize(("name", "dx", "dy"), [("astronaut", 3.3, 1.7), ("coffee", -4.6, 2.2)])
@pytest.mark.network
def test_quality_on_yuv420p10_input(name: str, dx: float, dy: float, hdv3_path: str) -> None:
    img = photo(name)
    w, h = 192, 128
    f0, f1 = window(img, 30, 30, w, h), window(img, 30 + dx, 30 + dy, w, h)
    truth = window(img, 30 + dx / 2, 30 + dy / 2, w, h)

    def to_yuv(frames: list[np.ndarray]) -> vs.VideoNode:
        return clip_from_frames(frames).resize.Bicubic(format=vs.YUV420P10, matrix=1, range=0)

    src = to_yuv([f0, f1])
    out = vsrife.RIFE(src, 2, model=hdv3_path)
    assert out.format.id == vs.YUV420P10
    mid = np.asarray(out.get_frame(1)[0])
    y0, y1 = (np.asarray(src.get_frame(i)[0]).astype(np.float64) for i in (0, 1))
    y_truth = np.asarray(to_yuv([truth]).get_frame(0)[0])
    rife, blend = luma_psnr(mid, y_truth), luma_psnr((y0 + y1) / 2, y_truth)
    print(f"{name} YUV420P10 luma: RIFE {rife:.2f} dB, averaging {blend:.2f} dB")
    assert rife >= blend + 3.0, (rife, blend)


# ------------------------------------------------------------------------------------ above 1.0


def test_values_above_one_are_not_clipped_rgbs(hdv3_random: dict) -> None:
    src = random_clip(2, 32, 32, seed=41).std.Expr("x 4 *")  # HDR-ish: up to 4.0
    hi = max(planes(src.get_frame(i)).max() for i in (0, 1))
    assert hi > 2.0
    mid = planes(vsrife.RIFE(src, 2, model=hdv3_random).get_frame(1))
    print(f"RGBS x4: source max {hi:.3f}, interpolated max {mid.max():.3f}")
    assert np.isfinite(mid).all() and mid.max() > 2.0 and mid.max() <= hi * 1.1


def test_values_above_one_are_not_clipped_yuv444ps(hdv3_random: dict) -> None:
    rgb = random_clip(2, 32, 32, seed=42).std.Expr("x 3 *")
    yuv = rgb.resize.Bicubic(format=vs.YUV444PS, matrix=1)
    # the conversions alone keep everything: to RGB and back is lossless to float precision
    work = WorkFormat.of(yuv).to_work(yuv)
    assert np.allclose(planes(work.get_frame(0)), planes(rgb.get_frame(0)), atol=1e-4)
    assert planes(work.get_frame(0)).max() > 2.0
    out = vsrife.RIFE(yuv, 2, model=hdv3_random)
    assert out.format.id == vs.YUV444PS
    mid_rgb = planes(out.resize.Bicubic(format=vs.RGBS, matrix_in=1).get_frame(1))
    print(
        f"YUV444PS x3: interpolated RGB max {mid_rgb.max():.3f}, luma max {np.asarray(out.get_frame(1)[0]).max():.3f}"
    )
    assert mid_rgb.max() > 2.0 and np.asarray(out.get_frame(1)[0]).max() > 1.0


@pytest.mark.parametrize("colour", [(1000, 300, 800), (500, 200, 850)], ids=["superwhite", "out-of-gamut"])
def test_superwhite_and_out_of_gamut_yuv_survive(colour: tuple[int, int, int], hdv3_random: dict) -> None:
    # 10-bit limited range: Y = 1000 is above nominal white (940); (500, 200, 850) is outside the
    # RGB gamut (R > 1, B < 0). The float RGB in between is not clipped, so the interpolated frame
    # keeps them.
    src = core.std.BlankClip(format=vs.YUV420P10, width=48, height=32, length=2, color=list(colour))
    mid = vsrife.RIFE(src, 2, model=hdv3_random, sc=False).get_frame(1)
    rgb = planes(src.resize.Bicubic(format=vs.RGBS, matrix_in=1, range_in=0).get_frame(0))
    assert rgb.max() > 1.0 or rgb.min() < 0.0  # what the network sees is outside [0, 1]
    for p, v in enumerate(colour):
        got = np.asarray(mid[p]).astype(np.int64)
        assert np.abs(got - v).max() <= 1, (p, got.min(), got.max())


# ------------------------------------------------------------------------------------ known bug


def test_frames_held_across_a_cut_are_the_source_frames_bit_exact_on_yuv420(hdv3_random: dict) -> None:
    a, b = photo("astronaut"), photo("coffee")
    frames = [window(a, 100 + k, 100, 64, 48) for k in range(2)] + [window(b, 100 + k, 50, 64, 48) for k in range(2)]
    src = clip_from_frames(frames).resize.Bicubic(format=vs.YUV420P8, matrix=1, range=0)
    out = vsrife.RIFE(src, 4, model=hdv3_random)
    # pair (1, 2) straddles the cut: every instant inside it shows frame 1, as the source displays it
    for k, i in ((5, 1), (6, 1), (7, 1), (8, 2)):
        f = out.get_frame(k)
        assert f.props["RifeSceneCut"] == (k < 8)
        assert same(f, src.get_frame(i)), (
            k,
            [int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(arrays(f), arrays(src.get_frame(i)))],
        )


@pytest.mark.parametrize(
    ("fmt", "w", "h", "keep", "kept"),
    [
        (vs.YUV420P8, 1920, 1080, 10, 10),  # 10 RGBS frames: 249 MB
        (vs.YUV420P8, 3840, 2160, 10, 3),  # 4K: bounded by bytes, but never under 3
        (vs.GRAY16, 3840, 2160, 10, 8),  # one plane
        (vs.YUV420P8, 640, 360, 2, 3),
    ],
)
def test_the_conversion_keeps_a_few_frames_bounded_in_bytes(
    fmt: int, w: int, h: int, keep: int, kept: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The work-format conversion caches the pairs in flight (16 threads: 10 frames), at least 3 and,
    beyond 3, at most 256 MB (10 RGBS frames at 4K would be 1 GB)."""
    import vsrife.formats as formats

    seen: list[int] = []
    monkeypatch.setattr(formats, "recent", lambda clip, frames: seen.append(frames) or clip)
    clip = vs.core.std.BlankClip(width=w, height=h, format=fmt, length=2)
    WorkFormat.of(clip).to_work(clip, keep)
    assert seen == [kept]
