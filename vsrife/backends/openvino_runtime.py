"""Serving a converted OpenVINO graph: numpy in, numpy out, no PyTorch.

Converting a network needs PyTorch (:mod:`vsrife.backends.openvino_cpu` traces it); running the
converted graph does not. Once a graph is in the compiled-graph cache, :func:`from_cache` serves it
directly, so a process that only interpolates on the CPU never imports PyTorch: measured 0.7 GB of
resident memory and 1-2 s of start-up saved per process (docs/benchmark-history.md).

The cache entry of a graph is named by :func:`entry_key`: the vsrife, graph, OpenVINO and PyTorch
versions (PyTorch's from its package metadata: a new PyTorch may trace another graph), the model,
its weights (a checkpoint file's sha256, or a digest of a state dict's tensors), the padded and
valid sizes, scale, ensemble and precision. An entry holds the converted graphs and OpenVINO's
compiled blobs of them (``blobs/``), about 50 MB for 4.25; each new frame size or precision adds
one, so the cache is kept under a bound (:func:`prune`, ``VSRIFE_COMPILED_MAX_MB``), least recently
used entries first.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, store
from . import Target

log = logging.getLogger("vsrife")

GRAPH_VERSION = 4
"""Bumped when the exported graph changes (inputs, outputs, evidence, its formulation: 4 builds no
full-size concatenation); part of the cache key."""

GRAPHS = ("step", "encoder")
"""The graphs of an entry: the interpolation step (frame and evidence) and, for models with one,
the per-frame encoder."""


def native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX), as OpenVINO reports it."""
    import openvino as ov

    try:
        caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no answer: no claim
        return False
    return "BF16" in [str(c) for c in caps]


def _physical_cores() -> int:
    """Physical cores among the CPUs this process may use (hyper-threads counted once)."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package, core = ((topology / f).read_text().strip() for f in ("physical_package_id", "core_id"))
            cores.add(f"{package}:{core}")
        except OSError:
            cores.add(f"cpu{cpu}")
    return max(1, len(cores))


def inference_threads() -> int:
    """The threads OpenVINO computes with: PyTorch's intra-op count where PyTorch is loaded (so
    ``torch.set_num_threads`` governs both backends), else the count PyTorch would start with
    (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, else the physical cores this process may use). The
    count changes the rounding of the bf16 graph, so a graph served with or without PyTorch must
    use the same one to give the same frames."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):
        return int(torch.get_num_threads())
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return _physical_cores()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def entry_key(target: Target, weights: str) -> str:
    """The cache entry's name for ``target`` and ``weights`` (see the module docstring)."""
    import openvino as ov

    parts = {
        "vsrife": __version__,
        "graph": GRAPH_VERSION,
        "openvino": ov.get_version(),
        "torch": _version("torch"),
        "model": target.spec.name,
        "weights": weights,
        "padded": list(target.padded),
        "valid": [target.height, target.width],
        "scale": target.scale,
        "ensemble": target.ensemble,
        "precision": target.precision,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def writable(path: Path) -> bool:
    """Whether ``path`` can be written: its nearest existing ancestor (itself included) is a
    directory this process may write to."""
    for p in (path, *path.parents):
        if p.exists():
            return p.is_dir() and os.access(p, os.W_OK)
    return False


def properties(target: Target, entry: Path, threads: int | None = None) -> dict[str, Any]:
    """How every graph is compiled. OpenVINO keeps its compiled blobs in the entry (``blobs/``, so
    that they go with it), where the entry can be written: a blob cache it cannot write fails."""
    props: dict[str, Any] = {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_NUM_THREADS": threads or inference_threads(),
        "INFERENCE_PRECISION_HINT": "bf16" if target.precision == "bf16" else "f32",
    }
    if writable(entry / "blobs"):
        props["CACHE_DIR"] = str(entry / "blobs")
    return props


def needed(target: Target) -> tuple[str, ...]:
    """The graphs ``target`` runs."""
    return GRAPHS if target.spec.has_encoder else GRAPHS[:1]


class GraphRuntime:
    """The backend calls on compiled graphs (numpy arrays in and out)."""

    name = "openvino"

    def __init__(self, target: Target, step: Any, encoder: Any | None) -> None:
        import openvino as ov

        self.target = target
        self.step = step
        self.encoder = encoder
        self._step_request = step.create_infer_request()
        self._enc_request = encoder.create_infer_request() if encoder is not None else None
        self._tensor = ov.Tensor
        self._outputs: dict[int, np.ndarray] = {}  # what each request writes into (see _into_new)

    def host_tensor(self, planes: Sequence[np.ndarray]) -> np.ndarray:
        """The planes in a 1 x 3 x padded array, the edge pixels repeated into the padding (black
        padding would be seen by the flow network as a hard edge moving with the frame border)."""
        ph, pw = self.target.padded
        out = np.empty((1, len(planes), ph, pw), np.float32)
        for c, plane in enumerate(planes):
            h, w = plane.shape
            out[0, c, :h, :w] = plane
            if pw > w:
                out[0, c, :h, w:] = out[0, c, :h, w - 1 : w]
            if ph > h:
                out[0, c, h:, :] = out[0, c, h - 1 : h, :]
        return out

    def upload(self, host: np.ndarray) -> np.ndarray:
        return host

    def download(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """A view where ``dtype`` is float32 (the filter copies it into the output frame at once, and
        results are never changed): a copy here allocated 11 MB per frame at 720p, fresh pages the
        kernel had to fault in and zero on the thread that competes with inference for the cores."""
        tg = self.target
        return x[0, :, : tg.height, : tg.width].astype(dtype, copy=False)

    def _into_new(self, request: Any) -> np.ndarray:
        """A new array that ``request``'s next run writes its first output into. Reading the output
        from the request's own buffer, which the next run overwrites, would need a copy of it (11.8
        MB a frame at 720p) on the inference thread, where every millisecond adds to the frame's."""
        out = request.model_outputs[0]
        array = np.empty(tuple(out.get_shape()), out.get_element_type().to_dtype())
        request.set_output_tensor(0, self._tensor(array, shared_memory=True))
        # the request keeps a pointer, not a reference: the array must outlive its use there
        self._outputs[id(request)] = array
        return array

    def encode(self, img: np.ndarray) -> np.ndarray:
        assert self._enc_request is not None
        features = self._into_new(self._enc_request)
        # no copy of the input (it is not changed), nor of the output: infer() returns a copy of
        # every output unless it shares them (15.7 MB of features per frame at 720p, thrown away)
        self._enc_request.infer([img], share_inputs=True, share_outputs=True)
        return features

    def interpolate(
        self, img0: np.ndarray, img1: np.ndarray, t: float, feat0: np.ndarray | None, feat1: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        inputs = [img0, img1]
        if self.target.spec.arbitrary_timestep:
            inputs.append(np.full((1, 1, 1, 1), t, np.float32))
        if feat0 is not None and feat1 is not None:
            inputs += [feat0, feat1]
        req = self._step_request
        frame = self._into_new(req)
        req.infer(inputs, share_inputs=True, share_outputs=True)  # inputs read in place, no output copied
        return frame, req.get_output_tensor(1).data.copy()


def from_cache(target: Target, weights: str, root: Path | None = None) -> GraphRuntime | None:
    """The runtime of an entry whose graphs were all converted before; None when one is missing or
    does not compile (the converting backend then rebuilds it, with a warning)."""
    import openvino as ov

    root = root or store.compiled_dir()
    entry = root / entry_key(target, weights)
    xmls = [entry / f"{name}.xml" for name in needed(target)]
    if not all(xml.is_file() for xml in xmls):
        return None
    core, props = ov.Core(), properties(target, entry)
    try:  # by path: OpenVINO's blob cache then skips hashing the whole model
        compiled = [core.compile_model(str(xml), "CPU", props) for xml in xmls]
    except Exception as e:  # noqa: BLE001 - rebuilt by the converting backend
        log.debug("RIFE: the cached OpenVINO graphs in %s did not compile (%s)", entry, e)
        return None
    log.debug("RIFE: serving %s from %s", target.spec.name, entry)
    used(entry)
    return GraphRuntime(target, compiled[0], compiled[1] if len(compiled) > 1 else None)


# --------------------------------------------------------------------------------------------- the bound

MAX_MB_ENV = "VSRIFE_COMPILED_MAX_MB"
DEFAULT_MAX_MB = 2048
"""The compiled-graph cache is kept under this many MB (about 40 entries of 4.25)."""

RECENT_S = 600.0
"""Entries used this recently are never removed (another process may be reading them)."""

_ENTRY = re.compile(r"[0-9a-f]{32}")


def max_bytes() -> int | None:
    """The bound: ``VSRIFE_COMPILED_MAX_MB`` (0: none), else :data:`DEFAULT_MAX_MB`."""
    text = os.environ.get(MAX_MB_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_MB << 20
    if text.isdigit():
        return int(text) << 20 or None
    log.warning("RIFE: %s=%r is not a number of MB; using %d", MAX_MB_ENV, text, DEFAULT_MAX_MB)
    return DEFAULT_MAX_MB << 20


def used(entry: Path) -> None:
    """Mark an entry as just used (its directory's modification time orders :func:`prune`)."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def prune(root: Path, keep: Path | None = None, limit: int | None = None, now: float | None = None) -> list[Path]:
    """Remove least recently used entries until the cache holds at most ``limit`` bytes (default
    :func:`max_bytes`); ``keep`` and entries used in the last :data:`RECENT_S` stay. Blobs left at
    the top level by earlier versions (``root/blobs``) go first. Returns what was removed."""
    limit = max_bytes() if limit is None else limit
    if limit is None or not root.is_dir():
        return []
    now = time.time() if now is None else now
    removed: list[Path] = []
    entries: list[tuple[float, Path, int]] = []
    for path in root.iterdir():
        if path.name == "blobs" and path.is_dir():  # the layout before entries held their own blobs
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        elif _ENTRY.fullmatch(path.name) and path.is_dir():
            with contextlib.suppress(OSError):
                entries.append((path.stat().st_mtime, path, _size(path)))
    total = sum(size for _, _, size in entries)
    for mtime, path, size in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if path == keep or now - mtime < RECENT_S:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        total -= size
    if removed:
        log.info("RIFE: removed %d compiled graphs from %s to keep it under %d MB", len(removed), root, limit >> 20)
    return removed
