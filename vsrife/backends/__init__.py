"""Runtimes that run a network: PyTorch eager (every device) and OpenVINO (the CPU).

A backend runs the same graph, :class:`Interpolator` (the network plus the evidence the scene
detector reads), for one padded frame size, scale and precision. It is only ever called from the
engine's inference worker thread. :func:`choose` picks one for ``backend=None``: OpenVINO on the
CPU where the model exports (a static graph) and OpenVINO is installed, torch otherwise (and on
CUDA, where a TensorRT backend would slot in beside it).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..archs import Network
from ..archs.common import Fused, Warp
from ..registry import ModelSpec

log = logging.getLogger("vsrife")

EVIDENCE = ("residual", "disagree", "tolerant", "block10", "block25", "block50")
"""What :func:`evidence` measures, in order (see there)."""

TOLERANCE = 0.05
"""A pixel disagrees when it lies this far (0..1) outside the range of the other warped frame's 3 x 3
neighbourhood around it, after brightness matching."""

FLAT = 0.02
"""A pixel whose 3 x 3 range (0..1) is below this in both warped frames, and that agrees, has nothing
to align: it says nothing about the pair."""

TELLING = 0.25
"""Blocks count in the percentiles when at least this share of their pixels has something to align."""


@dataclass(frozen=True)
class Target:
    """What a backend is built for."""

    spec: ModelSpec
    device: torch.device
    precision: str
    """Resolved: ``fp32``, ``bf16`` (mixed, see the backends) or ``fp16``."""
    height: int
    width: int
    """The frame size (the valid region of the padded tensors)."""
    padded: tuple[int, int]
    """(height, width) the network runs at."""
    scale: float
    ensemble: bool


def _extremes3(x: Tensor) -> tuple[Tensor, Tensor]:
    """max and min over each pixel's 3 x 3 neighbourhood, the frame's edge pixels repeated (the same
    values as ``max_pool2d(x, 3, 1, 1)``, whose padding never wins). Separable, from shifted
    slices: 3 x 3 ``max_pool2d`` at stride 1 took 93 ms on a 3-plane 1080p frame on 2 cores in
    OpenVINO (112 ms in PyTorch); the evidence needs the max and the min of both warped frames."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    a, b, c = p[..., :-2, :], p[..., 1:-1, :], p[..., 2:, :]
    hi, lo = torch.maximum(torch.maximum(a, b), c), torch.minimum(torch.minimum(a, b), c)
    hi = torch.maximum(torch.maximum(hi[..., :-2], hi[..., 1:-1]), hi[..., 2:])
    lo = torch.minimum(torch.minimum(lo[..., :-2], lo[..., 1:-1]), lo[..., 2:])
    return hi, lo


def _excess(x: Tensor, y: Tensor, y_extremes: tuple[Tensor, Tensor]) -> Tensor:
    """How far each pixel of ``x`` lies outside the min..max of ``y``'s 3 x 3 neighbourhood (mean
    over channels; ``y_extremes`` from :func:`_extremes3`): sub-pixel misalignment costs nothing,
    different content does."""
    hi, lo = y_extremes
    return (F.relu(x - hi) + F.relu(lo - x)).mean(1, keepdim=True)


def _quantiles(values: Tensor, counted: Tensor, ps: Sequence[float]) -> list[Tensor]:
    """The ``ps`` quantiles (lower, no interpolation) of the ``values`` where ``counted``, 0 where
    none is; tensor operations only, so the graph stays static for export."""
    ordered, _ = torch.sort(torch.where(counted, values, torch.full_like(values, 2.0)))  # left out: last
    k = counted.sum()
    out = []
    for p in ps:
        idx = torch.floor(p * (k - 1).clamp(min=0).float()).long().view(1)
        out.append(torch.where(k > 0, torch.gather(ordered, 0, idx)[0], torch.zeros((), device=values.device)))
    return out


def evidence(fused: Fused, height: int, width: int) -> Tensor:
    """A 1 x 6 summary of how well the network explained the pair, over the frame (not the padding):

    * ``residual``: mean |warped0 - warped1| (0..1);
    * ``disagree``: share of pixels where they differ by more than 0.1;
    * ``tolerant``: mean disagreement beyond the 3 x 3 neighbourhood range (see :func:`_excess`),
      the second frame's brightness matched to the first (a fade is no cut);
    * ``block10/25/50``: the 10th, 25th and 50th percentile over blocks (a grid of about 8 rows) of
      the share of pixels disagreeing by more than :data:`TOLERANCE`. Blocks where fewer than
      :data:`TELLING` of the pixels have anything to align (texture in either warped frame, see
      :data:`FLAT`, or a disagreement) are left out: flat pixels agree whatever the pair is (black
      bars of a letterboxed film, a clear sky), and counting their blocks hid every cut of a
      letterboxed clip. (Dividing each block's share by its pixels with something to align was
      measured too: it caught no more cuts and scored real fast motion up to 2.5 times higher.)

    On a cut nothing aligns: nearly every block disagrees. On fast motion the network may fail where
    something moves fast or is uncovered, but the rest of the frame aligns, so the low percentiles
    stay near zero."""
    w0 = fused.warped0[:, :, :height, :width].float()
    w1 = fused.warped1[:, :, :height, :width].float()
    r = (w0 - w1).abs().mean(1)
    gain = (w0.mean() / w1.mean().clamp(min=1e-4)).clamp(1 / 1.5, 1.5)
    w1 = w1 * gain
    e0, e1 = _extremes3(w0), _extremes3(w1)
    tol = 0.5 * (_excess(w0, w1, e1) + _excess(w1, w0, e0))
    # blocks of at least 8 x 8, but never more than the frame: a tiny frame is one block
    bs = min(max(8, min(height, width) // 8), height, width)
    wrong = (tol > TOLERANCE).float()
    # pixels with something to align: texture in either warped frame, or a disagreement
    texture = torch.maximum((e0[0] - e0[1]).mean(1, keepdim=True), (e1[0] - e1[1]).mean(1, keepdim=True))
    telling = torch.maximum((texture >= FLAT).float(), wrong)
    told = F.avg_pool2d(telling, bs, bs, ceil_mode=False).flatten()
    blocks = F.avg_pool2d(wrong, bs, bs, ceil_mode=False).flatten()
    q = _quantiles(blocks, told >= TELLING, (0.10, 0.25, 0.50))
    return torch.stack((r.mean(), (r > 0.1).float().mean(), tol.mean(), *q)).view(1, len(EVIDENCE))


class Interpolator(nn.Module):
    """The graph a backend runs: (img0, img1, t, feat0, feat1) -> (frame, evidence). The timestep is
    a 1 x 1 x 1 x 1 tensor so that one compiled graph serves every instant; midpoint-only models
    ignore it (they are only asked for 0.5)."""

    def __init__(self, net: nn.Module, target: Target, warp: Warp) -> None:
        super().__init__()
        self.net = net
        self.warp = warp
        self.target = target

    @property
    def network(self) -> Network:
        return self.net  # type: ignore[return-value]  # every architecture module builds a Network

    def forward(
        self, img0: Tensor, img1: Tensor, timestep: Tensor, feat0: Tensor | None = None, feat1: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        spec, tg = self.target.spec, self.target
        t: float | Tensor = timestep if spec.arbitrary_timestep else 0.5
        fused = self.network.fused(img0, img1, t, self.warp, tg.scale, feat0, feat1, tg.ensemble)
        return fused.frame, evidence(fused, tg.height, tg.width)


class Backend(Protocol):
    name: str

    def host_tensor(self, planes: Sequence[np.ndarray]) -> Tensor:
        """Three H x W planes as a host tensor for :meth:`upload` (called in any thread)."""

    def upload(self, host: Tensor) -> Tensor:
        """The padded device tensor of a :meth:`host_tensor` (called in the worker thread)."""

    def download(self, x: Tensor, dtype: np.dtype) -> np.ndarray:
        """The valid region of a frame as a 3 x H x W host array of ``dtype``."""

    def encode(self, img: Tensor) -> Tensor:
        """Per-frame features (models with an encoder)."""

    def interpolate(
        self, img0: Tensor, img1: Tensor, t: float, feat0: Tensor | None, feat1: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """(frame, evidence) at ``t``; inputs are padded tensors on the target device."""


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


DEFAULT_ENV = "VSRIFE_BACKEND"
"""Environment variable naming the backend ``backend=None`` means (``torch`` or ``openvino``)."""


def choose(requested: str | None, spec: ModelSpec, device: torch.device) -> str:
    """The backend ``requested`` (None: ``$VSRIFE_BACKEND``, else the fastest exact one) for ``spec``
    on ``device``; raises ValueError saying why a requested one cannot run."""
    if requested is None and os.environ.get(DEFAULT_ENV) in ("torch", "openvino"):
        requested = os.environ[DEFAULT_ENV]
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


def resolve_precision(requested: str, spec: ModelSpec, device: torch.device, backend: str = "torch") -> str:
    """``auto`` -> on CUDA the model's default (fp16 for 4.x, with the warp in fp32; fp32 for HDv3 and
    the paper model); on the CPU the mixed bf16 graph of the OpenVINO backend where the CPU computes
    bf16 natively (measured within 0.01 dB of fp32 on real footage, see the README), else fp32."""
    if requested == "auto":
        if device.type == "cuda":
            return spec.cuda_precision
        if backend == "openvino" and spec.arch != "paper":
            from .openvino_cpu import native_bf16

            return "bf16" if native_bf16() else "fp32"
        return "fp32"
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("fp16 is for CUDA (CPUs compute half precision slowly); on the CPU use 'fp32' or 'bf16'")
    return requested


def build(name: str, net: nn.Module, target: Target, warp: Warp, fallback: bool = False) -> Backend:
    """The backend ``name``; with ``fallback`` (the backend was not asked for by name) one that fails
    to build gives way to torch, with a warning that says why."""
    if name == "openvino":
        try:
            from .openvino_cpu import OpenVINOBackend

            return OpenVINOBackend(net, target, warp)
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
