"""RIFE HDv3 (the `train_log` model of ECCV2022-RIFE / Practical-RIFE v3.x).

Three IFBlocks refine a bidirectional flow coarse to fine (at 1/4, 1/2 and 1/1 of ``scale``); each
block sees the pair in both orders and the two estimates are averaged. The network has no timestep
input: it predicts the midpoint only, other timesteps are reached by bisection in the engine.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from .common import Fused, RifeNetwork, SingleNetwork, Warp, conv, fuse, resize, swap

OWNED = re.compile(r"^block\d+\.")
"""HDv3's own checkpoint keys (``block_tea.*``, the training teacher, is not one of them)."""

VARIANT = "hdv3"


def _pair(c: int) -> nn.Sequential:
    return nn.Sequential(conv(c, c), conv(c, c))


def _up(c: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.PReLU(c // 2), nn.ConvTranspose2d(c // 2, cout, 4, 2, 1)
    )


class IFBlock(nn.Module):
    def __init__(self, cin: int, c: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(conv(cin, c // 2, 2), conv(c // 2, c, 2))
        self.convblock0 = _pair(c)
        self.convblock1 = _pair(c)
        self.convblock2 = _pair(c)
        self.convblock3 = _pair(c)
        self.conv1 = _up(c, 4)  # flow
        self.conv2 = _up(c, 1)  # mask logit

    def forward(self, x: Tensor, flow: Tensor, scale: float) -> tuple[Tensor, Tensor]:
        x = resize(x, 1.0 / scale)
        flow = resize(flow, 1.0 / scale) * (1.0 / scale)
        feat = self.conv0(torch.cat((x, flow), 1))
        for block in (self.convblock0, self.convblock1, self.convblock2, self.convblock3):
            feat = block(feat) + feat
        flow = resize(self.conv1(feat), scale) * scale
        mask = resize(self.conv2(feat), scale)
        return flow, mask


class IFNetHDv3(RifeNetwork):
    """Predicts the frame halfway between ``img0`` and ``img1`` (N x 3 x H x W, values in [0, 1])."""

    def __init__(self, channels: int = 90) -> None:
        super().__init__()
        self.block0 = IFBlock(7 + 4, channels)
        self.block1 = IFBlock(7 + 4, channels)
        self.block2 = IFBlock(7 + 4, channels)

    def fused(self, img0: Tensor, img1: Tensor, timestep: float | Tensor, warp: Warp, scale: float = 1.0,
              feat0: Tensor | None = None, feat1: Tensor | None = None, ensemble: bool = False) -> Fused:  # fmt: skip
        """The midpoint (``timestep`` must be 0.5; no encoder features; no ensemble)."""
        if timestep != 0.5:
            raise ValueError("HDv3 predicts only timestep 0.5")
        n = img0.shape[0]
        flow = img0.new_zeros((n, 4, img0.shape[2], img0.shape[3]))
        mask = img0.new_zeros((n, 1, img0.shape[2], img0.shape[3]))
        w0, w1 = img0, img1
        for block, level in zip((self.block0, self.block1, self.block2), (4.0, 2.0, 1.0)):
            # The pair in both orders; averaged below. (Batching the two calls is faster on GPU but
            # changes conv rounding enough to break exact parity with the reference, so they stay apart.)
            f0, m0 = block(torch.cat((w0, w1, mask), 1), flow, level / scale)
            f1, m1 = block(torch.cat((w1, w0, -mask), 1), swap(flow), level / scale)
            flow = flow + (f0 + swap(f1)) / 2
            mask = mask + (m0 - m1) / 2
            w0 = warp(img0, flow[:, :2])
            w1 = warp(img1, flow[:, 2:4])
        return fuse(w0, w1, mask, flow)


# --------------------------------------------------------------------------------------------- contract

_FAMILY = SingleNetwork(VARIANT, IFNetHDv3, OWNED, marker="block0.convblock0.0.0.weight")
build = _FAMILY.build
owned = _FAMILY.owned
signature = _FAMILY.signature
detect = _FAMILY.detect
