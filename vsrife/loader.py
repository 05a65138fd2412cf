"""Model loading: from a name, a checkpoint path or a state dict to a ready network.

This is the only place that coordinates the registry (what each network is) and the store (where
files live and whether they are intact). The filter and the command line ask :func:`load` for a
:class:`Checkpoint` and :func:`build` for the network; nothing else reads checkpoints.

Checkpoints are read without executing code (``torch.load(weights_only=True)`` or safetensors),
unwrapped (``state_dict``/``params``/``model`` containers, DataParallel's ``module.`` prefix), and
split into the network's own entries and the training-only tensors published release files carry
(``teacher.*``/``block_tea.*``, the privileged-distillation teacher; ``caltime.*``); those are kept
aside (adaptation uses the teacher) and reported at debug level. Any other key is an error that
names it. Every tensor is checked to be finite once, at load.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, registry, store
from .archs import module as arch_module
from .errors import ModelError, ModelMismatchError, UnknownModelError, UnsupportedModelError
from .registry import ModelSpec

if TYPE_CHECKING:
    from torch import Tensor, nn

log = logging.getLogger("vsrife")

TRAINING_ONLY: tuple[str, ...] = ("teacher.", "block_tea.", "caltime.")
"""Key prefixes of tensors that published checkpoints carry for training only."""

META_BASE = "vsrife.base_model"
"""safetensors metadata key naming the registered model a derived checkpoint (an adapted model)
was made from; it decides the model among names that share one network (4.25 / 4.26)."""

_SHOWN = 3  # how many offending keys a message names

ModelArg = str | os.PathLike[str] | Mapping[str, "Tensor"] | None


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint recognised as one registered model."""

    spec: ModelSpec
    network: dict[str, Tensor]
    """The network's own entries (they load with ``strict=True``)."""
    origin: str
    """The model name or file it came from (for messages)."""
    sha256: str | None = None
    training: dict[str, Tensor] = field(default_factory=dict)
    """Training-only tensors (the distillation teacher) where the file has them."""
    metadata: dict[str, str] = field(default_factory=dict)
    """safetensors metadata (adapted models record their base model and settings)."""


# --------------------------------------------------------------------------------------------- reading


def canonicalize(sd: Mapping[Any, Any]) -> dict[str, Tensor]:
    """Unwrap the containers checkpoints come in and strip DataParallel's ``module.`` prefix.
    numpy arrays (``safetensors.numpy``) become tensors; other non-tensor entries (step counters,
    optimizer settings) are left out."""
    import numpy as np
    import torch
    from torch import Tensor

    for key in ("state_dict", "params", "model"):
        inner = sd.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
            sd = inner
            break
    bad = [k for k in sd if not isinstance(k, str)]
    if bad:
        raise UnsupportedModelError(f"a state dict's keys must be parameter names (str), got {bad[0]!r}")
    arrays = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items() if isinstance(v, np.ndarray)}
    return {
        str(k).removeprefix("module."): arrays.get(k, v) for k, v in sd.items() if isinstance(arrays.get(k, v), Tensor)
    }


def read(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The canonicalised tensors of a checkpoint file and its metadata (safetensors only)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    metadata: dict[str, str] = {}
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as f:
                metadata = dict(f.metadata() or {})
                raw: object = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no iterator
        else:
            import torch

            raw = torch.load(path, map_location="cpu", weights_only=True)
    except ModuleNotFoundError as e:
        raise ModelError(f"reading {path.name} needs the '{e.name}' package: pip install {e.name}") from e
    except Exception as e:
        raise ModelError(
            f"cannot read checkpoint {path}: {_reason(e)}. "
            "It is truncated, not a PyTorch checkpoint, or contains objects other than tensors "
            "(vsrife loads tensors only, never other pickled objects)."
        ) from e
    if not isinstance(raw, Mapping):
        raise ModelError(f"checkpoint {path} holds a {type(raw).__name__}, not a state dict")
    sd = canonicalize(raw)
    if not sd:
        raise ModelError(f"checkpoint {path} contains no tensors")
    return sd, metadata


def _reason(e: Exception) -> str:
    """One line of why a file did not load: PyTorch's safe loader explains itself in a page that
    advises loading the file unsafely and filing an issue with PyTorch; keep only its finding."""
    text = str(e)
    found = re.search(r"WeightsUnpickler error:\s*(.*?)\s*(?:Check the documentation|$)", text, re.S)
    if found and found.group(1).strip():
        text = f"PyTorch's safe loader refused it ({found.group(1).strip()})"
    else:
        text = f"{type(e).__name__}: {text}"
    line = " ".join(text.split())
    return line if len(line) <= 200 else line[:197] + "..."


# --------------------------------------------------------------------------------------------- recognising


def _diff(spec: ModelSpec, sd: Mapping[str, Tensor]) -> tuple[list[str], int]:
    """What separates the checkpoint's network entries from ``spec``'s network: readable findings
    and their count."""
    arch = arch_module(spec.arch)
    want = arch.signature(spec.variant)
    have = {k: tuple(v.shape) for k, v in arch.owned(sd).items()}
    missing = [k for k in want if k not in have]
    unexpected = [k for k in have if k not in want]
    reshaped = [f"{k} {have[k]} (expected {want[k]})" for k in want if k in have and have[k] != want[k]]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", reshaped)):
        if keys:
            more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
            parts.append(f"{len(keys)} {label}: {', '.join(keys[:_SHOWN])}{more}")
    return parts, len(missing) + len(unexpected) + len(reshaped)


def _closest(sd: Mapping[str, Tensor]) -> str:
    """A hint naming the registered network the checkpoint comes closest to."""
    best: tuple[int, ModelSpec, list[str]] | None = None
    for spec in registry.SPECS:
        if spec.same_network and spec.variant != spec.name:
            continue  # one entry per distinct network
        parts, count = _diff(spec, sd)
        if parts and (best is None or count < best[0]):
            best = (count, spec, parts)
    if best is None or best[0] > len(sd) // 2:
        sample = ", ".join(list(sd)[:4])
        return f"its keys look like no RIFE network (first keys: {sample})"
    return f"closest is {best[1].name}: {'; '.join(best[2])}"


def _split(spec: ModelSpec, sd: Mapping[str, Tensor], origin: str) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The network's own entries and the training-only ones; any other key is an error."""
    own = arch_module(spec.arch).owned(sd)
    training = {k: v for k, v in sd.items() if k not in own and k.startswith(TRAINING_ONLY)}
    unknown = [k for k in sd if k not in own and k not in training]
    if unknown:
        more = f" and {len(unknown) - _SHOWN} more" if len(unknown) > _SHOWN else ""
        raise UnsupportedModelError(
            f"{origin}: unexpected key {', '.join(map(repr, unknown[:_SHOWN]))}{more}: not part of the "
            f"{spec.name} network nor a known training-only tensor ({', '.join(p + '*' for p in TRAINING_ONLY)}); "
            "remove it from the checkpoint"
        )
    if training:
        groups = sorted({k.split(".")[0] for k in training})
        log.debug("vsrife: %s: set aside %d training-only tensors (%s)", origin, len(training), ", ".join(groups))
    return own, training


def _check_weights(sd: Mapping[str, Tensor], origin: str) -> None:
    import torch

    for k, v in sd.items():
        if not v.is_floating_point():  # whole-number or bool "weights" run, and give nonsense or NaN frames
            raise UnsupportedModelError(
                f"{origin}: tensor {k} holds {str(v.dtype).removeprefix('torch.')} values; network weights are "
                "floating point (float32, float16, bfloat16 or float64)"
            )
        # one float64 reduction per tensor: any NaN or infinity makes the sum non-finite
        if v.is_floating_point() and v.numel() and not math.isfinite(float(v.sum(dtype=torch.float64))):
            raise ModelError(f"{origin}: tensor {k} holds NaN or infinite values; the file is damaged, re-download it")


def recognise(
    sd: Mapping[str, Tensor], origin: str, expected: ModelSpec | None = None, metadata: Mapping[str, str] | None = None
) -> Checkpoint:
    """The registered model ``sd`` holds (``expected``: the one it must hold, by name)."""
    base = (metadata or {}).get(META_BASE)
    if expected is None and base:
        try:
            expected = registry.get_spec(base)
        except UnknownModelError:
            raise UnsupportedModelError(
                f"{origin} was made from model {base!r}, which this vsrife does not know"
            ) from None
    if expected is not None:
        if not expected.fits(sd):
            found = registry.detect(sd)
            actual = (
                f"a {found.name} checkpoint" if found else f"no known network ({'; '.join(_diff(expected, sd)[0])})"
            )
            raise ModelMismatchError(
                f"{origin} should hold model {expected.name!r} but contains {actual}; rename or replace the file"
            )
        spec = expected
    else:
        found = registry.detect(sd)
        if found is None:
            raise UnsupportedModelError(f"{origin} matches no known RIFE model: {_closest(sd)}")
        spec = found
    network, training = _split(spec, sd, origin)
    _check_weights(network, origin)
    return Checkpoint(spec, network, origin, training=training, metadata=dict(metadata or {}))


@dataclass(frozen=True)
class Model:
    """A model resolved by :func:`resolve`: what it is, which weights, and its checkpoint on demand."""

    spec: ModelSpec
    weights: str | None
    """``sha256:<hex>`` of the checkpoint file; None for a state dict given in memory."""
    origin: str
    source: str | None
    """What resolves to it again in another process: the model's name or the file's absolute path
    (None for a state dict)."""
    read: Callable[[], Checkpoint] = field(repr=False, compare=False)
    """The checkpoint (read once, on first call; PyTorch is imported then)."""


def load(model: ModelArg) -> Checkpoint:
    """The checkpoint ``model`` names: None (the default model, :data:`registry.DEFAULT`), a
    registered name, a checkpoint file, or a state dict (see :func:`resolve`)."""
    return resolve(model).read()


def resolve(model: ModelArg, apart: bool = True) -> Model:
    """What ``model`` is, reading the checkpoint only where that is the only way to know.

    A registered name is recognised by name; its installed file must have the store's hash. A file
    named like a release (``flownet_v4.22.pkl``) must hold that release's network and, where the
    store knows the release's hash, have it. Any other file is recognised from its tensors once:
    the model it holds is then remembered by the file's sha256 (in the compiled-graph cache,
    ``recognised/``), so a later run that finds its graph converted does not read it again. A file
    never seen is read in a child process where PyTorch is not loaded here, unless ``apart`` is
    false (the caller is going to load PyTorch anyway)."""
    if model is None:
        model = registry.DEFAULT
    if isinstance(model, Mapping):
        sd = canonicalize(model)
        if not sd:
            kinds = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in list(model.items())[:_SHOWN])
            raise UnsupportedModelError(f"the state dict holds no tensors ({kinds or 'it is empty'})")
        ckpt = recognise(sd, "the state dict")
        return Model(ckpt.spec, None, ckpt.origin, None, lambda: ckpt)
    text = os.fspath(model)
    try:
        spec = registry.get_spec(text)
    except UnknownModelError:
        path = Path(text).expanduser()
        if not path.is_file():
            raise UnknownModelError(
                f"model {text!r} is neither a known model ({', '.join(registry.names())}) nor an existing file"
            ) from None
        named = registry.from_filename(path.name)
        if named is not None:
            store.check_release_file(named, path)
        digest = store.sha256_file(path)

        def read_file() -> Checkpoint:
            sd, metadata = read(path)
            return _with_hash(recognise(sd, path.name, named, metadata), path if named is not None else None)

        known = named or _recalled(digest) or (_recognised_apart(path, digest) if apart else None)
        if known is None:
            ckpt = read_file()
            _remember(digest, ckpt.spec)
            return Model(ckpt.spec, f"sha256:{digest}", path.name, str(path.resolve()), lambda: ckpt)
        return Model(known, f"sha256:{digest}", path.name, str(path.resolve()), functools.cache(read_file))
    path = store.installed_path(spec)

    def read_installed() -> Checkpoint:
        sd, metadata = read(path)
        return _with_hash(recognise(sd, spec.filename, spec, metadata), path)

    digest = store.sha256_file(path)
    return Model(spec, f"sha256:{digest}", spec.filename, spec.name, functools.cache(read_installed))


def _recognised_apart(path: Path, digest: str) -> ModelSpec | None:
    """Where PyTorch is not loaded here, recognise the file in a child process (which records the
    model it holds) rather than load PyTorch to read it; None where that cannot be done or the file
    is not a model (then it is read here, and the error says why)."""
    from . import child

    run = child.run(__name__, str(path))
    return _recalled(digest) if run is not None and run.returncode == 0 else None


def _record(digest: str) -> Path:
    return store.compiled_dir() / "recognised" / f"{digest}.json"


def _remember(digest: str, spec: ModelSpec) -> None:
    """Note which model the file with this sha256 holds (a cache: failing to write costs nothing)."""
    try:
        path = _record(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        with store.atomic_write(path, "w") as f:
            json.dump({"model": spec.name, "vsrife": __version__}, f)
    except OSError as e:
        log.debug("vsrife: could not record the model of %s: %s", digest, e)


def _recalled(digest: str) -> ModelSpec | None:
    """The model this vsrife recognised in the file with this sha256 before, if it did."""
    try:
        record = json.loads(_record(digest).read_text(encoding="utf-8"))
        if record.get("vsrife") != __version__:
            return None
        return registry.get_spec(str(record["model"]))
    except (OSError, ValueError, KeyError, AttributeError, UnknownModelError):
        return None


def _with_hash(ckpt: Checkpoint, path: Path | None) -> Checkpoint:
    return ckpt if path is None else replace(ckpt, sha256=store.sha256_file(path))


# --------------------------------------------------------------------------------------------- building


def build(ckpt: Checkpoint) -> nn.Module:
    """The network of ``ckpt`` with its weights, in eval mode, on the CPU."""
    from torch import nn

    net = ckpt.spec.build()
    assert isinstance(net, nn.Module)
    result = net.load_state_dict(ckpt.network, strict=False)
    if result.missing_keys or result.unexpected_keys:  # recognise() guarantees a match; a bug otherwise
        raise ModelMismatchError(
            f"{ckpt.origin} does not fit {ckpt.spec.name}: {'; '.join(_diff(ckpt.spec, ckpt.network)[0])}"
        )
    return net.eval()


def main(argv: list[str]) -> int:
    """The child of :func:`_recognised_apart`: recognise (and so record) one checkpoint file."""
    from . import child

    child.exit_with(int(argv[1]))
    try:
        resolve(argv[0])
    except ModelError:
        return 2
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
