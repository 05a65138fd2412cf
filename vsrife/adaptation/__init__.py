"""Adapting a RIFE 4.x network to one video, from that video's own frames.

Every frame n of a clip (n - 1 and n + 1 being the same shot, in motion) is a training example with
a known answer: the network, given frames n - 1 and n + 1, must produce frame n. A short
fine-tune on such triplets (the paper's reconstruction loss, optionally its privileged distillation
where the checkpoint carries the teacher) adapts the published weights to the footage; a held-out
part of the triplets guards the result, so the weights written are never worse on it than the base
model.

``adapt(clip) -> path`` writes ``.safetensors`` weights that ``RIFE(clip, model=path)`` loads;
``vsrife adapt`` does the same from the command line (:func:`add_cli`), and
:func:`adapted_model_for` serves ``vsrife interpolate --adapt`` from a cache keyed by the clip's
fingerprint, the base weights and the settings.

The names are imported on first use, so that the command line can register ``adapt`` without
importing PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DEFAULT_SECONDS": ".defaults",
    "AdaptResult": ".api",
    "AdaptSettings": ".api",
    "adapt": ".api",
    "adapt_clip": ".api",
    "adapted_model_for": ".api",
    "add_cli": ".cli",
    "add_interpolate_options": ".cli",
    "model_for_interpolate": ".cli",
    "cache_dir": ".weights",
    "clip_fingerprint": ".weights",
    "read_metadata": ".weights",
}

__all__ = [
    "DEFAULT_SECONDS",
    "AdaptResult",
    "AdaptSettings",
    "adapt",
    "adapt_clip",
    "adapted_model_for",
    "add_cli",
    "add_interpolate_options",
    "cache_dir",
    "clip_fingerprint",
    "model_for_interpolate",
    "read_metadata",
]

if TYPE_CHECKING:  # pragma: no cover
    from .api import AdaptResult, AdaptSettings, adapt, adapt_clip, adapted_model_for
    from .cli import add_cli, add_interpolate_options, model_for_interpolate
    from .defaults import DEFAULT_SECONDS
    from .weights import cache_dir, clip_fingerprint, read_metadata


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
