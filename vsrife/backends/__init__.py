"""Runtimes that run a network: PyTorch eager (every device) and OpenVINO (the CPU).

A backend runs the same graph, :class:`~vsrife.backends.graph.Interpolator` (the network plus the
evidence the scene detector reads), for one padded frame size, scale and precision. It is only ever
called from the engine's inference worker thread. :func:`choose` picks one for ``backend=None``:
OpenVINO on the CPU where the model exports (a static graph) and OpenVINO is installed, torch
otherwise (and on CUDA, where a TensorRT backend would slot in beside it).

This module does not import PyTorch: a graph that OpenVINO has already converted is served without
it (:mod:`vsrife.backends.openvino_runtime`), which saves the 0.7 GB PyTorch occupies in a process.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..registry import ModelSpec

if TYPE_CHECKING:
    from torch import nn

    from ..archs.common import Warp

log = logging.getLogger("vsrife")

EVIDENCE = ("residual", "disagree", "tolerant", "block10", "block25", "block50")
"""What :func:`vsrife.backends.graph.evidence` measures, in order (see there)."""


@dataclass(frozen=True)
class Device:
    """A device by name, without PyTorch: ``type`` ``cpu`` or ``cuda``, ``index`` for CUDA. Reads
    like a ``DeviceLike`` (``.type``, ``.index``, ``str()``), which is accepted wherever it is."""

    type: str
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = Device("cpu")


class DeviceLike(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def index(self) -> int | None: ...


@dataclass(frozen=True)
class Target:
    """What a backend is built for."""

    spec: ModelSpec
    device: DeviceLike
    """:class:`Device` (or a ``DeviceLike``); the torch backend turns it into a ``DeviceLike``."""
    precision: str
    """Resolved: ``fp32``, ``bf16`` (mixed, see the backends) or ``fp16``."""
    height: int
    width: int
    """The frame size (the valid region of the padded tensors)."""
    padded: tuple[int, int]
    """(height, width) the network runs at."""
    scale: float
    ensemble: bool


Array = Any
"""A backend's frame or feature tensor: a numpy array (OpenVINO) or a ``torch.Tensor`` (torch)."""


class Backend(Protocol):
    name: str

    def host_tensor(self, planes: Sequence[np.ndarray]) -> Array:
        """Three H x W planes as a host tensor for :meth:`upload` (called in any thread)."""

    def upload(self, host: Array) -> Array:
        """The padded device tensor of a :meth:`host_tensor` (called in the worker thread)."""

    def download(self, x: Array, dtype: np.dtype) -> np.ndarray:
        """The valid region of a frame as a 3 x H x W host array of ``dtype`` (a view of ``x`` where no
        conversion is needed: read it, do not change it)."""

    def encode(self, img: Array) -> Array:
        """Per-frame features (models with an encoder)."""

    def interpolate(
        self, img0: Array, img1: Array, t: float, feat0: Array | None, feat1: Array | None
    ) -> tuple[Array, Array]:
        """(frame, evidence) at ``t``; inputs are padded tensors on the target device."""


def limit_threads(threads: int) -> None:
    """Compute with ``threads`` threads from now on: PyTorch's count where it is loaded, and the
    count OpenVINO (see :func:`~vsrife.backends.openvino_runtime.inference_threads`) and a PyTorch
    loaded later start with (``OMP_NUM_THREADS``)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


DEFAULT_ENV = "VSRIFE_BACKEND"
"""Environment variable naming the backend ``backend=None`` means (``torch`` or ``openvino``)."""


def _from_env() -> str | None:
    value = os.environ.get(DEFAULT_ENV)
    return value if value in ("torch", "openvino") else None


def choose(requested: str | None, spec: ModelSpec, device: DeviceLike) -> str:
    """The backend ``requested`` (None: ``$VSRIFE_BACKEND``, else the fastest exact one) for ``spec``
    on ``device``; raises ValueError saying why a requested one cannot run."""
    if requested is None:
        requested = _from_env()
        if requested == "openvino" and (device.type != "cpu" or not spec.exportable):
            requested = "torch"
    if requested == "openvino":
        if device.type != "cpu":
            raise ValueError("the OpenVINO backend runs on the CPU; use device='cpu' or backend='torch'")
        if not spec.exportable:
            raise ValueError(
                f"model {spec.name!r} has a data-dependent branch and cannot be exported; use backend='torch'"
            )
        if not openvino_available():
            raise ValueError("the OpenVINO backend needs the 'openvino' package: pip install openvino")
        return "openvino"
    if requested == "torch":
        return "torch"
    if device.type == "cpu" and spec.exportable and openvino_available():
        return "openvino"
    return "torch"


def torch_certain(requested: str | None, device: DeviceLike) -> bool:
    """Whether :func:`choose` picks the torch backend for every model: on CUDA, where torch is asked
    for (by name or ``$VSRIFE_BACKEND``), or where OpenVINO is not installed. The process then loads
    PyTorch anyway, so nothing is gained by keeping PyTorch out of it (a child process that reads a
    checkpoint costs a second PyTorch import: 1.5 s of CPU)."""
    if requested is None:
        requested = _from_env()
    return device.type != "cpu" or requested == "torch" or not openvino_available()


def resolve_precision(requested: str, spec: ModelSpec, device: DeviceLike, backend: str = "torch") -> str:
    """``auto`` -> on CUDA the model's default (fp16 for 4.x, with the warp in fp32; fp32 for HDv3 and
    the paper model); on the CPU the mixed bf16 graph of the OpenVINO backend where the CPU computes
    bf16 natively (measured within 0.01 dB of fp32 on real footage, see the README), else fp32."""
    if requested == "auto":
        if device.type == "cuda":
            return spec.cuda_precision
        if backend == "openvino" and spec.arch != "paper":
            from .openvino_runtime import native_bf16

            return "bf16" if native_bf16() else "fp32"
        return "fp32"
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("fp16 is for CUDA (CPUs compute half precision slowly); on the CPU use 'fp32' or 'bf16'")
    return requested


def cached(name: str, target: Target, weights: str | None, source: str | None = None) -> Backend | None:
    """The backend ``name`` for ``target`` when it can run without PyTorch: OpenVINO with both
    graphs of this target and these weights (``weights``: the id from :func:`vsrife.loader.resolve`)
    converted, by an earlier run or, given the model's ``source`` (its name or path), by a child
    process now (:mod:`vsrife.backends.openvino_child`). None otherwise (build it with :func:`build`)."""
    if name != "openvino" or weights is None:
        return None
    from .openvino_runtime import from_cache

    found = from_cache(target, weights)
    if found is None and source is not None:
        from .openvino_child import convert_apart

        if convert_apart(source, weights, target):
            found = from_cache(target, weights)
    return found


def build(
    name: str, net: nn.Module, target: Target, warp: Warp, fallback: bool = False, weights: str | None = None
) -> Backend:
    """The backend ``name``; with ``fallback`` (the backend was not asked for by name) one that fails
    to build gives way to torch, with a warning that says why. ``weights`` names the weights for the
    compiled-graph cache (None: a digest of the tensors)."""
    if name == "openvino":
        try:
            from .openvino_cpu import OpenVINOBackend

            return OpenVINOBackend(net, target, warp, weights=weights)
        except Exception as e:
            if not fallback:
                raise
            log.warning(
                "RIFE: the OpenVINO backend is not available for %s (%s: %s); using torch",
                target.spec.name,
                type(e).__name__,
                e,
            )
    from .torch_eager import TorchBackend

    return TorchBackend(net, target, warp)
