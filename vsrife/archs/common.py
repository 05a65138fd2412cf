"""Pieces shared by the RIFE networks: backward warping with a grid built once, the conv units, the
IFBlock of the 4.x and paper designs, the final blend, and what every network returns."""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .variants import FLOW, MASK, Activation, BlockConfig

SLOPE = 0.2
"""LeakyReLU negative slope used by every RIFE network."""


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
        return self.each((x,), flow)[0]

    def each(self, xs: Sequence[Tensor], flow: Tensor) -> list[Tensor]:
        """Every tensor of ``xs`` warped by the same ``flow`` (one sampling grid). Bilinear
        sampling treats channels independently, so this equals warping their concatenation,
        without building that full-size concatenation."""
        g = (self.grid + flow.float() / self.norm).permute(0, 2, 3, 1)
        return [
            F.grid_sample(x.float(), g, mode="bilinear", padding_mode="border", align_corners=True).to(x.dtype)
            for x in xs
        ]


def resize(x: Tensor, factor: float) -> Tensor:
    """Bilinear resize by ``factor`` exactly as the reference networks do it (no corner alignment,
    scale factor used as given)."""
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False, recompute_scale_factor=False)


def activation(kind: Activation, channels: int) -> nn.Module:
    return nn.PReLU(channels) if kind == "prelu" else nn.LeakyReLU(SLOPE, True)


def conv(cin: int, cout: int, stride: int = 1, act: Activation = "prelu") -> nn.Sequential:
    """3x3 conv (padding 1) and its activation: the unit every RIFE network is made of."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=True), activation(act, cout))


class PartsConv2d(nn.Conv2d):
    """A convolution that also takes its input as parts in channel order, and then never
    concatenates them: it is linear, so it is the sum of each part's share of the kernel (which
    rounds differently from one convolution, about 1e-7 relative)."""

    def forward(self, x: Tensor | Sequence[Tensor]) -> Tensor:
        if isinstance(x, Tensor):
            return super().forward(x)
        out, start = self.bias.view(1, -1, 1, 1) if self.bias is not None else None, 0
        for part in x:
            c = part.shape[1]
            y = F.conv2d(part, self.weight[:, start : start + c], None, self.stride, self.padding)
            out = y if out is None else out + y
            start += c
        assert out is not None
        return out


@contextlib.contextmanager
def unconcatenated(net: nn.Module) -> Iterator[None]:
    """Within, ``net``'s blocks never build the full-size concatenation of their inputs: they
    resize the parts one by one, and where a block runs at the input size or above, its first
    convolution sums the parts' shares (:class:`PartsConv2d`). What a compiled graph is traced
    with: OpenVINO kept those full-size joins (28 channels for 4.25's last block, 24 for the
    others' inputs before resizing) and channel-last copies of them in its working memory.
    Measured on 4.25 fp32, 2-core Zen 2: the step graph at 1088x1920 held 1.44 GB compiled and
    run, 1.08 GB so traced, and ran 9-11 % faster (1.42 -> 1.30 s; 1280x768 0.69 -> 0.62 s).
    Outside, the blocks concatenate as the reference does and match it to the bit (PyTorch's
    resize of a part can round differently from its resize of the whole, and the sum differs from
    one convolution: up to 1e-5 on random weights)."""
    blocks = [m for m in net.modules() if isinstance(m, IFBlock)]
    for m in blocks:
        m.unconcatenated = True
    try:
        yield
    finally:
        for m in blocks:
            m.unconcatenated = False


class ResConv(nn.Module):
    """3x3 conv scaled per channel by ``beta``, plus the input, then LeakyReLU (4.5+)."""

    def __init__(self, c: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1, groups=groups)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
        self.relu = nn.LeakyReLU(SLOPE, True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class IFBlock(nn.Module):
    """One pyramid level of the 4.x and paper networks: estimates a flow and a mask logit (and,
    from 4.21, feedback features) at ``1 / scale`` of the input size."""

    unconcatenated = False
    """Set by :func:`unconcatenated`."""

    def __init__(self, cin: int, c: int, cfg: BlockConfig) -> None:
        super().__init__()
        self.residual = cfg.residual
        self.pixel_shuffle = cfg.pixel_shuffle
        entry = nn.Sequential(PartsConv2d(cin, c // 2, 3, 2, 1), activation(cfg.act, c // 2))
        self.conv0 = nn.Sequential(entry, conv(c // 2, c, 2, cfg.act))
        if cfg.trunk == "resconv":
            units: list[nn.Module] = [ResConv(c, cfg.groups) for _ in range(cfg.depth)]
        else:
            units = [conv(c, c, 1, cfg.act) for _ in range(cfg.depth)]
        self.convblock = nn.Sequential(*units)
        if cfg.pixel_shuffle:
            self.lastconv: nn.Module = nn.Sequential(nn.ConvTranspose2d(c, 4 * cfg.out, 4, 2, 1), nn.PixelShuffle(2))
        else:
            self.lastconv = nn.ConvTranspose2d(c, cfg.out, 4, 2, 1)

    def forward(self, x: Tensor | Sequence[Tensor], flow: Tensor | None, scale: float) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (flow, mask logit, extra channels), all at the input resolution. ``x`` is the
        input, or its parts in channel order (see :func:`unconcatenated`)."""
        lean = self.unconcatenated and not isinstance(x, Tensor)
        whole = [x] if isinstance(x, Tensor) else list(x) if lean else [torch.cat(list(x), 1)]
        parts = [resize(p, 1.0 / scale) for p in whole]
        if flow is not None:
            parts.append(resize(flow, 1.0 / scale) / scale)
        feat = self.conv0(parts if lean and scale <= 1 else torch.cat(parts, 1))
        feat = self.convblock(feat) + feat if self.residual else self.convblock(feat)
        tmp = self.lastconv(feat)
        # without the pixel shuffle the head emits at half the input size
        up = scale if self.pixel_shuffle else scale * 2
        tmp = resize(tmp, up)
        return tmp[:, :FLOW] * up, tmp[:, FLOW : FLOW + MASK], tmp[:, FLOW + MASK :]


def timestep_map(like: Tensor, timestep: float | Tensor) -> Tensor:
    """The timestep as an N x 1 x H x W map shaped like ``like``. A tensor timestep (of any shape
    that broadcasts, e.g. 1 x 1 x 1 x 1) keeps the graph independent of its value, so one exported
    network serves every instant."""
    n, _, h, w = like.shape
    if isinstance(timestep, Tensor):
        return timestep.to(like.dtype).expand(n, 1, h, w)
    return like.new_full((n, 1, h, w), timestep)


def swap(flow: Tensor) -> Tensor:
    """The flow pair seen from the other frame (t->1, t->0)."""
    return torch.cat((flow[:, 2:4], flow[:, :2]), 1)


class RifeNetwork(nn.Module):
    """Base of the networks: ``forward`` is ``fused(...).frame``; no per-frame encoder by default."""

    def encode(self, img: Tensor) -> Tensor | None:
        """Per-frame features (None: the network has no encoder)."""
        return None

    def fused(self, img0: Tensor, img1: Tensor, timestep: float | Tensor, warp: Warp, scale: float = 1.0,
              feat0: Tensor | None = None, feat1: Tensor | None = None, ensemble: bool = False) -> Fused:  # fmt: skip
        raise NotImplementedError

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.fused(*args, **kwargs).frame


class Fused(NamedTuple):
    """What a network computes for one instant: the frame and the evidence behind it."""

    frame: Tensor
    """The interpolated frame, N x 3 x H x W."""
    warped0: Tensor
    """Frame 0 warped to the instant (before fusion)."""
    warped1: Tensor
    """Frame 1 warped to the instant."""
    weight: Tensor
    """Fusion weight of ``warped0`` (sigmoid of the mask logit), N x 1 x H x W."""
    flow: Tensor
    """Flows from the instant to frame 0 (channels 0-1) and to frame 1 (2-3), in pixels."""


def fuse(warped0: Tensor, warped1: Tensor, mask: Tensor, flow: Tensor) -> Fused:
    """Blend the two warped frames with the mask logit ``mask`` (the last step of every network)."""
    weight = torch.sigmoid(mask)
    return Fused(warped0 * weight + warped1 * (1 - weight), warped0, warped1, weight, flow)


def owned_by(pattern: re.Pattern[str], state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The checkpoint entries whose keys match ``pattern`` (a family's own namespaces)."""
    return {k: v for k, v in state_dict.items() if pattern.match(k)}


def shapes(state_dict: Mapping[str, Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


@dataclass(frozen=True)
class SingleNetwork:
    """The architecture contract (see :mod:`vsrife.archs`) of a family with one network."""

    variant: str
    make: Callable[[], nn.Module]
    own: re.Pattern[str]
    """The family's checkpoint namespaces."""
    marker: str
    """A key every checkpoint of the family has (a cheap first test)."""

    def build(self, variant: str) -> nn.Module:
        if variant != self.variant:
            raise KeyError(variant)
        return self.make()

    def owned(self, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return owned_by(self.own, state_dict)

    @functools.cache  # noqa: B019 - one entry per family, which lives as long as the process anyway
    def signature(self, variant: str) -> dict[str, tuple[int, ...]]:
        """Parameter names and shapes of the network (built once on the meta device)."""
        with torch.device("meta"):
            return shapes(self.build(variant).state_dict())

    def detect(self, state_dict: Mapping[str, Tensor]) -> str | None:
        if self.marker not in state_dict:
            return None
        return self.variant if shapes(self.owned(state_dict)) == self.signature(self.variant) else None
