"""Where adaptation's weights come from and where they go.

* :func:`load_base` is the one place that knows the registry and the store: it turns ``model=``
  into the network to fine-tune, its sha256 and, when the checkpoint carries one, the training-time
  teacher block.
* :func:`write_adapted` writes a ``.safetensors`` file atomically (a temporary file in the same
  directory, renamed when complete), with metadata saying what it was adapted from and how.
* :func:`clip_fingerprint` and :func:`cache_path` name adapted weights in the user cache dir.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from torch import Tensor

from .. import __version__, loader, registry, store
from ..archs import v4
from ..archs.variants import V4_VARIANTS
from ..errors import ModelError
from .defaults import DEFAULT_MODEL

log = logging.getLogger("vsrife")


TEACHER_PREFIX = "teacher."

META_PREFIX = "vsrife."
FORMAT_VERSION = "1"


def _error(msg: str) -> vs.Error:
    return vs.Error(f"RIFE: {msg}")


@dataclass
class Base:
    """The model adaptation starts from."""

    spec: registry.ModelSpec
    sha256: str
    net: v4.IFNetV4
    teacher: dict[str, Tensor] | None
    """The checkpoint's ``teacher.*`` entries (prefix removed), if it has them."""


def state_sha256(sd: Mapping[str, Tensor]) -> str:
    """A digest of a state dict's names, dtypes, shapes and values (for weights given in memory)."""
    h = hashlib.sha256()
    for k in sorted(sd):
        t = sd[k].detach().cpu().contiguous()
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _teacher(spec: registry.ModelSpec, sd: Mapping[str, Tensor]) -> dict[str, Tensor] | None:
    """The teacher entries, if they fit an IFBlock of this design that sees a later block's input
    plus the 3-channel ground truth."""
    tea = {k[len(TEACHER_PREFIX) :]: v for k, v in sd.items() if k.startswith(TEACHER_PREFIX)}
    first = tea.get("conv0.0.0.weight")
    if first is None:
        return None
    cfg = V4_VARIANTS[spec.name]
    if first.shape[1] != cfg.block_inputs(False) + 3:
        log.warning(
            "vsrife: the checkpoint's teacher takes %d channels, not %d; adapting without it",
            first.shape[1],
            cfg.block_inputs(False) + 3,
        )
        return None
    return tea


def load_base(model: str | os.PathLike[str] | Mapping[str, Tensor] | None) -> Base:
    """The network to adapt (fp32, on the CPU), with its sha256 and teacher. Raises ``RIFE:`` errors."""
    try:
        ckpt = loader.load(model if model is not None else DEFAULT_MODEL)
    except ModelError as e:
        raise _error(str(e)) from None
    spec = ckpt.spec
    if spec.arch != "v4":
        raise _error(
            f"model {spec.name!r} has no training support: adapt works with the 4.x models "
            f"(which take any timestep), e.g. model='{DEFAULT_MODEL}'"
        )
    net = loader.build(ckpt)
    assert isinstance(net, v4.IFNetV4)
    tea = {k: v for k, v in ckpt.training.items() if k.startswith(TEACHER_PREFIX)}
    sha = ckpt.sha256 or state_sha256({**ckpt.network, **ckpt.training})  # a file's hash, or the tensors'
    return Base(spec, sha, net.float(), _teacher(spec, tea))


# ------------------------------------------------------------------------------------ writing


def check_output(path: str | os.PathLike[str]) -> Path:
    path = Path(path).expanduser()
    if path.suffix != ".safetensors":
        raise _error(f"adapted weights are written as .safetensors; got {path.name}")
    return path


def write_adapted(path: str | os.PathLike[str], state: Mapping[str, Tensor], metadata: Mapping[str, object]) -> Path:
    """Write ``state`` (the network entries only) with ``metadata`` (stored as strings under
    ``vsrife.``) to ``path`` atomically: nothing appears at ``path`` until the file is complete, and
    an existing file there is replaced only then."""
    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    meta = {
        "format": "pt",
        **{META_PREFIX + k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()},
    }
    from safetensors.torch import save

    with store.atomic_write(path) as f:  # nothing at ``path`` until the file is complete
        f.write(save(tensors, metadata=meta))
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``vsrife.*`` metadata of an adapted weights file (prefix removed; values as written:
    strings, or JSON for numbers and lists)."""
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="pt") as f:
        meta = f.metadata() or {}
    return {k[len(META_PREFIX) :]: v for k, v in meta.items() if k.startswith(META_PREFIX)}


# ------------------------------------------------------------------------------------ naming


FINGERPRINT_FRAMES = 8


def clip_fingerprint(clip: vs.VideoNode) -> str:
    """A digest of what the clip is: format, size, length, rate and the pixels of a few frames
    spread over it (so the same video opened twice matches, an edited one does not)."""
    h = hashlib.sha256()
    fmt = clip.format
    h.update(
        json.dumps(
            [
                fmt.name if fmt else None,
                clip.width,
                clip.height,
                clip.num_frames,
                clip.fps.numerator,
                clip.fps.denominator,
            ]
        ).encode()
    )
    n = clip.num_frames
    for i in sorted({(2 * k + 1) * n // (2 * FINGERPRINT_FRAMES) for k in range(FINGERPRINT_FRAMES)}):
        f = clip.get_frame(i)
        for p in range(f.format.num_planes):
            h.update(np.ascontiguousarray(np.asarray(f[p])).tobytes())
    return h.hexdigest()


def cache_dir() -> Path:
    """Where ``interpolate --adapt`` keeps adapted weights: ``VSRIFE_ADAPT_DIR``, else the user cache
    dir (``~/.cache/vsrife/adapted`` on Linux)."""
    env = os.environ.get("VSRIFE_ADAPT_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsrife")) / "adapted"


def cache_key(fingerprint: str, base_sha256: str, settings: Mapping[str, object]) -> str:
    blob = json.dumps(
        {"clip": fingerprint, "base": base_sha256, "settings": settings, "format": FORMAT_VERSION}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_path(spec_name: str, key: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"adapted_v{spec_name}_{key}.safetensors"


def metadata(
    base: Base, fingerprint: str, settings: Mapping[str, object], summary: Mapping[str, object]
) -> dict[str, object]:
    return {
        "kind": "adapted",
        "format_version": FORMAT_VERSION,
        "vsrife_version": __version__,
        "base_model": base.spec.name,
        "base_sha256": base.sha256,
        "clip_fingerprint": fingerprint,
        "settings": dict(settings),
        **summary,
    }
