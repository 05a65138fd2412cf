"""vsrife.scene: cuts found, motion and fades not cut, prop semantics, tiny frames, formats, errors."""

from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

from vsrife import registry
from vsrife.scene import DEFAULT_THRESHOLD, SCORE_PROP, pair_differences, scene_changes
from vsrife.synthetic import clip_from_frames, photo, window

from helpers import pair_breaks as _breaks
from helpers import pair_nears as _nears
from helpers import small_luma as _luma

pytestmark = pytest.mark.graph

W, H = 160, 96


def _diffs(clip: vs.VideoNode) -> list[float]:
    return [float(f.props[SCORE_PROP]) for f in pair_differences(clip).frames()]


def _pan(name: str, n: int, dx: float, dy: float, x0: float = 40, y0: float = 40) -> list[np.ndarray]:
    img = photo(name)
    return [window(img, x0 + dx * t, y0 + dy * t, W, H) for t in range(n)]


@pytest.mark.parametrize(
    ("a", "b"), [("astronaut", "coffee"), ("brick", "grass"), ("grass", "gravel"), ("camera", "moon")]
)
def test_cut_between_photographs_is_detected(a: str, b: str) -> None:
    marked = scene_changes(clip_from_frames(_pan(a, 2, 1, 0) + _pan(b, 2, 1, 0)))
    assert [marked.get_frame(n).props["_SceneChangeNext"] for n in range(4)] == [0, 1, 0, 0]


@pytest.mark.parametrize("speed", [0.5, 2, 4.5])  # px/frame at 160 wide (up to 9 px/frame at 320)
@pytest.mark.parametrize("name", ["astronaut", "gravel", "brick"])
def test_pans_are_not_cut(name: str, speed: float) -> None:
    diffs = _diffs(clip_from_frames(_pan(name, 4, speed * 0.8, speed * 0.6)))
    assert max(diffs) < DEFAULT_THRESHOLD, diffs
    assert diffs[-1] == 0


@pytest.mark.parametrize("bars", [32, 48])  # rows above and below: bars over 40 % and 50 % of the frame
def test_black_bars_do_not_dilute_the_first_stage(bars: int) -> None:
    # Bars match perfectly whatever the picture does; averaged in, bars of a third of the frame
    # lowered a cut's score by a third, and wider ones could push it below the candidate line.
    pictures = _pan("astronaut", 2, 3, 1) + _pan("coffee", 2, 3, 1)
    boxed = [np.pad(f, ((0, 0), (bars, bars), (0, 0))) for f in pictures]
    plain, letterboxed = _diffs(clip_from_frames(pictures)), _diffs(clip_from_frames(boxed))
    cut = 1
    assert letterboxed[cut] > DEFAULT_THRESHOLD
    assert letterboxed[cut] == pytest.approx(plain[cut], rel=0.2), (plain, letterboxed)
    assert max(letterboxed[0], letterboxed[2]) < DEFAULT_THRESHOLD * 0.5  # the pans stay below the candidates


def test_slow_fade_is_not_cut() -> None:
    frames = [f * np.float32(g) for f, g in zip(_pan("moon", 8, 1, 0), np.linspace(1.0, 0.3, 8))]
    assert max(_diffs(clip_from_frames(frames))) < DEFAULT_THRESHOLD


def test_prop_semantics() -> None:
    marked = scene_changes(clip_from_frames(_pan("astronaut", 3, 1, 1) + _pan("coffee", 3, 1, 0)))
    props = [marked.get_frame(n).props for n in range(6)]
    assert [p["_SceneChangeNext"] for p in props] == [0, 0, 1, 0, 0, 0]
    assert [p["_SceneChangePrev"] for p in props] == [0, 0, 0, 1, 0, 0]
    assert props[2]["SceneDiffNext"] > DEFAULT_THRESHOLD
    assert props[5]["SceneDiffNext"] == 0


@pytest.mark.parametrize(("w", "h"), [(1, 1), (3, 2), (2, 7), (17, 5), (300, 9)])
def test_tiny_and_odd_frames(w: int, h: int) -> None:
    clip = vs.core.std.BlankClip(format=vs.GRAY8, width=w, height=h, length=3, color=0)
    clip = clip[:2] + clip[2].std.Invert()  # black, black, white
    diffs = _diffs(clip)
    assert len(diffs) == 3 and diffs[0] < 1e-6 and diffs[2] == 0
    marked = scene_changes(clip)
    assert [marked.get_frame(n).props["_SceneChangeNext"] for n in range(3)] == [0, 1, 0]


def test_single_frame_clip() -> None:
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=8, height=8, length=1)
    assert _diffs(clip) == [0]
    props = scene_changes(clip).get_frame(0).props
    assert props["_SceneChangeNext"] == 0 and props["_SceneChangePrev"] == 0


@pytest.mark.parametrize(
    "fmt",
    [
        vs.RGBS,
        vs.RGBH,
        vs.RGB24,
        vs.RGB48,
        vs.GRAYS,
        vs.GRAYH,
        vs.GRAY8,
        vs.GRAY16,
        vs.YUV420P8,
        vs.YUV444P10,
        vs.YUV422P16,
        vs.YUV444PS,
    ],
)
def test_every_format_family(fmt: int) -> None:
    src = clip_from_frames(_pan("astronaut", 2, 1, 0) + _pan("coffee", 2, 1, 0))
    kw = {} if vs.core.get_video_format(fmt).color_family == vs.RGB else {"matrix_s": "709"}
    clip = src.resize.Bicubic(format=fmt, **kw)
    marked = scene_changes(clip)
    assert [marked.get_frame(n).props["_SceneChangeNext"] for n in range(4)] == [0, 1, 0, 0]
    assert marked.format.id == clip.format.id


def test_threads_give_same_values(core: vs.Core) -> None:
    clip = clip_from_frames(_pan("brick", 3, 2, 1) + _pan("grass", 3, 1, 0))
    core.num_threads = 1
    serial = _diffs(clip)
    core.num_threads = 4
    node = pair_differences(clip)
    futures = [node.get_frame_async(n) for n in reversed(range(6))]
    parallel = [float(f.result().props[SCORE_PROP]) for f in reversed(futures)]
    assert serial == parallel


@pytest.mark.parametrize("threshold", [0, -0.1, 1.5, float("nan"), "0.1", True])
def test_threshold_validated(threshold: object) -> None:
    clip = vs.core.std.BlankClip(format=vs.GRAY8, width=8, height=8, length=2)
    with pytest.raises(vs.Error, match="scene_changes: threshold"):
        scene_changes(clip, threshold)  # type: ignore[arg-type]


def test_bad_clips_rejected() -> None:
    with pytest.raises(vs.Error, match="scene_changes: clip"):
        scene_changes("not a clip")  # type: ignore[arg-type]
    var = vs.core.std.Splice(
        [vs.core.std.BlankClip(width=8, height=8, length=1), vs.core.std.BlankClip(width=16, height=8, length=1)],
        mismatch=True,
    )
    with pytest.raises(vs.Error, match="scene_changes: clips of variable"):
        scene_changes(var)


def test_the_cut_rule_reads_the_evidence_by_name() -> None:
    from vsrife import scene
    from vsrife.backends import EVIDENCE

    assert [EVIDENCE.index(k) for k in ("tolerant", "block10", "block25")] == [
        scene._TOLERANT,
        scene._BLOCK10,
        scene._BLOCK25,
    ]
    rule, quarter_only = scene.CutRule(True, tenth=True), scene.CutRule(True)

    def ev(block10: float, block25: float, tolerant: float = 1.0) -> list[float]:
        values = [1.0] * len(EVIDENCE)  # the other summaries never decide
        values[scene._BLOCK10], values[scene._BLOCK25], values[scene._TOLERANT] = block10, block25, tolerant
        return values

    above_tenth, above_quarter, above_tolerant = (
        1.01 * v for v in (scene.TENTH_CUT, scene.BLOCK_CUT, scene.TOLERANT_CUT)
    )
    assert not rule.confirm(ev(scene.TENTH_CUT, scene.BLOCK_CUT)) and not quarter_only.confirm(ev(0, scene.BLOCK_CUT))
    assert rule.confirm(ev(above_tenth, 0.0, 0.0)) and not quarter_only.confirm(ev(above_tenth, 0.0))
    assert rule.confirm(ev(0.0, above_quarter, above_tolerant)) and quarter_only.confirm(ev(0.0, above_quarter, 0.0))
    assert not rule.confirm(ev(0.0, above_quarter, scene.TOLERANT_CUT))  # a letterboxed fast pan
    assert (
        registry.get_spec("4.25").tenth_cut and not registry.HDV3.tenth_cut and not registry.get_spec("4.6").tenth_cut
    )


# ------------------------------------------------------------------------------ jumps to a close-up


@pytest.fixture(scope="module")
def library():
    from vsrife.synthetic import PhotoLibrary

    return PhotoLibrary()


def _view(library, image: str, x: float, y: float, scale: float) -> np.ndarray:
    from vsrife.synthetic import Camera, Shot, render

    return _luma(render(Shot(Camera(image, x, y, scale), 2), 0.0, 320, 192, library))


@pytest.mark.parametrize("factor", [1.6, 2.0, 2.4])
@pytest.mark.parametrize(
    ("image", "x", "y", "dx", "dy"),
    [
        ("astronaut", 260, 220, 0, 0),  # a close-up of the centre
        ("rocket", 220, 200, 0, 0),  # mostly smooth sky: the first stage scores such a cut low
        ("coffee", 300, 200, 60, -30),  # of a subject off the centre
        ("chelsea", 230, 150, -40, 20),
    ],
)
def test_a_cut_to_a_close_up_or_back_is_a_jump_in_scale(
    library, image: str, x: float, y: float, dx: float, dy: float, factor: float
) -> None:
    # the network follows part of such a jump (its flow implies a zoom of 1.16-1.22 for 1.6-2 x),
    # so its evidence calls it explained; the picture itself is explained far better by the scale
    from vsrife.scene import ZOOM_STEPS, zoom_cut, zoom_evidence

    wide, close = _view(library, image, x, y, 1.0), _view(library, image, x + dx, y + dy, 1.0 / factor)
    step = ZOOM_STEPS[1]
    for a, b, expected in ((wide, close, factor), (close, wide, 1 / factor)):
        ev = zoom_evidence(a, b)
        assert zoom_cut(ev), (image, factor, ev)
        assert expected / step < ev[0] < expected * step, ev


@pytest.mark.parametrize(
    ("image", "zoom", "speed"),
    [
        ("astronaut", 1.16, 0.0),  # the evaluation's fastest zoom in
        ("retina", 1 / 1.15, 0.0),  # and out
        ("hubble_deep_field", 1 / 1.12, 0.02),
        ("rocket", 1.1, 0.0),  # mostly sky
        ("coffee", 1.0, 0.10),  # a pan of a tenth of the width
        ("brick", 1.0, 0.08),
        ("gravel", 1.0, 0.0),  # a still
    ],
)
def test_zooms_and_pans_within_the_targets_are_no_jump(library, image: str, zoom: float, speed: float) -> None:
    from vsrife.scene import zoom_cut, zoom_evidence
    from vsrife.synthetic import Camera, Shot, render

    cam = Camera(image, 260, 220, 1.0, vx=speed * 320, zoom=zoom)
    frames = [_luma(render(Shot(cam, 3), t, 320, 192, library)) for t in (0.0, 1.0, 2.0)]
    for a, b in ((frames[0], frames[1]), (frames[1], frames[2]), (frames[2], frames[1])):
        ev = zoom_evidence(a, b)
        assert not zoom_cut(ev), (image, zoom, speed, ev)


def test_flat_and_smooth_pictures_give_no_evidence_of_a_jump() -> None:
    from vsrife.scene import zoom_cut, zoom_evidence

    ramp = np.tile(np.linspace(0.1, 0.9, 128, dtype=np.float32), (72, 1))
    flat = np.full((72, 128), 0.5, np.float32)
    for a, b in (
        (ramp, ramp),
        (ramp, ramp[:, ::-1].copy()),
        (flat, flat),
        (flat, ramp),
        (ramp[:16, :16], flat[:16, :16]),
    ):
        ev = zoom_evidence(a, b)
        assert not zoom_cut(ev), ev


def test_a_pair_without_a_measurable_far_scale_reports_scale_1() -> None:
    from vsrife.scene import zoom_evidence

    flat = np.full((20, 30), 0.5)
    assert zoom_evidence(flat, flat) == (1.0, -1.0, -1.0)  # nothing to correlate
    ramp = np.tile(np.linspace(0.0, 1.0, 30), (20, 1))
    scale, far, near = zoom_evidence(ramp, ramp)
    assert (scale, far) == (1.0, -1.0) and near > 0.99  # searched no further


def test_a_close_up_over_a_smooth_sky_while_panning_is_a_jump(library) -> None:
    # the rocket on a dark sky, the camera panning slightly in both shots: the scale explains the
    # pair 3.9 times better than motion, under the line of 4.5 this test was first set at
    from vsrife.scene import ZOOM_GATE, pair_metric, zoom_cut, zoom_evidence
    from vsrife.synthetic import Camera, Shot, render

    wide, close = Camera("rocket", 252, 108, 1.0, vx=0.5), Camera("rocket", 252, 108, 1 / 1.6, vx=0.3)
    a = _luma(render(Shot(wide, 3), 2.0, 320, 192, library))
    b = _luma(render(Shot(close, 3), 0.0, 320, 192, library))
    assert pair_metric(a, b) > ZOOM_GATE
    ev = zoom_evidence(a, b)
    assert zoom_cut(ev), ev


@pytest.mark.parametrize(
    ("image", "start", "far", "contrast"),
    [
        ("brick", (180, 130), (300, 370), 1.0),  # the evaluation's misses until 2026-12-07: the wall seen twice
        ("brick", (330, 380), (170, 120), 1.0),
        ("gravel", (170, 140), (320, 360), 1.0),
        ("brick", (180, 130), (300, 370), 0.3),  # a dim wall: under the first stage's candidates
    ],
)
def test_a_cut_between_two_views_of_one_texture_is_a_break_in_motion(
    library, image: str, start: tuple[float, float], far: tuple[float, float], contrast: float
) -> None:
    # both views pan at 4 % of the width per frame; every block of one looks like some block of
    # the other (the network explained such cuts), but no motion of the whole picture does
    from vsrife.scene import CANDIDATE, pair_metric
    from vsrife.synthetic import Camera, Shot, render

    def frames(x: float, y: float, n: int) -> list[np.ndarray]:
        shot = Shot(Camera(image, x, y, 1.0, vx=12.8), n)
        return [_luma(0.5 + contrast * (render(shot, float(k), 320, 192, library) - 0.5)) for k in range(n)]

    clip = frames(*start, 4) + frames(*far, 3)
    assert _breaks(clip) == [False, False, False, True, False, False], _nears(clip)
    if contrast < 1:  # the correlation does not fade with contrast; the first stage's score does
        assert pair_metric(clip[3], clip[4]) < DEFAULT_THRESHOLD * CANDIDATE


def test_motion_and_one_frame_events_are_no_break(library) -> None:
    from vsrife.synthetic import Camera, Shot, Sprite, render

    def frames(shot: Shot) -> list[np.ndarray]:
        return [_luma(render(shot, float(k), 320, 192, library)) for k in range(shot.frames)]

    pan = Shot(Camera("brick", 180, 130, 1.0, vx=25.6), 6)  # 8 % of the width per frame
    assert not any(_breaks(frames(pan)))
    # a large object crossing fast (10 % of the width per frame) over a still background
    thing = Sprite("astronaut", 260, 200, 110, 90, -120, 96, 32, 0)
    crossing = frames(Shot(Camera("camera", 260, 220, 1.0), 7, sprite=thing))
    assert min(_nears(crossing)) < 0.75 and not any(_breaks(crossing))
    # one frame of another picture (a glitch, a one-frame shot): two pairs side by side that no
    # motion explains, neither of them a break (the network's tests judge them)
    insert = frames(Shot(Camera("brick", 180, 130, 1.0, vx=12.8), 6))
    insert[3] = _view(library, "gravel", 200, 150, 1.0)
    assert max(_nears(insert)[2:4]) < 0.3 and not any(_breaks(insert))


def test_a_break_needs_a_moving_pair_beside_it_and_something_to_correlate() -> None:
    from vsrife.scene import BREAK_NEAR, HELD_THRESHOLD, motion_break

    moving = 10 * HELD_THRESHOLD
    assert motion_break(0.2, [(0.99, moving)]) and motion_break(0.2, [(0.99, moving), (0.95, moving)])
    assert not motion_break(0.2, [])  # a clip of two frames: nothing to compare with
    assert not motion_break(0.2, [(0.99, moving), (0.5, moving)])  # one frame between two hard pairs
    assert not motion_break(BREAK_NEAR + 0.01, [(1.0, moving)] * 2)  # most of the picture explained
    assert not motion_break(-1.0, [(1.0, moving)] * 2)  # flat pictures: nothing measured
    assert not motion_break(0.2, [(-1.0, moving), (1.0, moving)])  # a flat neighbour explains nothing
    # repeats beside it (a still, or animation on 2s) say nothing of the motion
    assert not motion_break(0.2, [(1.0, HELD_THRESHOLD / 2)] * 2)
    assert motion_break(0.2, [(1.0, HELD_THRESHOLD / 2), (0.99, moving)])
