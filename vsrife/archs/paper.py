"""The RIFE paper model (ECCV 2022, ``model/IFNet.py`` + ``model/refine.py`` of ECCV2022-RIFE).

Three IFBlocks estimate a bidirectional flow and a fusion mask coarse to fine (at 1/4, 1/2 and 1/1
of ``scale``). The warped and blended frame is then corrected by a residual from a small U-Net
(FusionNet) that also sees ContextNet features of both inputs, warped at 1/2 .. 1/16 resolution.

The reference ``forward`` takes a ``timestep`` argument but never uses it: this network has no
timestep input and always predicts the midpoint (the arbitrary-timestep variant is ``IFNet_m``, a
different checkpoint with one more input channel per block). Other timesteps must be reached by
bisection in the engine, so :meth:`IFNetPaper.forward` refuses anything but 0.5.

Operation order follows the reference so that fp32 results match it to rounding.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .common import Fused, IFBlock, RifeNetwork, SingleNetwork, Warp, conv, fuse, resize
from .variants import PAPER_BLOCK, PAPER_BLOCKS, PAPER_PAD

OWNED = re.compile(r"^(block\d+|contextnet|unet)\.")
"""The paper model's own checkpoint keys (``block_tea.*``, the training teacher, is not one of them)."""

VARIANT = "paper"
_CONTEXT_LEVELS = 4  # ContextNet halves the resolution this many times


def _deconv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=True), nn.PReLU(cout))


def _down(cin: int, cout: int) -> nn.Sequential:
    """Stride-2 conv then stride-1 conv (the reference's ``Conv2``; keys ``conv1.*``, ``conv2.*``)."""
    return nn.Sequential(OrderedDict(conv1=conv(cin, cout, 2), conv2=conv(cout, cout)))


class ContextNet(nn.Module):
    """Features of one input frame at 1/2, 1/4, 1/8 and 1/16 resolution, each backward-warped by the
    flow resized to that level."""

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.conv1 = _down(3, c)
        self.conv2 = _down(c, 2 * c)
        self.conv3 = _down(2 * c, 4 * c)
        self.conv4 = _down(4 * c, 8 * c)

    def forward(self, x: Tensor, flow: Tensor, warps: Sequence[Warp]) -> list[Tensor]:
        feats = []
        for stage, warp in zip((self.conv1, self.conv2, self.conv3, self.conv4), warps):
            x = stage(x)
            flow = resize(flow, 0.5) * 0.5
            feats.append(warp(x, flow))
        return feats


class UNet(nn.Module):
    """FusionNet: predicts a residual for the blended frame from both inputs, both warped inputs,
    the mask logit, the flow and the ContextNet features of both inputs."""

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.down0 = _down(17, 2 * c)
        self.down1 = _down(4 * c, 4 * c)
        self.down2 = _down(8 * c, 8 * c)
        self.down3 = _down(16 * c, 16 * c)
        self.up0 = _deconv(32 * c, 8 * c)
        self.up1 = _deconv(16 * c, 4 * c)
        self.up2 = _deconv(8 * c, 2 * c)
        self.up3 = _deconv(4 * c, c)
        self.conv = nn.Conv2d(c, 3, 3, 1, 1)

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        warped0: Tensor,
        warped1: Tensor,
        mask: Tensor,
        flow: Tensor,
        ctx0: Sequence[Tensor],
        ctx1: Sequence[Tensor],
    ) -> Tensor:
        x = self.down0(torch.cat((img0, img1, warped0, warped1, mask, flow), 1))
        skips = [x]
        for down, f0, f1 in zip((self.down1, self.down2, self.down3), ctx0, ctx1):
            x = down(torch.cat((x, f0, f1), 1))
            skips.append(x)
        x = self.up0(torch.cat((x, ctx0[3], ctx1[3]), 1))
        for up, skip in zip((self.up1, self.up2, self.up3), reversed(skips[:-1])):
            x = up(torch.cat((x, skip), 1))
        return torch.sigmoid(self.conv(x))


class IFNetPaper(RifeNetwork):
    """Predicts the frame halfway between ``img0`` and ``img1`` (N x 3 x H x W, values in [0, 1]).

    State-dict keys match the reference ``IFNet`` minus ``block_tea.*`` (the distillation teacher,
    used only in training and not built here).
    """

    def __init__(self) -> None:
        super().__init__()
        for i, (cin, c) in enumerate(PAPER_BLOCKS):
            self.add_module(f"block{i}", IFBlock(cin, c, PAPER_BLOCK))
        self.contextnet = ContextNet()
        self.unet = UNet()

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(PAPER_BLOCKS))]

    def fused(self, img0: Tensor, img1: Tensor, timestep: float | Tensor, warp: Warp, scale: float = 1.0,
              feat0: Tensor | None = None, feat1: Tensor | None = None, ensemble: bool = False) -> Fused:  # fmt: skip
        """The midpoint (``timestep`` must be 0.5; no encoder features; no ensemble)."""
        if timestep != 0.5:
            raise ValueError("the RIFE paper model predicts only timestep 0.5")
        height, width = img0.shape[2], img0.shape[3]
        for size in (height, width):
            # the 1/4-scale block needs size * scale / 4 divisible by 4; ContextNet needs size / 16
            if size % 16 or (size * scale) % 16:
                raise ValueError(
                    f"frame size {width}x{height} must be padded to a multiple of max({PAPER_PAD}, {PAPER_PAD}/scale)"
                )
        if (warp.height, warp.width) != (height, width):
            raise ValueError(f"warp is for {warp.width}x{warp.height}, frames are {width}x{height}")

        warped0, warped1 = img0, img1
        flow: Tensor | None = None
        mask: Tensor | None = None
        for block, level in zip(self.blocks, (4.0, 2.0, 1.0)):
            if flow is None or mask is None:
                flow, mask, _ = block(torch.cat((img0, img1), 1), None, level / scale)
            else:
                d_flow, d_mask, _ = block(torch.cat((img0, img1, warped0, warped1, mask), 1), flow, level / scale)
                flow = flow + d_flow
                mask = mask + d_mask
            warped0 = warp(img0, flow[:, :2])
            warped1 = warp(img1, flow[:, 2:4])
        assert flow is not None and mask is not None

        merged = fuse(warped0, warped1, mask, flow)
        warps = warp.halvings(_CONTEXT_LEVELS)  # grids for the ContextNet levels, built once per size
        ctx0 = self.contextnet(img0, flow[:, :2], warps)
        ctx1 = self.contextnet(img1, flow[:, 2:4], warps)
        res = self.unet(img0, img1, warped0, warped1, mask, flow, ctx0, ctx1)[:, :3] * 2 - 1
        return merged._replace(frame=torch.clamp(merged.frame + res, 0, 1))


# --------------------------------------------------------------------------------------------- contract

_FAMILY = SingleNetwork(VARIANT, IFNetPaper, OWNED, marker="contextnet.conv1.conv1.0.weight")
build = _FAMILY.build
owned = _FAMILY.owned
signature = _FAMILY.signature
detect = _FAMILY.detect
