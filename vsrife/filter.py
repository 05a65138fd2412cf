"""``vsrife.RIFE``: the VapourSynth filter."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from torch import Tensor

from . import registry, store
from .engine import Engine, EngineConfig, default_bisect_depth
from .registry import ModelSpec
from .scene import DEFAULT_THRESHOLD, pair_differences

log = logging.getLogger("vsrife")

FUNC = "RIFE"

_FORMATS: Mapping[int, np.dtype] = {vs.RGBS: np.dtype(np.float32), vs.RGBH: np.dtype(np.float16)}


def _error(msg: str) -> vs.Error:
    return vs.Error(f"{FUNC}: {msg}")


# ------------------------------------------------------------------------------------ resolution


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA if available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as given."""
    if device is None:
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise _error(f"device must be None, 'cpu', 'cuda' or 'cuda:N', got {device!r}") from e
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise _error(f"device type {dev.type!r} is not supported; use 'cpu' or 'cuda[:N]'")
    if not torch.cuda.is_available():
        raise _error(
            f"device {device!r} asks for CUDA but torch {torch.__version__} sees no CUDA GPU; "
            "use device='cpu' (or device=None to pick automatically)"
        )
    index = 0 if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise _error(f"device {device!r}: there are only {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def compute_dtype(fmt: int, device: torch.device) -> torch.dtype:
    """RGBS computes in fp32. RGBH computes in fp16 on CUDA (tensor cores); on CPU, where fp16
    convolutions are slow and bf16 loses precision, RGBH input is computed in fp32 too."""
    if fmt == vs.RGBH and device.type == "cuda":
        return torch.float16
    return torch.float32


def resolve_model(model: str | os.PathLike[str] | Mapping[str, Tensor] | None) -> tuple[ModelSpec, dict[str, Tensor]]:
    """Spec and weights for ``model``: None (the default: the first installed model in registry
    order), a registered name, a checkpoint path, or a state dict."""
    try:
        if model is None:
            for spec in registry.SPECS:
                if store.verify(spec).installed:
                    return spec, store.load_state_dict(store.installed_path(spec))
            spec = registry.SPECS[0]
            raise store.ModelError(store.missing_message(spec, store.model_path(spec)))
        if isinstance(model, Mapping):
            sd = registry.canonicalize_state_dict(model)
            return registry.detect(sd), sd
        text = os.fspath(model)
        try:
            spec = registry.get_spec(text)
        except KeyError:
            path = Path(text).expanduser()
            if not path.exists():
                raise store.ModelError(
                    f"model {text!r} is neither a known model ({', '.join(registry.names())}) nor an existing file"
                ) from None
            sd = store.load_state_dict(path)
            return registry.detect(sd), sd
        return spec, store.load_state_dict(store.installed_path(spec))
    except store.ModelError as e:
        raise _error(str(e)) from None
    except KeyError as e:
        raise _error(str(e.args[0])) from None


def build_network(spec: ModelSpec, sd: Mapping[str, Tensor]) -> torch.nn.Module:
    net = spec.build()
    try:
        net.load_state_dict(spec.filter_state_dict(sd), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise _error(f"the checkpoint does not fit model {spec.name!r}: {first}") from None
    return net


# ------------------------------------------------------------------------------------ the filter


def RIFE(
    clip: vs.VideoNode,
    multi: int = 2,
    *,
    model: str | os.PathLike[str] | Mapping[str, Tensor] | None = None,
    scale: float = 1.0,
    device: str | torch.device | None = None,
    sc: bool = True,
    sc_threshold: float = DEFAULT_THRESHOLD,
    bisect_depth: int | None = None,
) -> vs.VideoNode:
    """Interpolate ``clip`` to ``multi`` times its frame rate with RIFE.

    Output frame ``k`` shows time ``k / multi`` in source frames: source frame ``k // multi`` for
    ``k % multi == 0`` (passed through bit-exact), otherwise an interpolation between source
    frames ``i = k // multi`` and ``i + 1`` at ``t = (k % multi) / multi``. The output has
    ``num_frames * multi`` frames so that it lasts exactly as long as the source (audio stays in
    sync); the ``multi - 1`` frames after the last source frame repeat it, since there is nothing
    to interpolate towards.

    :param clip:        RGBS or RGBH, constant format and size, at least 2 frames.
    :param multi:       Frame-rate multiplier, an integer >= 2.
    :param model:       None (the best installed model, see ``vsrife models list``), a model name
                        (``"hdv3"``), a path to a checkpoint, or a state dict.
    :param scale:       Resolution of the flow estimation relative to the frame; 0.5 suits 4K.
    :param device:      None (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    :param sc:          Detect scene changes (a motion-tolerant luma difference of consecutive
                        frames, see :func:`vsrife.scene_changes`). Across a cut, output frames repeat the
                        source frame nearest in time instead of morphing the two shots. Frames
                        already marked ``_SceneChangeNext`` / ``_SceneChangePrev`` are always honoured.
    :param sc_threshold: Threshold of the built-in detector (0..1).
    :param bisect_depth: For midpoint-only models (HDv3): timesteps are reached by repeated
                        bisection, to the nearest multiple of ``1 / 2**bisect_depth``. Default:
                        exact for powers of two, within ``1 / (4 * multi)`` otherwise.
    """
    if not isinstance(clip, vs.VideoNode):
        raise _error("clip must be a video clip (vs.VideoNode)")
    if clip.format is None or clip.width == 0 or clip.height == 0:
        raise _error("clips of variable format or size are not supported; make them constant with core.resize first")
    if clip.format.id not in _FORMATS:
        raise _error(
            f"format {clip.format.name} is not supported yet; use RGBS or RGBH, e.g. "
            "clip = core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s='709')"
        )
    if clip.num_frames < 2:
        raise _error(f"the clip needs at least 2 frames to interpolate, it has {clip.num_frames}")
    if isinstance(multi, bool) or not isinstance(multi, int) or multi < 2:
        raise _error(f"multi must be an integer >= 2, got {multi!r}")
    dev = resolve_device(device)
    spec, sd = resolve_model(model)
    if scale not in spec.scales:
        raise _error(f"scale must be one of {', '.join(map(str, spec.scales))} for model {spec.name!r}, got {scale!r}")
    if not 0 < sc_threshold <= 1:
        raise _error(f"sc_threshold must be in (0, 1], got {sc_threshold!r}")
    if bisect_depth is None:
        bisect_depth = default_bisect_depth(multi)
    elif isinstance(bisect_depth, bool) or not isinstance(bisect_depth, int) or not 1 <= bisect_depth <= 10:
        raise _error(f"bisect_depth must be an integer from 1 to 10, got {bisect_depth!r}")

    cfg = EngineConfig(spec, dev, compute_dtype(clip.format.id, dev), clip.height, clip.width, scale, bisect_depth)
    engine = Engine(cfg, build_network(spec, sd), cache_capacity=2 * multi + 4 * vs.core.num_threads + 4)
    log.info("RIFE: model %s on %s (%s), padded to %dx%d", spec.name, dev, cfg.dtype, engine.pw, engine.ph)
    return _serve(clip, multi, engine, sc, sc_threshold)


def _serve(clip: vs.VideoNode, multi: int, engine: Engine, sc: bool, sc_threshold: float) -> vs.VideoNode:
    n_src = clip.num_frames
    last = n_src - 1
    np_dtype = _FORMATS[clip.format.id]
    # Clips aligned with the output: frame k of `first`/`second` is source frame i / i+1 of k's pair.
    first = vs.core.std.Interleave([clip] * multi)
    second = vs.core.std.Interleave([clip[1:] + clip[-1]] * multi)
    clips = [first, second]
    if sc:
        clips.append(vs.core.std.Interleave([pair_differences(clip)] * multi))
    if clip.fps.numerator > 0:
        fps = clip.fps * multi
        duration = (fps.denominator, fps.numerator)
    else:
        duration = None  # variable frame rate: each output frame gets 1/multi of its source frame's duration

    def planes(f: vs.VideoFrame) -> list[np.ndarray]:
        return [np.asarray(f[p]) for p in range(3)]

    def serve(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        i, j = divmod(n, multi)
        fa, fb = f[0], f[1]
        t = Fraction(j, multi)
        between = j > 0 and i < last  # a time strictly between two source frames
        cut = between and (
            bool(fa.props.get("_SceneChangeNext", 0))
            or bool(fb.props.get("_SceneChangePrev", 0))
            or (sc and float(f[2].props["PlaneStatsAverage"]) > sc_threshold)
        )
        # Across a cut, show the real frame nearest in time; never a morph of two shots.
        out = (fb if cut and t >= Fraction(1, 2) else fa).copy()
        props = out.props
        if between and not cut:
            frames = {i: fa, i + 1: fb}
            x = engine.interpolate(i, t, lambda k: engine.to_tensor(planes(frames[k])))
            data = engine.to_planes(x, np_dtype)
            for p in range(3):
                np.copyto(np.asarray(out[p]), data[p])
            for key in ("_SceneChangeNext", "_SceneChangePrev"):
                props.pop(key, None)
            props["RifeTimestep"] = float(engine.timestep_used(t))
        else:
            props["RifeTimestep"] = 0.0
        if cut:
            props["RifeSceneCut"] = 1
        if duration is not None:
            props["_DurationNum"], props["_DurationDen"] = duration
        elif "_DurationNum" in fa.props:
            d = Fraction(fa.props["_DurationNum"], fa.props["_DurationDen"]) / multi
            props["_DurationNum"], props["_DurationDen"] = d.numerator, d.denominator
        return out

    return first.std.ModifyFrame(clips, serve)
