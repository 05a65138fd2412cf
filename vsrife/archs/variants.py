"""What distinguishes the RIFE networks, as plain data (no torch): read by the registry and the
command line without importing PyTorch, and by the network modules to build themselves.

All 4.x networks (Practical-RIFE 4.0 ... 4.26, ``.lite`` and ``.heavy``) share one design: a stack
of IFBlocks refines a bidirectional flow (plus a fusion mask) coarse to fine, each block seeing both
frames warped by the flow so far and the timestep map. The versions differ only in the knobs of
:class:`V4Config`:

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
  "very large motion" retry that restarts at half resolution (a data-dependent branch, so these two
  networks cannot be exported to a static graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

FLOW = 4  # two 2-D flows: t->0 and t->1
MASK = 1  # fusion-mask logit
RGB = 3
TIME = 1
UNUSED = 1  # 4.6-4.20 heads emit one channel nobody reads
FEEDBACK = 8  # 4.21+ heads emit this many feature channels for the next block
DOWNSAMPLE = 4
"""Each block's ``conv0`` halves the resolution twice, so its input must divide by this."""

Activation = Literal["prelu", "lrelu"]


@dataclass(frozen=True)
class BlockConfig:
    """One IFBlock design (shared by the 4.x networks and the paper model): ``conv0`` (two stride-2
    convs), a trunk of ``depth`` units, and a transposed-conv head."""

    act: Activation = "lrelu"
    """Activation after the convs of ``conv0`` (and of a plain trunk)."""
    trunk: Literal["conv", "resconv"] = "resconv"
    depth: int = 8
    residual: bool = False
    """Add the trunk input to its output (plain trunks of 4.0/4.1 and the paper model)."""
    groups: int = 1
    """Groups of the ResConv convolutions."""
    pixel_shuffle: bool = True
    """Head = transposed conv + PixelShuffle(2) (4.5+) instead of a bare transposed conv emitting at half size."""
    out: int = FLOW + MASK + UNUSED
    """Channels the head emits (after the pixel shuffle): flow, mask, then extra channels."""


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
    block: BlockConfig = field(default_factory=BlockConfig)
    encoder: EncoderConfig | None = None
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
        if not 0 <= self.feedback <= self.block.out - FLOW - MASK:
            raise ValueError("feedback channels must come out of the block head")
        if self.feedback and self.ensemble_supported:
            raise ValueError("the ensemble's reversed pass has no reversed feedback features")

    @property
    def pad(self) -> int:
        """Frame dimensions must be a multiple of this (at ``scale=1``)."""
        return int(max(self.levels)) * DOWNSAMPLE

    @property
    def encode_channels(self) -> int:
        return self.encoder.out if self.encoder is not None else 0

    @property
    def exportable(self) -> bool:
        """Whether the network is a static graph (no data-dependent branch) that can be exported."""
        return self.large_flow_retry is None

    def block_inputs(self, first: bool) -> int:
        """Input channels of a block: both (warped) frames, both (warped) features and the timestep,
        plus, after the first block, the mask, the feedback features and the current flow."""
        n = 2 * RGB + 2 * self.encode_channels + TIME
        if not first:
            n += MASK + self.feedback + FLOW
        return n


# ---------------------------------------------------------------------------------------------
# The released 4.x variants. Names are vs-rife's; identical configs are architecture-equivalent.

_L4 = (8.0, 4.0, 2.0, 1.0)
_L5 = (16.0, 8.0, 4.0, 2.0, 1.0)
_L5_LITE = (32.0, 16.0, 8.0, 4.0, 1.0)
_W4 = (192, 128, 96, 64)
_W4_LITE = (128, 96, 64, 48)

_ENC_TINY = EncoderConfig("sequential", hidden=16, out=4, depth=0, activation=False)
_ENC_SEQ8 = EncoderConfig("sequential", hidden=32, out=8)
_ENC_SEQ4 = EncoderConfig("sequential", hidden=32, out=4)
_HEAD8 = EncoderConfig("head", hidden=32, out=8)
_HEAD4 = EncoderConfig("head", hidden=16, out=4)
_HEAD16 = EncoderConfig("head", hidden=16, out=16)

_PLAIN = BlockConfig(trunk="conv", pixel_shuffle=False, out=FLOW + MASK)
_V40 = V4Config(_W4, _L4, replace(_PLAIN, act="prelu", residual=True), mask_residual=True, large_flow_retry=32.0)
_V42 = V4Config(_W4, _L4, _PLAIN, mask_residual=True)
_V45 = V4Config(_W4, _L4, BlockConfig(out=FLOW + MASK), mask_residual=True)
_V46 = V4Config(_W4, _L4, mask_residual=True)
_V47 = V4Config(_W4, _L4, encoder=_ENC_TINY)
_V410 = V4Config(_W4, _L4, encoder=_ENC_SEQ8)
_V412L = V4Config(_W4_LITE, _L4, encoder=_ENC_SEQ4)
_V413 = V4Config(_W4, _L4, encoder=_HEAD8)
_V414L = V4Config(_W4, _L4, BlockConfig(groups=2), encoder=_HEAD8)
_V415L = V4Config(_W4_LITE, _L4, encoder=_HEAD4)
_V420 = V4Config((384, 192, 96, 48), _L4, encoder=_HEAD8)


def _feedback(channels: tuple[int, ...], levels: tuple[float, ...], encoder: EncoderConfig) -> V4Config:
    """4.21+: every block also emits 8 feature channels that the next block takes as input; the
    reference offers no ensemble for these."""
    return V4Config(
        channels,
        levels,
        BlockConfig(out=FLOW + MASK + FEEDBACK),
        encoder=encoder,
        feedback=FEEDBACK,
        ensemble_supported=False,
    )


_V421 = _feedback((256, 192, 96, 48), _L4, _HEAD8)
_V422L = _feedback((192, 128, 64, 32), _L4, _HEAD4)
_V425 = _feedback((192, 128, 96, 64, 32), _L5, _HEAD4)
_V425L = _feedback((192, 128, 96, 64, 24), _L5_LITE, _HEAD4)
_V425H = _feedback((384, 256, 192, 128, 64), _L5, _HEAD4)
_V426H = _feedback((192, 128, 96, 64, 32), _L5, _HEAD16)

V4_VARIANTS: Mapping[str, V4Config] = MappingProxyType(
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


def v4_equivalent(name: str) -> tuple[str, ...]:
    """All 4.x names with the same network as ``name`` (itself included, oldest first).

    Their checkpoints have identical keys and shapes, so they can be told apart only by name."""
    cfg = V4_VARIANTS[name]
    return tuple(n for n, c in V4_VARIANTS.items() if c == cfg)


# ---------------------------------------------------------------------------------------------
# The other families: one network each.

HDV3_PAD = 32
PAPER_PAD = 32
"""The paper model's 1/4-scale block needs ``size * scale / 4`` divisible by 4 and its ContextNet
``size / 16``: frames are padded to ``max(32, 32 / scale)``."""

PAPER_BLOCKS: tuple[tuple[int, int], ...] = ((6, 240), (13 + FLOW, 150), (13 + FLOW, 90))
"""(input channels, width) of the paper model's three IFBlocks."""
PAPER_BLOCK = BlockConfig(act="prelu", trunk="conv", residual=True, pixel_shuffle=False, out=FLOW + MASK)
