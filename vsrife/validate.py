"""The one validation layer of ``RIFE()``: every public argument is checked here, once, for type and
range, before anything is built.

Rules: ``bool`` is not a number and a number is not a ``bool``; strings are not numbers; a
``Fraction`` is accepted wherever a rational makes sense (``multi=Fraction(5, 2)``); an integral float
(``2.0``) is taken as the integer. Errors have one form, ``RIFE: <argument>: <what is wrong>; <what to
do>``, raised as ``vs.Error``.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral, Rational, Real
from typing import Any

import numpy as np
import vapoursynth as vs

from .backends import CPU, Device
from .formats import unsupported
from .timing import Rate

FUNC = "RIFE"

SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
BACKENDS = ("torch", "openvino")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MAX_BISECT_DEPTH = 10


def error(arg: str | None, problem: str, fix: str | None = None) -> vs.Error:
    """``RIFE: <arg>: <problem>; <fix>``."""
    text = f"{FUNC}: {arg}: {problem}" if arg else f"{FUNC}: {problem}"
    return vs.Error(f"{text}; {fix}" if fix else text)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def flag(name: str, value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise error(name, f"must be True or False, got {_shown(value)}")


def integer(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise error(name, f"must be an integer, got {_shown(value)}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        span = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise error(name, f"must be {span}, got {v}")
    return v


def rational(name: str, value: object) -> Fraction:
    """A positive exact rational: int, Fraction (any ``numbers.Rational``), or an integral float."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, Rational):
        hint = (
            f"use Fraction({Fraction(str(value)).numerator}, {Fraction(str(value)).denominator})"
            if isinstance(value, float) and math.isfinite(value)
            else "give an int or a fractions.Fraction"
        )
        raise error(name, f"must be an exact positive number, got {_shown(value)}", hint)
    v = Fraction(int(value.numerator), int(value.denominator))  # numpy integers become Python ints
    if v <= 0:
        raise error(name, f"must be positive, got {v}")
    return v


def real(name: str, value: object, lo: float, hi: float, *, lo_open: bool = True, hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise error(name, f"must be a number, got {_shown(value)}")
    v = float(value)
    below = v <= lo if lo_open else v < lo
    above = v >= hi if hi_open else v > hi
    if not math.isfinite(v) or below or above:
        span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise error(name, f"must be in {span}, got {_shown(value)}")
    return v


def choice(name: str, value: object, options: Sequence[str | None]) -> Any:
    if value in options and (value is None or isinstance(value, str)):
        return value
    names = ", ".join(repr(o) for o in options)
    raise error(name, f"must be one of {names}, got {_shown(value)}")


# --------------------------------------------------------------------------------------------- arguments


def clip_arg(clip: object) -> vs.VideoNode:
    if not isinstance(clip, vs.VideoNode):
        raise error("clip", f"must be a video clip (vs.VideoNode), got {type(clip).__name__}")
    why = unsupported(clip.format, clip.width, clip.height)
    if why:
        raise error("clip", why)
    if clip.num_frames < 2:
        raise error("clip", f"needs at least 2 frames to interpolate, it has {clip.num_frames}")
    return clip


def rate_arg(multi: object, factor_num: object, factor_den: object, fps_num: object, fps_den: object) -> Rate:
    """Exactly one of ``multi``, ``factor_num[/factor_den]``, ``fps_num[/fps_den]`` (default: multi=2)."""
    given = [n for n, v in (("multi", multi), ("factor_num", factor_num), ("fps_num", fps_num)) if v is not None]
    if len(given) > 1:
        raise error(
            given[1], f"cannot be combined with {given[0]}", "give one of multi, factor_num/factor_den, fps_num/fps_den"
        )
    for den_name, den, num_name, num in (
        ("factor_den", factor_den, "factor_num", factor_num),
        ("fps_den", fps_den, "fps_num", fps_num),
    ):
        if den is not None and num is None:
            raise error(den_name, f"was given without {num_name}", f"give {num_name} too")
    if fps_num is not None:
        return Rate(
            fps=rational("fps_num", fps_num) / rational("fps_den", 1 if fps_den is None else fps_den), arg="fps_num"
        )
    if factor_num is not None:
        return Rate(
            factor=rational("factor_num", factor_num) / rational("factor_den", 1 if factor_den is None else factor_den),
            arg="factor_num",
        )
    m = rational("multi", 2 if multi is None else multi)
    if m <= 1:
        raise error(
            "multi",
            f"must be more than 1, got {m}",
            "to keep or lower the rate use factor_num/factor_den or fps_num/fps_den",
        )
    return Rate(factor=m)


def model_arg(model: object) -> str | os.PathLike[str] | Mapping[str, Any] | None:
    if model is None or isinstance(model, (str, os.PathLike, Mapping)):
        if isinstance(model, os.PathLike) and isinstance(os.fspath(model), bytes):
            raise error("model", "a bytes path is not supported", "pass the path as a str")
        return model
    if isinstance(model, bytes):
        raise error("model", "bytes are not a model name or path", "pass a str")
    raise error(
        "model",
        f"must be None, a model name, a checkpoint path or a state dict, got {type(model).__name__}",
        "see `vsrife models list` for the names",
    )


def cuda_available() -> bool:
    """``torch.cuda.is_available()``, without importing PyTorch where no NVIDIA driver is present
    (Linux: no ``/proc/driver/nvidia``, no ``/dev/nvidiactl``, not WSL): CUDA cannot be there."""
    if "torch" not in sys.modules and sys.platform.startswith("linux"):
        markers = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")
        if not any(os.path.exists(m) for m in markers):
            return False
    import torch

    return bool(torch.cuda.is_available())


def device_arg(device: object) -> Device:
    """``None`` -> CUDA if available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``, a torch.device.
    The CPU is resolved without importing PyTorch (see :mod:`vsrife.backends.openvino_runtime`)."""
    loaded = sys.modules.get("torch")
    if device is not None and not isinstance(device, str) and not (loaded and isinstance(device, loaded.device)):
        raise error("device", f"must be None, 'cpu', 'cuda' or 'cuda:N', got {_shown(device)}")
    if device is None:
        return Device("cuda", 0) if cuda_available() else CPU
    if str(device) == "cpu" or re.fullmatch(r"cpu:\d+", str(device)):
        return CPU
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise error("device", f"must be None, 'cpu', 'cuda' or 'cuda:N', got {_shown(device)}") from None
    if dev.type == "cpu":
        return CPU
    if dev.type != "cuda":
        raise error("device", f"type {dev.type!r} is not supported", "use 'cpu' or 'cuda[:N]'")
    if not torch.cuda.is_available():
        raise error(
            "device",
            f"{device!r} asks for CUDA but torch {torch.__version__} sees no CUDA GPU",
            "use device='cpu' (or device=None to pick automatically)",
        )
    index = 0 if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise error("device", f"{device!r}: there are only {torch.cuda.device_count()} CUDA device(s)")
    return Device("cuda", index)


def timecodes_arg(timecodes: object) -> str | os.PathLike[str] | Sequence[Real] | None:
    if timecodes is None or isinstance(timecodes, (str, os.PathLike)):
        return timecodes
    if isinstance(timecodes, Sequence) and not isinstance(timecodes, (bytes, bytearray)):
        return timecodes  # entries are checked where they are read (timing)
    if type(timecodes).__module__ == "numpy" and getattr(timecodes, "ndim", None) == 1:
        return list(timecodes.tolist())  # type: ignore[attr-defined]  # a numpy array of times
    raise error(
        "timecodes",
        f"must be a timecodes file path or a list of frame start times in seconds, got {type(timecodes).__name__}",
    )


@dataclass(frozen=True)
class Options:
    """``RIFE()``'s arguments, checked."""

    clip: vs.VideoNode
    rate: Rate
    model: str | os.PathLike[str] | Mapping[str, Any] | None
    scale: float
    device: Device
    backend: str | None
    precision: str
    sc: bool
    sc_threshold: float
    bisect_depth: int | None
    ensemble: bool
    timecodes: str | os.PathLike[str] | Sequence[Real] | None
    held_frames: bool
    held_threshold: float


def options(
    *,
    clip: object,
    multi: object,
    factor_num: object,
    factor_den: object,
    fps_num: object,
    fps_den: object,
    model: object,
    scale: object,
    device: object,
    backend: object,
    precision: object,
    sc: object,
    sc_threshold: object,
    bisect_depth: object,
    ensemble: object,
    timecodes: object,
    held_frames: object,
    held_threshold: object,
) -> Options:
    if sc_threshold is None:
        raise error(
            "sc_threshold",
            "None is not a threshold",
            "to honour only scene-change props already on the frames, pass sc=False",
        )
    if isinstance(scale, bool) or not isinstance(scale, Real) or float(scale) not in SCALES:
        raise error(
            "scale",
            f"must be one of {', '.join(map(str, SCALES))}, got {_shown(scale)}",
            "0.5 suits 4K, 2.0 small frames",
        )
    return Options(
        clip=clip_arg(clip),
        rate=rate_arg(multi, factor_num, factor_den, fps_num, fps_den),
        model=model_arg(model),
        scale=float(scale),
        device=device_arg(device),
        backend=choice("backend", backend, (None, *BACKENDS)),
        precision=choice("precision", precision, PRECISIONS),
        sc=flag("sc", sc),
        sc_threshold=real("sc_threshold", sc_threshold, 0.0, 1.0),
        bisect_depth=None if bisect_depth is None else integer("bisect_depth", bisect_depth, 1, MAX_BISECT_DEPTH),
        ensemble=flag("ensemble", ensemble),
        timecodes=timecodes_arg(timecodes),
        held_frames=flag("held_frames", held_frames),
        held_threshold=real("held_threshold", held_threshold, 0.0, 1.0, hi_open=True),
    )
