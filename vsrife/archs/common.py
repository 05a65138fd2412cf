"""Pieces shared by every RIFE network: backward warping with a sampling grid built once."""

from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import Tensor


class Warp:
    """Backward warping for one frame size.

    The identity sampling grid and the flow normaliser depend only on the frame size, so they are
    built once (per engine) instead of on every call. Sampling always runs in fp32: half-precision
    grid coordinates lose sub-pixel accuracy on large frames (ECCV2022-RIFE #188).
    """

    def __init__(self, height: int, width: int, device: torch.device | str = "cpu") -> None:
        self.height = height
        self.width = width
        xs = torch.linspace(-1.0, 1.0, width, device=device).view(1, 1, 1, width).expand(1, 1, height, width)
        ys = torch.linspace(-1.0, 1.0, height, device=device).view(1, 1, height, 1).expand(1, 1, height, width)
        self.grid = torch.cat((xs, ys), 1)
        # flow in pixels -> offset in normalised [-1, 1] coordinates (align_corners=True)
        self.norm = torch.tensor([(width - 1.0) / 2.0, (height - 1.0) / 2.0], device=device).view(1, 2, 1, 1)
        self._halvings: list[Warp] = []
        self._lock = threading.Lock()

    def halvings(self, levels: int) -> list[Warp]:
        """Warps for this size halved 1..``levels`` times (for networks that warp feature
        pyramids), built on first use and kept."""
        with self._lock:
            while len(self._halvings) < levels:
                k = len(self._halvings) + 1
                self._halvings.append(Warp(self.height >> k, self.width >> k, self.grid.device))
            return self._halvings[:levels]

    def __call__(self, x: Tensor, flow: Tensor) -> Tensor:
        dtype = x.dtype
        g = (self.grid + flow.float() / self.norm).permute(0, 2, 3, 1)
        out = F.grid_sample(x.float(), g, mode="bilinear", padding_mode="border", align_corners=True)
        return out.to(dtype)


def resize(x: Tensor, factor: float) -> Tensor:
    """Bilinear resize by ``factor`` exactly as the reference networks do it (no corner alignment,
    scale factor used as given)."""
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False, recompute_scale_factor=False)
