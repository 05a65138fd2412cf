"""Network definitions: one module per genuinely distinct family, each exporting the same contract.

Every architecture module (:data:`ARCHITECTURES`, in detection order) provides

* ``detect(state_dict) -> str | None``: the variant name whose network has exactly the keys and
  shapes of the checkpoint's own entries (the ones ``owned`` selects), else None;
* ``owned(state_dict) -> dict``: the checkpoint entries that belong to this family's networks
  (anything else, a training teacher say, is not part of the network);
* ``build(variant) -> Network``: the network, with random weights.

The data that describes the variants (widths, padding, encoders) is in :mod:`.variants`, which does
not import torch, so the registry and the command line can read it cheaply. The modules themselves
are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from .common import Fused, Warp

ARCHITECTURES: tuple[str, ...] = ("v4", "hdv3", "paper")
"""Architecture modules in the order detection tries them."""


class Network(Protocol):
    """What the engine needs from a network (all of them are ``torch.nn.Module`` s)."""

    def encode(self, img: Tensor) -> Tensor | None:
        """Per-frame features, computed once per source frame and reused (None: no encoder)."""

    def fused(self, img0: Tensor, img1: Tensor, timestep: float | Tensor, warp: Warp, scale: float = 1.0,
              feat0: Tensor | None = None, feat1: Tensor | None = None, ensemble: bool = False) -> Fused:  # fmt: skip
        """The frame at ``timestep`` between ``img0`` and ``img1`` with the evidence behind it
        (:class:`vsrife.archs.common.RifeNetwork` implements this for every family)."""


class Architecture(Protocol):
    def detect(self, state_dict: Mapping[str, Tensor]) -> str | None: ...
    def owned(self, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]: ...
    def build(self, variant: str) -> Network: ...
    def signature(self, variant: str) -> dict[str, tuple[int, ...]]: ...


def module(arch: str) -> ModuleType:
    """The architecture module ``arch`` (one of :data:`ARCHITECTURES`)."""
    if arch not in ARCHITECTURES:
        raise KeyError(arch)
    return importlib.import_module(f".{arch}", __name__)
