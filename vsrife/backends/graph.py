"""The graph every backend runs: the network plus the evidence the scene detector reads
(:class:`Interpolator`). PyTorch modules, traced once by the OpenVINO backend and run eagerly by the
torch backend."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..archs import Network
from ..archs.common import Fused, Warp
from . import EVIDENCE, Target

TOLERANCE = 0.05
"""A pixel disagrees when it lies this far (0..1) outside the range of the other warped frame's 3 x 3
neighbourhood around it, after brightness matching."""

FLAT = 0.02
"""A pixel whose 3 x 3 range (0..1) is below this in both warped frames, and that agrees, has nothing
to align: it says nothing about the pair."""

TELLING = 0.25
"""Blocks count in the percentiles when at least this share of their pixels has something to align."""


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
