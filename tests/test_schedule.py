"""Variable-rate sources (timestamps) and held frames (animation on 2s/3s)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import vsrife
from conftest import planes, random_clip
from vsrife.schedule import distinct_frames
from vsrife.synthetic import clip_from_frames, photo, window
from vsrife.timing import Retime, Timeline

DURATIONS = [Fraction(1, 24), Fraction(1, 24), Fraction(1, 12), Fraction(1, 24), Fraction(1, 8), Fraction(1, 24)]


def vfr_clip(durations: list[Fraction], seed: int = 0) -> vs.VideoNode:
    """A clip with fps 0 whose frames last ``durations``."""
    base = random_clip(len(durations), 32, 32, seed=seed)
    parts = [base[i].std.AssumeFPS(fpsnum=d.denominator, fpsden=d.numerator) for i, d in enumerate(durations)]
    clip = vs.core.std.Splice(parts, mismatch=True)
    assert clip.fps == 0
    return clip


def test_timeline_equals_retime_for_constant_rate() -> None:
    for n, fps, out in [(10, Fraction(24), Fraction(60)), (7, Fraction(24000, 1001), Fraction(60000, 1001))]:
        tl = Timeline(tuple(Fraction(i) / fps for i in range(n)), Fraction(n) / fps, out)
        rt = Retime(out / fps, n)
        assert tl.num_frames == rt.num_frames
        assert [tl.position(k) for k in range(tl.num_frames)] == [rt.position(k) for k in range(rt.num_frames)]


def test_timeline_follows_real_time() -> None:
    starts = (Fraction(0), Fraction(1, 10), Fraction(4, 10))  # a short frame, then a long one
    tl = Timeline(starts, Fraction(5, 10), Fraction(20))
    assert tl.num_frames == 10
    assert tl.position(1) == (0, Fraction(1, 2))
    assert tl.position(2) == (1, Fraction(0))
    assert tl.position(4) == (1, Fraction(1, 3))  # 0.2 s is a third of the way from 0.1 to 0.4
    assert tl.position(8) == (2, Fraction(0))
    assert tl.position(9) == (2, Fraction(0))  # after the last frame: held
    cycle, offsets = tl.select_every()
    assert cycle >= 2 and offsets == [tl.position(k)[0] for k in range(10)]


def test_vfr_source_to_constant_rate(v46_path: str) -> None:
    src = vfr_clip(DURATIONS)
    out = vsrife.RIFE(src, fps_num=48, model=v46_path, sc=False)
    total = sum(DURATIONS)
    assert out.fps == 48 and out.num_frames == int(np.ceil(total * 48))
    starts = np.cumsum([0] + [float(d) for d in DURATIONS])
    for k in range(out.num_frames):
        f = out.get_frame(k)
        assert (f.props["_DurationNum"], f.props["_DurationDen"]) == (1, 48)
        time = k / 48
        i = min(int(np.searchsorted(starts, time, side="right")) - 1, len(DURATIONS) - 1)
        t = 0.0 if i == len(DURATIONS) - 1 else (time - starts[i]) / (starts[i + 1] - starts[i])
        if abs(t) < 1e-12:
            assert np.array_equal(planes(f), planes(src.get_frame(i)))
        assert f.props["RifeTimestep"] == pytest.approx(t, abs=1e-9)


def test_timecodes_file_matches_durations(tmp_path: Path, v46_path: str) -> None:
    src = vfr_clip(DURATIONS)
    starts = np.cumsum([0] + [float(d) for d in DURATIONS])[:-1]
    tc = tmp_path / "tc.txt"
    tc.write_text("# timecode format v2\n" + "".join(f"{s * 1000:.6f}\n" for s in starts))
    a = vsrife.RIFE(src, fps_num=48, model=v46_path, sc=False)
    b = vsrife.RIFE(src, fps_num=48, model=v46_path, sc=False, timecodes=str(tc))
    assert [a.get_frame(k).props["RifeTimestep"] for k in range(12)] == pytest.approx(
        [b.get_frame(k).props["RifeTimestep"] for k in range(12)], abs=1e-6
    )


def test_vfr_with_multi_splits_each_duration(hdv3_path: str) -> None:
    src = vfr_clip(DURATIONS)
    out = vsrife.RIFE(src, 2, model=hdv3_path, sc=False)
    assert out.num_frames == 12
    for k in range(12):
        p = out.get_frame(k).props
        assert Fraction(p["_DurationNum"], p["_DurationDen"]) == DURATIONS[k // 2] / 2


def test_vfr_without_durations_is_a_clear_error(hdv3_path: str) -> None:
    src = vfr_clip(DURATIONS).std.RemoveFrameProps(["_DurationNum", "_DurationDen"])
    with pytest.raises(vs.Error, match=r"^RIFE: the clip has fps 0 .* timecodes="):
        vsrife.RIFE(src, fps_num=48, model=hdv3_path)


def test_bad_timecodes(hdv3_path: str, tmp_path: Path) -> None:
    with pytest.raises(vs.Error, match="RIFE: timecodes has 2 entries, the clip has 6 frames"):
        vsrife.RIFE(vfr_clip(DURATIONS), fps_num=48, model=hdv3_path, timecodes=[0, 0.1])
    with pytest.raises(vs.Error, match="RIFE: .*No such file"):
        vsrife.RIFE(vfr_clip(DURATIONS), fps_num=48, model=hdv3_path, timecodes=str(tmp_path / "missing.txt"))


# ------------------------------------------------------------------------------------ held frames


def animation_on_twos(n_drawings: int = 4, step: float = 4.0, w: int = 128, h: int = 96, noise: float = 0.002):
    """Drawings moving ``step`` px each, every drawing shown twice (with a little codec-like noise)."""
    img = photo("astronaut")
    rng = np.random.default_rng(0)
    frames, truth = [], []
    for d in range(n_drawings):
        pic = window(img, 150 + step * d, 100, w, h)
        for r in range(2):
            frames.append(np.clip(pic + rng.normal(0, noise, pic.shape).astype(np.float32), 0, 1))
    for k in range(2 * n_drawings):  # where the motion really is at each source frame time
        truth.append(window(img, 150 + step * k / 2, 100, w, h))
    return frames, truth


def test_distinct_frames_finds_held_drawings() -> None:
    frames, _ = animation_on_twos()
    assert distinct_frames(clip_from_frames(frames)) == [0, 2, 4, 6]
    # a still longer than MAX_HOLD stays a still
    still = [frames[0]] * 7 + frames[2:4]
    assert distinct_frames(clip_from_frames(still)) == [0, 1, 2, 3, 4, 5, 6, 7]
    # nothing held: every frame is its own
    assert distinct_frames(random_clip(5, 64, 48)) == [0, 1, 2, 3, 4]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    m = 6
    return float(-10 * np.log10(np.mean((a[:, m:-m, m:-m].astype(np.float64) - b[:, m:-m, m:-m]) ** 2)))


def test_held_frames_interpolate_across_the_real_motion(hdv3_path: str) -> None:
    frames, truth = animation_on_twos()
    src = clip_from_frames(frames)
    plain = vsrife.RIFE(src, 2, model=hdv3_path)
    held = vsrife.RIFE(src, 2, model=hdv3_path, held_frames=True)
    assert held.num_frames == plain.num_frames == 16 and held.fps == plain.fps
    # output frame k shows time k/2; the real motion there is truth at k/2 (half a frame = a quarter drawing)
    img = photo("astronaut")
    better = 0
    for k in range(1, 12):
        want = window(img, 150 + 4.0 * (k / 2) / 2, 100, 128, 96)
        p_held, p_plain = _psnr(planes(held.get_frame(k)), want), _psnr(planes(plain.get_frame(k)), want)
        better += p_held > p_plain + 1
        assert p_held > 28, (k, p_held)
    assert better >= 8  # frozen-then-jump output is far from the true motion most of the time
    # drawings themselves still pass through untouched
    assert np.array_equal(planes(held.get_frame(0)), frames[0])
    assert np.array_equal(planes(held.get_frame(4)), frames[2])


def test_held_frames_on_normal_footage_changes_nothing(hdv3_path: str) -> None:
    src = random_clip(4, 48, 32, seed=8)
    a = vsrife.RIFE(src, 3, model=hdv3_path)
    b = vsrife.RIFE(src, 3, model=hdv3_path, held_frames=True)
    for k in range(a.num_frames):
        assert np.array_equal(planes(a.get_frame(k)), planes(b.get_frame(k)))


def test_timeline_snaps_millisecond_timecodes() -> None:
    # 23.976 fps timecodes rounded to ms; output at 47.952 fps: every other instant is a source frame
    fps = Fraction(24000, 1001)
    starts = tuple(Fraction(round(i * 1000 / fps), 1000) for i in range(50))
    exact = Timeline(starts, starts[-1] + Fraction(1001, 24000), 2 * fps)
    snapped = Timeline(starts, starts[-1] + Fraction(1001, 24000), 2 * fps, snap=Fraction(1, 2000))
    assert sum(exact.position(k)[1] == 0 for k in range(0, 98, 2)) < 40  # rounding breaks exactness
    assert all(snapped.position(k)[1] == 0 and snapped.position(k)[0] == k // 2 for k in range(0, 98, 2))
    assert all(0 < snapped.position(k)[1] < 1 for k in range(1, 98, 2))
