"""RIFE video frame interpolation for VapourSynth.

The public functions are imported on first use, so that ``import vsrife`` (and with it the
``vsrife`` command line, ``vsrife --help``, ``vsrife models list``) does not pay for importing
PyTorch and VapourSynth until a clip is actually built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name -> module that defines it
_EXPORTS = {
    "RIFE": ".filter",
    "adapt": ".adaptation",
    "rife": ".compat",
    "scene_changes": ".scene",
}

__all__ = ["RIFE", "__version__", "adapt", "rife", "scene_changes"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .adaptation import adapt
    from .compat import rife
    from .filter import RIFE
    from .scene import scene_changes


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vsrife' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
