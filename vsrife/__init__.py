"""RIFE video frame interpolation for VapourSynth."""

from __future__ import annotations

from .filter import RIFE
from .scene import scene_changes

__all__ = ["RIFE", "scene_changes", "__version__"]
__version__ = "0.1.0"
