"""RIFE 4.x (Practical-RIFE 4.0 ... 4.26, including the ``.lite`` and ``.heavy`` models).

All 4.x networks share one design: a stack of IFBlocks refines a bidirectional flow (plus a fusion
mask) coarse to fine, each block seeing both frames warped by the flow so far and the timestep map.
The versions differ only in knobs, which :class:`V4Config` spells out:

* the block trunk: plain PReLU convs with an outer residual (4.0/4.1), plain LeakyReLU convs (4.2-4.4)
  or ``ResConv`` units with a learnt per-channel ``beta`` (4.5+), optionally grouped (4.14.lite);
* the block head: a stride-2 transposed conv (4.0-4.4) or a transposed conv + pixel shuffle (4.5+),
  and how many channels it emits (flow 4 + mask 1, + 1 unused channel from 4.6, + 8 feedback
  feature channels from 4.21 that are handed to the next block);
* the per-frame encoder ("Head") from 4.7: its layout, width and output channels; its features are
  warped along with the frames and fed to every block;
* whether the mask is accumulated over the blocks (up to 4.6) or replaced by each block (4.7+);
* block widths and the pyramid levels (four levels 8..1, five levels 16..1 from 4.25, 32..4,1 for
  4.25.lite), which also fix the padding multiple;
* whether the bidirectional ensemble is available (not with feedback features, 4.21+), and 4.0's
  "very large motion" retry that restarts at half resolution.

Parameter names equal those of the reference implementation, so the released ``flownet_v4.x.pkl``
checkpoints load with ``strict=True`` once DataParallel's ``module.`` prefix is removed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import torch
from torch import Tensor, nn

from .common import Warp, resize

_DOWNSAMPLE = 4
"""Each block's ``conv0`` halves the resolution twice, so its input must divide by this."""

_FLOW = 4  # two 2-D flows: t->0 and t->1
_MASK = 1  # fusion-mask logit
_RGB = 3
_TIME = 1
_UNUSED = 1  # 4.6-4.20 heads emit one channel nobody reads
_FEEDBACK = 8  # 4.21+ heads emit this many feature channels for the next block
_SLOPE = 0.2  # LeakyReLU negative slope used everywhere


@dataclass(frozen=True)
class EncoderConfig:
    """The per-frame feature encoder ("Head").

    ``style="sequential"`` is the early ``nn.Sequential`` encoder (keys ``encode.0``, ``encode.2``...)
    applied to the frame as given; ``style="head"`` is the later ``Head`` module (keys
    ``encode.cnn0``...) which clamps its input to [0, 1] first. Both are: a stride-2 3x3 conv to
    ``hidden`` channels, ``depth`` stride-1 3x3 convs, a stride-2 4x4 transposed conv to ``out``
    channels; LeakyReLU after every conv but the last when ``activation``.
    """

    style: Literal["sequential", "head"]
    hidden: int
    out: int
    depth: int = 2
    activation: bool = True


@dataclass(frozen=True)
class V4Config:
    """Everything that distinguishes one RIFE 4.x network from another."""

    channels: tuple[int, ...]
    """Width of each IFBlock, coarse to fine."""
    levels: tuple[float, ...]
    """Downscale factor of each block at ``scale=1`` (the block runs at ``1 / (level / scale)``)."""
    encoder: EncoderConfig | None = None
    act: Literal["prelu", "lrelu"] = "lrelu"
    """Activation after the convs of ``conv0`` (and of a plain trunk)."""
    trunk: Literal["conv", "resconv"] = "resconv"
    trunk_depth: int = 8
    trunk_residual: bool = False
    """Add the trunk input to its output (4.0's plain trunk)."""
    groups: int = 1
    """Groups of the ResConv convolutions."""
    pixel_shuffle: bool = True
    """Head = transposed conv + PixelShuffle(2) (4.5+) instead of a bare transposed conv emitting at half size."""
    block_out: int = _FLOW + _MASK + _UNUSED
    """Channels the block head emits (after the pixel shuffle): flow, mask, then extra channels."""
    feedback: int = 0
    """How many of the extra head channels are passed on to the next block as features."""
    mask_residual: bool = False
    """Each block adds to the mask (up to 4.6) instead of replacing it."""
    ensemble_supported: bool = True
    large_flow_retry: float | None = None
    """4.0: when block 1's both flows exceed this many pixels, restart once at half the resolution."""

    def __post_init__(self) -> None:
        if len(self.channels) != len(self.levels):
            raise ValueError("one pyramid level per block")
        if not 0 <= self.feedback <= self.block_out - _FLOW - _MASK:
            raise ValueError("feedback channels must come out of the block head")
        if self.feedback and self.ensemble_supported:
            raise ValueError("the ensemble's reversed pass has no reversed feedback features")

    @property
    def pad(self) -> int:
        """Frame dimensions must be a multiple of this (at ``scale=1``)."""
        return int(max(self.levels)) * _DOWNSAMPLE

    @property
    def has_encoder(self) -> bool:
        return self.encoder is not None

    @property
    def encode_channels(self) -> int:
        return self.encoder.out if self.encoder is not None else 0

    def block_inputs(self, first: bool) -> int:
        """Input channels of a block: both (warped) frames, both (warped) features and the timestep,
        plus, after the first block, the mask, the feedback features and the current flow."""
        n = 2 * _RGB + 2 * self.encode_channels + _TIME
        if not first:
            n += _MASK + self.feedback + _FLOW
        return n


def _act(kind: str, c: int) -> nn.Module:
    return nn.PReLU(c) if kind == "prelu" else nn.LeakyReLU(_SLOPE, True)


def _conv(cin: int, cout: int, act: str, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=True), _act(act, cout))


class ResConv(nn.Module):
    """3x3 conv scaled per channel by ``beta``, plus the input, then LeakyReLU."""

    def __init__(self, c: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1, groups=groups)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
        self.relu = nn.LeakyReLU(_SLOPE, True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class Encoder(nn.Module):
    """Per-frame feature encoder; layout and parameter names follow :class:`EncoderConfig`."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.clamp = cfg.style == "head"
        self.activation = cfg.activation
        convs: list[nn.Module] = [nn.Conv2d(_RGB, cfg.hidden, 3, 2, 1)]
        convs += [nn.Conv2d(cfg.hidden, cfg.hidden, 3, 1, 1) for _ in range(cfg.depth)]
        convs.append(nn.ConvTranspose2d(cfg.hidden, cfg.out, 4, 2, 1))
        self.names: tuple[str, ...]
        if self.clamp:
            self.names = tuple(f"cnn{i}" for i in range(len(convs)))
            for name, conv in zip(self.names, convs):
                self.add_module(name, conv)
            self.relu = nn.LeakyReLU(_SLOPE, True)
        else:
            # nn.Sequential numbering: the parameter-free activations take indices too
            step = 2 if cfg.activation else 1
            self.names = tuple(str(i * step) for i in range(len(convs)))
            for name, conv in zip(self.names, convs):
                self.add_module(name, conv)

    def forward(self, x: Tensor) -> Tensor:
        if self.clamp:
            x = x.clamp(0.0, 1.0)
        last = len(self.names) - 1
        for i, name in enumerate(self.names):
            x = getattr(self, name)(x)
            if self.activation and i < last:
                x = nn.functional.leaky_relu(x, _SLOPE)
        return x


class IFBlock(nn.Module):
    """One pyramid level: estimates a flow/mask (residual) at ``1 / scale`` of the input size."""

    def __init__(self, cin: int, c: int, cfg: V4Config) -> None:
        super().__init__()
        self.residual = cfg.trunk_residual
        self.pixel_shuffle = cfg.pixel_shuffle
        self.conv0 = nn.Sequential(_conv(cin, c // 2, cfg.act, 2), _conv(c // 2, c, cfg.act, 2))
        if cfg.trunk == "resconv":
            units = [ResConv(c, cfg.groups) for _ in range(cfg.trunk_depth)]
        else:
            units = [_conv(c, c, cfg.act) for _ in range(cfg.trunk_depth)]
        self.convblock = nn.Sequential(*units)
        if cfg.pixel_shuffle:
            self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * cfg.block_out, 4, 2, 1), nn.PixelShuffle(2))
        else:
            self.lastconv = nn.ConvTranspose2d(c, cfg.block_out, 4, 2, 1)

    def forward(self, x: Tensor, flow: Tensor | None, scale: float) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (flow, mask logit, extra channels), all at the input resolution."""
        x = resize(x, 1.0 / scale)
        if flow is not None:
            flow = resize(flow, 1.0 / scale) / scale
            x = torch.cat((x, flow), 1)
        feat = self.conv0(x)
        feat = self.convblock(feat) + feat if self.residual else self.convblock(feat)
        tmp = self.lastconv(feat)
        # without the pixel shuffle the head emits at half the input size
        up = scale if self.pixel_shuffle else scale * 2
        tmp = resize(tmp, up)
        return tmp[:, :_FLOW] * up, tmp[:, _FLOW : _FLOW + _MASK], tmp[:, _FLOW + _MASK :]


def _swap(flow: Tensor) -> Tensor:
    """The flow pair seen from the other frame (t->1, t->0)."""
    return torch.cat((flow[:, 2:4], flow[:, :2]), 1)


class IFNetV4(nn.Module):
    """A RIFE 4.x network built from a :class:`V4Config`."""

    def __init__(self, cfg: V4Config) -> None:
        super().__init__()
        self.cfg = cfg
        for i, c in enumerate(cfg.channels):
            self.add_module(f"block{i}", IFBlock(cfg.block_inputs(i == 0), c, cfg))
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

    def _step(
        self,
        block: IFBlock,
        scale: float,
        w0: Tensor,
        w1: Tensor,
        e0: Tensor | None,
        e1: Tensor | None,
        t: Tensor,
        extra: list[Tensor],
        flow: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        parts = [w0, w1] + ([e0, e1] if e0 is not None and e1 is not None else []) + [t] + extra
        return block(torch.cat(parts, 1), flow, scale=scale)

    def forward(
        self,
        img0: Tensor,
        img1: Tensor,
        timestep: float,
        warp: Warp,
        scale: float = 1.0,
        feat0: Tensor | None = None,
        feat1: Tensor | None = None,
        ensemble: bool = False,
    ) -> Tensor:
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
        n, _, h, w = img0.shape
        t = img0.new_full((n, 1, h, w), timestep)
        rt = 1 - t
        scales = [level / scale for level in cfg.levels]
        blocks = self.blocks
        fb = cfg.feedback > 0

        # first block: no flow yet
        flow, mask, feat = self._step(blocks[0], scales[0], img0, img1, f0, f1, t, [], None)
        if ensemble:
            fr, mr, _ = self._step(blocks[0], scales[0], img1, img0, f1, f0, rt, [], None)
            flow = (flow + _swap(fr)) / 2
            mask = (mask + (-mr)) / 2
        w0 = warp(img0, flow[:, :2])
        w1 = warp(img1, flow[:, 2:4])

        for i in range(1, len(blocks)):
            wf0 = warp(f0, flow[:, :2]) if f0 is not None else None
            wf1 = warp(f1, flow[:, 2:4]) if f1 is not None else None
            prev_feat = feat
            fd, m0, feat = self._step(
                blocks[i], scales[i], w0, w1, wf0, wf1, t, [mask, prev_feat] if fb else [mask], flow
            )
            limit = cfg.large_flow_retry
            if i == 1 and limit is not None and fd[:, :2].abs().max() > limit and fd[:, 2:4].abs().max() > limit:
                # very large motion: redo the first two levels at twice the downscale (4.0);
                # the first block runs once, without the ensemble, as the reference does
                scales = [s * 2 for s in scales]
                flow, mask, prev_feat = self._step(blocks[0], scales[0], img0, img1, f0, f1, t, [], None)
                w0 = warp(img0, flow[:, :2])
                w1 = warp(img1, flow[:, 2:4])
                wf0 = warp(f0, flow[:, :2]) if f0 is not None else None
                wf1 = warp(f1, flow[:, 2:4]) if f1 is not None else None
                fd, m0, feat = self._step(
                    blocks[i], scales[i], w0, w1, wf0, wf1, t, [mask, prev_feat] if fb else [mask], flow
                )
            if ensemble:
                fr, mr, _ = self._step(blocks[i], scales[i], w1, w0, wf1, wf0, rt, [-mask], _swap(flow))
                fd = (fd + _swap(fr)) / 2
                m0 = (m0 + (-mr)) / 2
            mask = mask + m0 if cfg.mask_residual else m0
            flow = flow + fd
            w0 = warp(img0, flow[:, :2])
            w1 = warp(img1, flow[:, 2:4])
        m = torch.sigmoid(mask)
        return w0 * m + w1 * (1 - m)


# ---------------------------------------------------------------------------------------------
# The released variants. Names are vs-rife's; identical configs are architecture-equivalent.

_L4 = (8.0, 4.0, 2.0, 1.0)
_L5 = (16.0, 8.0, 4.0, 2.0, 1.0)
_L5_LITE = (32.0, 16.0, 8.0, 4.0, 1.0)

_ENC_TINY = EncoderConfig("sequential", hidden=16, out=4, depth=0, activation=False)
_ENC_SEQ8 = EncoderConfig("sequential", hidden=32, out=8)
_ENC_SEQ4 = EncoderConfig("sequential", hidden=32, out=4)
_HEAD8 = EncoderConfig("head", hidden=32, out=8)
_HEAD4 = EncoderConfig("head", hidden=16, out=4)
_HEAD16 = EncoderConfig("head", hidden=16, out=16)

_V40 = V4Config(
    channels=(192, 128, 96, 64),
    levels=_L4,
    act="prelu",
    trunk="conv",
    trunk_residual=True,
    pixel_shuffle=False,
    block_out=_FLOW + _MASK,
    mask_residual=True,
    large_flow_retry=32.0,
)
_V42 = V4Config(
    channels=(192, 128, 96, 64),
    levels=_L4,
    trunk="conv",
    pixel_shuffle=False,
    block_out=_FLOW + _MASK,
    mask_residual=True,
)
_V45 = V4Config(channels=(192, 128, 96, 64), levels=_L4, block_out=_FLOW + _MASK, mask_residual=True)
_V46 = V4Config(channels=(192, 128, 96, 64), levels=_L4, mask_residual=True)
_V47 = V4Config(channels=(192, 128, 96, 64), levels=_L4, encoder=_ENC_TINY)
_V410 = V4Config(channels=(192, 128, 96, 64), levels=_L4, encoder=_ENC_SEQ8)
_V412L = V4Config(channels=(128, 96, 64, 48), levels=_L4, encoder=_ENC_SEQ4)
_V413 = V4Config(channels=(192, 128, 96, 64), levels=_L4, encoder=_HEAD8)
_V414L = V4Config(channels=(192, 128, 96, 64), levels=_L4, encoder=_HEAD8, groups=2)
_V415L = V4Config(channels=(128, 96, 64, 48), levels=_L4, encoder=_HEAD4)
_V420 = V4Config(channels=(384, 192, 96, 48), levels=_L4, encoder=_HEAD8)


def _feedback(channels: tuple[int, ...], levels: tuple[float, ...], encoder: EncoderConfig) -> V4Config:
    """4.21+: every block also emits 8 feature channels that the next block takes as input; the
    reference offers no ensemble for these."""
    return V4Config(
        channels=channels,
        levels=levels,
        encoder=encoder,
        block_out=_FLOW + _MASK + _FEEDBACK,
        feedback=_FEEDBACK,
        ensemble_supported=False,
    )


_V421 = _feedback((256, 192, 96, 48), _L4, _HEAD8)
_V422L = _feedback((192, 128, 64, 32), _L4, _HEAD4)
_V425 = _feedback((192, 128, 96, 64, 32), _L5, _HEAD4)
_V425L = _feedback((192, 128, 96, 64, 24), _L5_LITE, _HEAD4)
_V425H = _feedback((384, 256, 192, 128, 64), _L5, _HEAD4)
_V426H = _feedback((192, 128, 96, 64, 32), _L5, _HEAD16)

VARIANTS: Mapping[str, V4Config] = MappingProxyType(
    {
        "4.0": _V40,
        "4.1": _V40,
        "4.2": _V42,
        "4.3": _V42,
        "4.4": _V42,
        "4.5": _V45,
        "4.6": _V46,
        "4.7": _V47,
        "4.8": _V47,
        "4.9": _V47,
        "4.10": _V410,
        "4.11": _V410,
        "4.12": _V410,
        "4.12.lite": _V412L,
        "4.13": _V413,
        "4.13.lite": _V412L,
        "4.14": _V413,
        "4.14.lite": _V414L,
        "4.15": _V413,
        "4.15.lite": _V415L,
        "4.16.lite": _V415L,
        "4.17": _V413,
        "4.17.lite": _V415L,
        "4.18": _V413,
        "4.19": _V413,
        "4.20": _V420,
        "4.21": _V421,
        "4.22": _V421,
        "4.22.lite": _V422L,
        "4.23": _V421,
        "4.24": _V413,
        "4.25": _V425,
        "4.25.lite": _V425L,
        "4.25.heavy": _V425H,
        "4.26": _V425,
        "4.26.heavy": _V426H,
    }
)
"""Every RIFE 4.x model vs-rife 5.7.0 offers, in its order, with its network configuration."""


def equivalent(name: str) -> tuple[str, ...]:
    """All variant names with the same network as ``name`` (itself included, canonical first).

    Their checkpoints have identical keys and shapes, so they can be told apart only by name.
    """
    cfg = VARIANTS[name]
    return tuple(n for n, c in VARIANTS.items() if c == cfg)


def canonical(name: str) -> str:
    """The name :func:`detect_variant` reports for ``name``'s architecture."""
    return equivalent(name)[0]


def build(name: str) -> IFNetV4:
    return IFNetV4(VARIANTS[name])


def signature(cfg: V4Config) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of ``cfg``'s network (built on the meta device: no memory)."""
    with torch.device("meta"):
        net = IFNetV4(cfg)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


_OWNED = re.compile(r"^(block\d+|encode)\.")


def network_state(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The entries of a (``module.``-stripped) checkpoint that belong to a 4.x network
    (``block<i>.*``, ``encode.*``); anything else, a training-time teacher say, is dropped."""
    return {k: v for k, v in state_dict.items() if _OWNED.match(k)}


def matches(name: str, state_dict: Mapping[str, Tensor]) -> bool:
    """Whether the network entries of ``state_dict`` have exactly the keys and shapes of ``name``."""
    shapes = {k: tuple(v.shape) for k, v in network_state(state_dict).items()}
    return shapes == signature(VARIANTS[name])


def detect_variant(state_dict: Mapping[str, Tensor]) -> str | None:
    """The canonical name of the 4.x variant this (``module.``-stripped) state dict belongs to.

    The network's entries (see :func:`network_state`) must match one variant's keys and shapes
    exactly; names with the same network cannot be told apart and give the first of
    :func:`equivalent`.
    """
    if "block0.conv0.0.0.weight" not in state_dict:
        return None
    for name in dict.fromkeys(canonical(n) for n in VARIANTS):
        if matches(name, state_dict):
            return name
    return None
