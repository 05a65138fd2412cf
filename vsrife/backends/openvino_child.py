"""Converting an OpenVINO graph in a child process, so that the serving process never loads PyTorch.

Converting needs PyTorch (it traces the network); serving the converted graph does not, and PyTorch
costs a process about 0.7 GB that it never gives back. So where the process has not loaded PyTorch
already, :func:`convert_apart` runs the conversion in a short-lived child (``python -m
vsrife.backends.openvino_child JOB``), which writes the compiled-graph cache entry and exits; the
caller then serves the entry (:func:`~vsrife.backends.openvino_runtime.from_cache`). Measured: a
first run at a new frame size then peaks as low as every later one (docs/benchmark-history.md). Where the
child cannot run or fails, the caller converts in-process as before.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from .. import child, store
from . import CPU, Target
from .openvino_runtime import inference_threads, writable

log = logging.getLogger("vsrife")


def convert_apart(model: str, weights: str, target: Target) -> bool:
    """Convert ``model`` (a name or a checkpoint path, as given to ``RIFE``; its file has the id
    ``weights``) for ``target`` in a child process; whether the entry was written. False (and the
    caller converts in-process) where PyTorch is loaded here already, no interpreter can be found,
    or the child fails; a failure is logged at debug level, the in-process conversion reports it."""
    if not writable(store.compiled_dir()):
        return False
    job = {
        "model": model,
        "weights": weights,
        "precision": target.precision,
        "size": [target.height, target.width],
        "padded": list(target.padded),
        "scale": target.scale,
        "ensemble": target.ensemble,
        "threads": inference_threads(),
    }
    start = time.perf_counter()
    run = child.run(__name__, json.dumps(job))
    if run is None:
        return False
    if run.returncode != 0:
        log.debug("RIFE: the converting child exited %d: %s", run.returncode, run.stderr[-2000:])
        return False
    try:
        done = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False
    log.info(
        "RIFE: converted %s for OpenVINO (%dx%d, %s) in %.1f s in a child process; cached in %s",
        target.spec.name,
        target.padded[1],
        target.padded[0],
        target.precision,
        time.perf_counter() - start,
        done.get("entry"),
    )
    return True


def main(argv: list[str]) -> int:
    """The child: convert the job's graphs into the cache; print ``{"entry": ...}`` on success."""
    child.exit_with(int(argv[1]))
    job = json.loads(argv[0])
    from .. import loader
    from ..archs.common import Warp
    from .openvino_cpu import OpenVINOBackend

    model = loader.resolve(job["model"])
    if model.weights != job["weights"]:
        print("the checkpoint changed while it was being converted", file=sys.stderr)
        return 3
    (h, w), (ph, pw) = job["size"], job["padded"]
    target = Target(model.spec, CPU, job["precision"], h, w, (ph, pw), float(job["scale"]), bool(job["ensemble"]))
    net = loader.build(model.read())
    backend = OpenVINOBackend(net, target, Warp(ph, pw, "cpu"), threads=int(job["threads"]), weights=model.weights)
    print(json.dumps({"entry": str(backend.entry)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
