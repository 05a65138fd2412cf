"""RIFE 4.x (Practical-RIFE 4.0 ... 4.26, including the ``.lite`` and ``.heavy`` models): one
network built from a :class:`~vsrife.archs.variants.V4Config` (see that module for what differs).

Parameter names equal those of the reference implementation, so the released ``flownet_v4.x.pkl``
checkpoints load with ``strict=True`` once DataParallel's ``module.`` prefix is removed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .common import SLOPE, Fused, IFBlock, RifeNetwork, Warp, fuse, owned_by, shapes, swap, timestep_map
from .variants import RGB, V4_VARIANTS, EncoderConfig, V4Config

OWNED = re.compile(r"^(block\d+|encode)\.")
"""The checkpoint keys that belong to a 4.x network; others (a training teacher) are not its own."""


class Encoder(nn.Module):
    """Per-frame feature encoder; layout and parameter names follow :class:`EncoderConfig`."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.clamp = cfg.style == "head"
        self.activation = cfg.activation
        convs: list[nn.Module] = [nn.Conv2d(RGB, cfg.hidden, 3, 2, 1)]
        convs += [nn.Conv2d(cfg.hidden, cfg.hidden, 3, 1, 1) for _ in range(cfg.depth)]
        convs.append(nn.ConvTranspose2d(cfg.hidden, cfg.out, 4, 2, 1))
        # nn.Sequential numbering of the early encoder: the parameter-free activations take indices too
        step = 2 if cfg.activation else 1
        self.names = tuple(f"cnn{i}" if self.clamp else str(i * step) for i in range(len(convs)))
        for name, c in zip(self.names, convs):
            self.add_module(name, c)

    def forward(self, x: Tensor) -> Tensor:
        if self.clamp:
            x = x.clamp(0.0, 1.0)
        last = len(self.names) - 1
        for i, name in enumerate(self.names):
            x = getattr(self, name)(x)
            if self.activation and i < last:
                x = nn.functional.leaky_relu(x, SLOPE)
        return x


class IFNetV4(RifeNetwork):
    """A RIFE 4.x network built from a :class:`V4Config`."""

    def __init__(self, cfg: V4Config) -> None:
        super().__init__()
        self.cfg = cfg
        for i, c in enumerate(cfg.channels):
            self.add_module(f"block{i}", IFBlock(cfg.block_inputs(i == 0), c, cfg.block))
        if cfg.encoder is not None:
            # registered directly: the name is taken by the encode() method, but the checkpoints
            # keep the encoder's parameters under "encode."
            self._modules["encode"] = Encoder(cfg.encoder)

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.cfg.channels))]

    def encode(self, img: Tensor) -> Tensor | None:
        """Features of one (padded) frame, or None when the variant has no encoder."""
        enc = self._modules.get("encode")
        return enc(img) if enc is not None else None

    def fused(self, img0: Tensor, img1: Tensor, timestep: float | Tensor, warp: Warp, scale: float = 1.0,
              feat0: Tensor | None = None, feat1: Tensor | None = None, ensemble: bool = False) -> Fused:  # fmt: skip
        cfg = self.cfg
        if ensemble and not cfg.ensemble_supported:
            raise ValueError("this RIFE model does not support ensemble")
        if cfg.encoder is not None:
            # features come from the frames as given (the sequential encoder does not clamp)
            f0 = feat0 if feat0 is not None else self.encode(img0)
            f1 = feat1 if feat1 is not None else self.encode(img1)
        else:
            f0 = f1 = None
        img0 = img0.clamp(0.0, 1.0)
        img1 = img1.clamp(0.0, 1.0)
        t = timestep_map(img0, timestep)
        rt = 1 - t
        scales = [level / scale for level in cfg.levels]
        blocks = self.blocks
        fb = cfg.feedback > 0

        def step(
            i: int,
            w0: Tensor,
            w1: Tensor,
            e0: Tensor | None,
            e1: Tensor | None,
            tt: Tensor,
            extra: list[Tensor],
            flow: Tensor | None,
        ) -> tuple[Tensor, Tensor, Tensor]:
            parts = [w0, w1] + ([e0, e1] if e0 is not None and e1 is not None else []) + [tt] + extra
            return blocks[i](parts, flow, scales[i])

        # each frame and its features are warped with one sampling grid per flow
        def warped(flow: Tensor) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
            if f0 is None or f1 is None:
                return warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4]), None, None
            (y0, g0), (y1, g1) = warp.each((img0, f0), flow[:, :2]), warp.each((img1, f1), flow[:, 2:4])
            return y0, y1, g0, g1

        # first block: no flow yet
        flow, mask, feat = step(0, img0, img1, f0, f1, t, [], None)
        if ensemble:
            fr, mr, _ = step(0, img1, img0, f1, f0, rt, [], None)
            flow = (flow + swap(fr)) / 2
            mask = (mask + (-mr)) / 2
        w0, w1, wf0, wf1 = warped(flow)

        for i in range(1, len(blocks)):
            prev_feat = feat
            fd, m0, feat = step(i, w0, w1, wf0, wf1, t, [mask, prev_feat] if fb else [mask], flow)
            limit = cfg.large_flow_retry
            if i == 1 and limit is not None and fd[:, :2].abs().max() > limit and fd[:, 2:4].abs().max() > limit:
                # very large motion: redo the first two levels at twice the downscale (4.0);
                # the first block runs once, without the ensemble, as the reference does
                scales = [s * 2 for s in scales]
                flow, mask, prev_feat = step(0, img0, img1, f0, f1, t, [], None)
                w0, w1, wf0, wf1 = warped(flow)
                fd, m0, feat = step(i, w0, w1, wf0, wf1, t, [mask, prev_feat] if fb else [mask], flow)
            if ensemble:
                fr, mr, _ = step(i, w1, w0, wf1, wf0, rt, [-mask], swap(flow))
                fd = (fd + swap(fr)) / 2
                m0 = (m0 + (-mr)) / 2
            mask = mask + m0 if cfg.mask_residual else m0
            flow = flow + fd
            if i < len(blocks) - 1:
                w0, w1, wf0, wf1 = warped(flow)
            else:
                w0, w1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        return fuse(w0, w1, mask, flow)


# --------------------------------------------------------------------------------------------- contract


def build(variant: str) -> IFNetV4:
    return IFNetV4(V4_VARIANTS[variant])


def owned(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The entries of a (``module.``-stripped) checkpoint that belong to a 4.x network
    (``block<i>.*``, ``encode.*``)."""
    return owned_by(OWNED, state_dict)


def signature(variant: str) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``variant``'s network."""
    return _config_signature(V4_VARIANTS[variant])


@functools.cache
def _config_signature(cfg: V4Config) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``cfg``'s network (built once on the meta device)."""
    with torch.device("meta"):
        return shapes(IFNetV4(cfg).state_dict())


def _fingerprint(cfg: V4Config) -> tuple[int, tuple[int, ...]]:
    """Number of blocks and the first conv's shape: read off the config without building anything."""
    return len(cfg.channels), (cfg.channels[0] // 2, cfg.block_inputs(True), 3, 3)


def detect(state_dict: Mapping[str, Tensor]) -> str | None:
    """The oldest 4.x name whose network has exactly the keys and shapes of the checkpoint's
    4.x entries (see :func:`owned`); names with the same network cannot be told apart by shape."""
    first = state_dict.get("block0.conv0.0.0.weight")
    if first is None:
        return None
    found = shapes(owned(state_dict))
    blocks = len({k.split(".")[0] for k in found if k.startswith("block")})
    probe = (blocks, tuple(first.shape))
    for name, cfg in V4_VARIANTS.items():
        if _fingerprint(cfg) == probe and _config_signature(cfg) == found:
            return name
    return None
