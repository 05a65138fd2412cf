"""``vsrife.RIFE``: the VapourSynth filter."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from math import ceil
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from torch import Tensor

from . import registry, store
from .colour import from_work, read_colour, to_work
from .engine import Engine, EngineConfig, default_bisect_depth
from .registry import ModelSpec
from .scene import DEFAULT_THRESHOLD, pair_differences
from .schedule import HELD_THRESHOLD, Schedule, ScheduleError, plan
from .timing import Retime

log = logging.getLogger("vsrife")

FUNC = "RIFE"


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


def compute_dtype(work_format: int, device: torch.device, spec: ModelSpec) -> torch.dtype:
    """32-bit float input computes in fp32. Half-float input (RGBH/GRAYH) computes in fp16 on CUDA
    (tensor cores) where the model supports it; on CPU, where fp16 convolutions are slow and bf16
    autocast lost too much precision in our measurement, in fp32."""
    if work_format in (vs.RGBH, vs.GRAYH) and device.type == "cuda" and "fp16" in spec.precisions:
        return torch.float16
    return torch.float32


def resolve_model(model: str | os.PathLike[str] | Mapping[str, Tensor] | None) -> tuple[ModelSpec, dict[str, Tensor]]:
    """Spec and weights for ``model``: None (the default: the first installed model in
    :func:`registry.by_preference` order), a registered name, a checkpoint path, or a state dict.

    A file named like a release (``flownet_v4.22.pkl``) must contain that release's network."""
    try:
        if model is None:
            for spec in registry.by_preference():
                if store.verify(spec).installed:
                    sd = store.load_state_dict(store.installed_path(spec))
                    _check_fits(spec, sd, spec.filename)
                    return spec, sd
            spec = registry.FETCH_DEFAULT
            raise store.ModelError(store.missing_message(spec, store.model_path(spec)))
        if isinstance(model, Mapping):
            sd = registry.canonicalize_state_dict(model)
            return registry.detect(sd), sd
        text = os.fspath(model)
        try:
            spec = registry.get_spec(text)
        except KeyError:
            path = Path(text).expanduser()
            if not path.is_file():
                raise store.ModelError(
                    f"model {text!r} is neither a known model ({', '.join(registry.names())}) nor an existing file"
                ) from None
            sd = store.load_state_dict(path)
            named = registry.from_filename(path.name)
            if named is None:
                return registry.detect(sd), sd
            _check_fits(named, sd, path.name)
            return named, sd
        sd = store.load_state_dict(store.installed_path(spec))
        _check_fits(spec, sd, spec.filename)
        return spec, sd
    except store.ModelError as e:
        raise _error(str(e)) from None
    except KeyError as e:
        raise _error(str(e.args[0])) from None


def _check_fits(spec: ModelSpec, sd: dict[str, Tensor], source: str) -> None:
    if spec.detect(sd):
        return
    try:
        actual = f"a {registry.detect(sd).name} checkpoint"
    except KeyError:
        actual = "no known RIFE network"
    raise store.ModelError(f"{source} should hold model {spec.name!r} but contains {actual}; rename or replace the file")


def build_network(spec: ModelSpec, sd: Mapping[str, Tensor]) -> torch.nn.Module:
    net = spec.build()
    try:
        net.load_state_dict(spec.filter_state_dict(sd), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise _error(f"the checkpoint does not fit model {spec.name!r}: {first}") from None
    return net


# ------------------------------------------------------------------------------------ the filter


MIN_UNEVEN_DEPTH = 3


def resolve_rate(
    multi: int, factor_num: int | None, factor_den: int, fps_num: int | None, fps_den: int
) -> tuple[Fraction | None, Fraction | None]:
    """``(factor, None)`` or ``(None, target fps)`` from exactly one of ``multi``,
    ``factor_num/den``, ``fps_num/den``."""
    for name, value in (("factor_den", factor_den), ("fps_den", fps_den)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _error(f"{name} must be a positive integer, got {value!r}")
    if fps_num is not None:
        if isinstance(fps_num, bool) or not isinstance(fps_num, int) or fps_num < 1:
            raise _error(f"fps_num must be a positive integer, got {fps_num!r}")
        if factor_num is not None:
            raise _error("give either factor_num/factor_den or fps_num/fps_den, not both")
        return None, Fraction(fps_num, fps_den)
    if factor_num is not None:
        if isinstance(factor_num, bool) or not isinstance(factor_num, int) or factor_num < 1:
            raise _error(f"factor_num must be a positive integer, got {factor_num!r}")
        return Fraction(factor_num, factor_den), None
    if isinstance(multi, bool) or not isinstance(multi, int) or multi < 2:
        raise _error(f"multi must be an integer >= 2 (for other rates use factor_num/factor_den or fps_num/fps_den), got {multi!r}")
    return Fraction(multi), None


def RIFE(
    clip: vs.VideoNode,
    multi: int = 2,
    *,
    factor_num: int | None = None,
    factor_den: int = 1,
    fps_num: int | None = None,
    fps_den: int = 1,
    model: str | os.PathLike[str] | Mapping[str, Tensor] | None = None,
    scale: float = 1.0,
    device: str | torch.device | None = None,
    sc: bool = True,
    sc_threshold: float = DEFAULT_THRESHOLD,
    bisect_depth: int | None = None,
    ensemble: bool = False,
    timecodes: str | Sequence[float] | None = None,
    held_frames: bool = False,
    held_threshold: float = HELD_THRESHOLD,
) -> vs.VideoNode:
    """Interpolate ``clip`` to a higher (or any other) frame rate with RIFE.

    Output frame ``k`` shows source time ``k / factor`` (in source frames), where ``factor`` is
    ``multi``, ``factor_num / factor_den``, or ``(fps_num / fps_den) / clip.fps``. Where that time is
    a source frame, the frame is passed through bit-exact; otherwise the two source frames around
    it are interpolated at the fraction ``t`` between them. The output has ``ceil(num_frames *
    factor)`` frames so that it lasts as long as the source (audio stays in sync); instants after
    the last source frame repeat it, since there is nothing to interpolate towards.

    :param clip:        YUV, RGB or GRAY, 8-16 bit integer or 16/32 bit float, constant format
                        and size, at least 2 frames. The output has the same format.
    :param multi:       Integer frame-rate multiplier >= 2 (used when neither factor nor fps is given).
    :param factor_num:  Rational multiplier ``factor_num / factor_den`` (e.g. 5/2).
    :param fps_num:     Target frame rate ``fps_num / fps_den`` (e.g. 60000/1001).
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
                        exact for power-of-two ``multi``, within ``1 / (4 * multi)`` for other
                        integers, and at least 3 (eighths) for uneven rates and variable-rate timing.
    :param ensemble:    Also run each pair in reverse order and average (4.0-4.20): smoother in
                        uncertain areas, twice the cost. ``vsrife models list`` shows which models have it.
    :param timecodes:   Frame start times of a variable-rate source: a Matroska v2 timecodes file
                        (ms) or a list of seconds. Without it, a clip with fps 0 is timed from its
                        frames' ``_DurationNum/_DurationDen`` (one pass over the clip first). With a
                        variable-rate source, timesteps follow the real timestamps and the output has
                        the constant rate ``fps_num/fps_den`` (or the average rate times ``factor``).
    :param held_frames: Leave out frames that repeat the previous one (animation on 2s/3s,
                        stutter) and interpolate across the real motion interval instead of
                        showing a frozen frame then a jump. Runs longer than 4 frames are kept as
                        stills. Needs one pass over the clip first. Off by default: on footage
                        without held frames it changes nothing but costs that pass.
    :param held_threshold: Mean absolute luma difference (0..1, on a 128-pixel-wide copy) below
                        which a frame counts as a repeat.
    """
    if not isinstance(clip, vs.VideoNode):
        raise _error("clip must be a video clip (vs.VideoNode)")
    if clip.format is None or clip.width == 0 or clip.height == 0:
        raise _error("clips of variable format or size are not supported; make them constant with core.resize first")
    fmt = clip.format
    if fmt.color_family not in (vs.YUV, vs.RGB, vs.GRAY) or (fmt.sample_type == vs.INTEGER and fmt.bits_per_sample > 16):
        raise _error(f"format {fmt.name} is not supported; use YUV, RGB or GRAY at 8-16 bit integer or 16/32 bit float")
    if clip.num_frames < 2:
        raise _error(f"the clip needs at least 2 frames to interpolate, it has {clip.num_frames}")
    factor, target_fps = resolve_rate(multi, factor_num, factor_den, fps_num, fps_den)
    dev = resolve_device(device)
    spec, sd = resolve_model(model)
    if scale not in spec.scales:
        raise _error(f"scale must be one of {', '.join(map(str, spec.scales))} for model {spec.name!r}, got {scale!r}")
    if not 0 < sc_threshold <= 1:
        raise _error(f"sc_threshold must be in (0, 1], got {sc_threshold!r}")
    if not 0 < held_threshold < 1:
        raise _error(f"held_threshold must be in (0, 1), got {held_threshold!r}")
    if ensemble and not spec.ensemble:
        raise _error(f"model {spec.name!r} does not support ensemble; models that do: "
                     + ", ".join(s.name for s in registry.SPECS if s.ensemble))
    try:
        schedule = plan(clip, factor, target_fps, timecodes, held_frames, held_threshold)
    except (ScheduleError, OSError) as e:
        raise _error(str(e)) from None
    retime = schedule.retime
    steps = ceil(retime.num_frames / retime.src_frames)  # output frames per source interval, about
    if bisect_depth is None:
        bisect_depth = default_bisect_depth(max(2, steps))
        if not (isinstance(retime, Retime) and retime.factor.denominator == 1):
            # uneven timesteps (5/2, 60 -> 50, variable rate): at least eighths, so no in-between
            # frame lands more than 1/16 of an interval away from its instant
            bisect_depth = max(bisect_depth, MIN_UNEVEN_DEPTH)
    elif isinstance(bisect_depth, bool) or not isinstance(bisect_depth, int) or not 1 <= bisect_depth <= 10:
        raise _error(f"bisect_depth must be an integer from 1 to 10, got {bisect_depth!r}")

    source = schedule.source
    colour = read_colour(source, source.get_frame(0).props) if fmt.color_family == vs.YUV else None
    work = to_work(source, colour)
    cfg = EngineConfig(spec, dev, compute_dtype(work.format.id, dev, spec), clip.height, clip.width, scale, bisect_depth, ensemble)
    engine = Engine(cfg, build_network(spec, sd), cache_capacity=2 * steps + 4 * vs.core.num_threads + 4)
    log.info("RIFE: model %s on %s (%s), padded to %dx%d", spec.name, dev, cfg.dtype, engine.pw, engine.ph)
    out = _serve(work, schedule, engine, sc, sc_threshold)
    if work is clip:
        return out
    # Back to the input's format. Every frame that shows a real source frame (its own instant, or
    # held across a cut) comes from the input itself, untouched: the YUV -> RGB -> YUV round trip
    # is not lossless for subsampled chroma.
    back = from_work(out, fmt, colour)
    this = _retimed(source, schedule).std.SetFrameProps(RifeTimestep=0.0)
    held_this = this.std.SetFrameProps(RifeSceneCut=1)
    held_next = _retimed(source[1:] + source[-1], schedule).std.SetFrameProps(RifeTimestep=0.0, RifeSceneCut=1)

    def pick(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        t = retime.position(n)[1]
        if t == 0:
            return this
        if f.props.get("RifeSceneCut"):
            return held_next if t >= Fraction(1, 2) else held_this
        return back

    return back.std.FrameEval(pick, prop_src=out, clip_src=[this, held_this, held_next, back])


def _retimed(clip: vs.VideoNode, schedule: Schedule) -> vs.VideoNode:
    """Frame k = the source frame at or before output instant k, at the output frame rate."""
    cycle, offsets = schedule.retime.select_every()
    out = clip.std.SelectEvery(cycle=cycle, offsets=offsets, modify_duration=False)[: schedule.retime.num_frames]
    fps = schedule.out_fps
    if fps.numerator > 0:
        out = out.std.AssumeFPS(fpsnum=fps.numerator, fpsden=fps.denominator)
    return out


def _serve(clip: vs.VideoNode, schedule: Schedule, engine: Engine, sc: bool, sc_threshold: float) -> vs.VideoNode:
    retime = schedule.retime
    gray = clip.format.color_family == vs.GRAY
    np_dtype = np.dtype(np.float16 if clip.format.bits_per_sample == 16 else np.float32)
    # Clips aligned with the output: frame k of `first`/`second` is source frame i / i+1 of k's pair.
    first = _retimed(clip, schedule)
    clips = [first, _retimed(clip[1:] + clip[-1], schedule)]
    if sc:
        clips.append(_retimed(pair_differences(clip), schedule))
    fps = schedule.out_fps

    def planes(f: vs.VideoFrame) -> list[np.ndarray]:
        return [np.asarray(f[0])] * 3 if gray else [np.asarray(f[p]) for p in range(3)]

    def serve(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        i, t = retime.position(n)
        fa, fb = f[0], f[1]
        between = t > 0  # a time strictly between two source frames
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
            if gray:
                np.copyto(np.asarray(out[0]), data.mean(axis=0, dtype=np.float32).astype(np_dtype))
            else:
                for p in range(3):
                    np.copyto(np.asarray(out[p]), data[p])
            for key in ("_SceneChangeNext", "_SceneChangePrev"):
                props.pop(key, None)
            props["RifeTimestep"] = float(engine.timestep_used(t))
        else:
            props["RifeTimestep"] = 0.0
        if cut:
            props["RifeSceneCut"] = 1
        if fps.numerator > 0:
            props["_DurationNum"], props["_DurationDen"] = fps.denominator, fps.numerator
        elif "_DurationNum" in fa.props and isinstance(retime, Retime):  # variable rate out: split the source's
            d = Fraction(fa.props["_DurationNum"], fa.props["_DurationDen"]) / retime.factor
            props["_DurationNum"], props["_DurationDen"] = d.numerator, d.denominator
        return out

    return first.std.ModifyFrame(clips, serve)
