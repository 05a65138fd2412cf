"""The registry and the loader: detection from keys and shapes, names, release files, training-only
tensors, damaged checkpoints, and every family through the filter and the engine."""

from __future__ import annotations

import pickle
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsrife
from vsrife import loader, registry, store
from vsrife.backends import Target
from vsrife.engine import Engine
from vsrife.errors import ModelError, ModelMismatchError, UnknownModelError, UnsupportedModelError

from helpers import planes, random_clip, random_state, save_state

V4 = [s for s in registry.SPECS if s.arch == "v4"]
DISTINCT = [s for s in registry.SPECS if s.variant == s.name or s.arch != "v4"]


# ------------------------------------------------------------------------------------ registry


@pytest.mark.unit
@pytest.mark.parametrize("spec", DISTINCT, ids=lambda s: s.name)
def test_detection_round_trip(spec: registry.ModelSpec) -> None:
    with torch.device("meta"):
        sd = spec.build().state_dict()
    sd = loader.canonicalize({"module." + k: v for k, v in sd.items()})
    found = registry.detect(sd)
    assert found is spec  # the oldest of identical networks is reported
    for other in registry.SPECS:  # no other network claims it
        assert other.fits(sd) == (other.variant == spec.variant and other.arch == spec.arch), (spec.name, other.name)


@pytest.mark.unit
def test_registry_facts() -> None:
    assert len(V4) == 36 and len(DISTINCT) == 17 + 2
    assert registry.get_spec("4.25.lite").pad_multiple(1.0) == 128
    assert registry.get_spec("4.26").pad_multiple(0.5) == 128
    assert registry.get_spec("4.6").pad_multiple(1.0) == 32
    assert [registry.HDV3.pad_multiple(x) for x in (0.25, 0.5, 1.0, 2.0, 4.0)] == [128, 64, 32, 32, 32]
    assert registry.get_spec("v4.6") is registry.get_spec("4.6")
    assert registry.get_spec("hdv3") is registry.get_spec("HDv3") is registry.HDV3
    assert not registry.get_spec("4.22").ensemble and registry.get_spec("4.6").ensemble
    assert registry.get_spec("4.22").has_encoder and not registry.get_spec("4.6").has_encoder
    assert set(registry.get_spec("4.22").same_network) == {"4.21", "4.23"}
    assert not registry.get_spec("4.0").exportable and registry.get_spec("4.25").exportable
    assert registry.default_spec().name == registry.DEFAULT == "4.25"
    assert registry.from_filename("flownet_v4.22.lite.pkl") is registry.get_spec("4.22.lite")
    assert registry.from_filename("flownet_hdv3.pkl") is registry.HDV3
    assert registry.from_filename("model.pkl") is None
    with pytest.raises(UnknownModelError, match="known models"):
        registry.get_spec("9.9")


@pytest.mark.unit
def test_registry_and_store_import_without_torch() -> None:
    import subprocess
    import sys

    code = "import sys, vsrife.registry, vsrife.store, vsrife.errors; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


@pytest.mark.unit
def test_detecting_a_non_v4_checkpoint_builds_no_v4_networks(hdv3_random: dict) -> None:
    from vsrife.archs import v4

    v4._config_signature.cache_clear()
    assert registry.detect(hdv3_random) is registry.HDV3
    assert v4._config_signature.cache_info().currsize == 0  # ruled out by the first conv's shape alone


# ------------------------------------------------------------------------------------ loading


@pytest.mark.unit
def test_canonicalize_strips_module_and_unwraps() -> None:
    t = torch.zeros(1)
    assert loader.canonicalize({"module.a.b": t, "c": t}) == {"a.b": t, "c": t}
    assert loader.canonicalize({"state_dict": {"module.x": t}}) == {"x": t}
    assert loader.canonicalize({"x": t, "epoch": 3}) == {"x": t}
    with pytest.raises(UnsupportedModelError, match="keys must be parameter names"):
        loader.canonicalize({1: t})


@pytest.mark.unit
def test_training_only_tensors_are_set_aside(v46_random: dict, caplog: pytest.LogCaptureFixture) -> None:
    sd = dict(v46_random, **{"teacher.conv0.0.0.weight": torch.zeros(2), "caltime.0.weight": torch.zeros(1)})
    with caplog.at_level("DEBUG", logger="vsrife"):
        ckpt = loader.recognise(sd, "x.pkl")
    assert ckpt.spec.name == "4.6" and set(ckpt.network) == set(v46_random)
    assert set(ckpt.training) == {"teacher.conv0.0.0.weight", "caltime.0.weight"}
    assert "training-only" in caplog.text and "caltime, teacher" in caplog.text


@pytest.mark.unit
def test_an_unknown_extra_key_is_named(v46_random: dict) -> None:
    sd = dict(v46_random, **{"head.extra.weight": torch.zeros(2)})
    with pytest.raises(UnsupportedModelError, match=r"x.pkl: unexpected key 'head.extra.weight'"):
        loader.recognise(sd, "x.pkl")


@pytest.mark.unit
def test_missing_extra_and_reshaped_keys_are_named(v46_random: dict) -> None:
    spec = registry.get_spec("4.6")
    missing = {k: v for k, v in v46_random.items() if k != "block1.lastconv.0.bias"}
    with pytest.raises(
        ModelMismatchError,
        match=r"should hold model '4.6' but contains no known network \(1 missing: block1.lastconv.0.bias\)",
    ):
        loader.recognise(missing, "flownet_v4.6.pkl", spec)
    reshaped = dict(v46_random, **{"block0.conv0.0.0.bias": torch.zeros(7)})
    with pytest.raises(ModelMismatchError, match=r"1 wrong shape: block0.conv0.0.0.bias \(7,\) \(expected \(96,\)\)"):
        loader.recognise(reshaped, "flownet_v4.6.pkl", spec)
    with pytest.raises(
        UnsupportedModelError, match=r"matches no known RIFE model: closest is 4.6: 1 missing: block1.lastconv.0.bias"
    ):
        loader.recognise(missing, "weights.pkl")
    with pytest.raises(UnsupportedModelError, match="look like no RIFE network"):
        loader.recognise({"a.weight": torch.zeros(2)}, "weights.pkl")


@pytest.mark.unit
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(v46_random: dict, bad: float) -> None:
    sd = dict(v46_random)
    w = sd["block2.convblock.3.conv.weight"].clone()
    w.view(-1)[17] = bad
    sd["block2.convblock.3.conv.weight"] = w
    with pytest.raises(ModelError, match="block2.convblock.3.conv.weight holds NaN or infinite values"):
        loader.recognise(sd, "x.pkl")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.unit
def test_load_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    p = tmp_path / "evil.pkl"
    torch.save({"w": torch.zeros(1), "x": _Evil()}, p)
    with pytest.raises(ModelError, match="cannot read checkpoint") as e:
        loader.read(p)
    # one line, and never PyTorch's advice to load the file unsafely (or to file an issue with it)
    assert "\n" not in str(e.value) and "weights_only" not in str(e.value) and "file an issue" not in str(e.value)
    assert "PyTorch's safe loader refused it (" in str(e.value)
    p2 = tmp_path / "legacy.pkl"
    p2.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(ModelError):
        loader.read(p2)


@pytest.mark.unit
def test_load_safetensors_with_metadata(tmp_path: Path, v425_random: dict) -> None:
    from safetensors.torch import save_file

    p = tmp_path / "adapted.safetensors"
    save_file({k: v.contiguous() for k, v in v425_random.items()}, str(p), metadata={loader.META_BASE: "4.26"})
    ckpt = loader.load(p)
    assert ckpt.spec.name == "4.26"  # the metadata decides among identical networks
    assert all(torch.equal(ckpt.network[k], v425_random[k]) for k in v425_random)
    save_file({k: v.contiguous() for k, v in v425_random.items()}, str(p), metadata={loader.META_BASE: "4.6"})
    with pytest.raises(ModelMismatchError, match="should hold model '4.6' but contains a 4.25 checkpoint"):
        loader.load(p)


@pytest.mark.unit
def test_release_name_picks_the_named_equivalent(tmp_path: Path) -> None:
    sd = random_state(registry.get_spec("4.22"))
    assert loader.load(save_state(sd, tmp_path / "flownet_v4.22.pkl")).spec.name == "4.22"
    assert loader.load(save_state(sd, tmp_path / "weights.pkl")).spec.name == "4.21"  # unnamed: the oldest


@pytest.mark.graph
def test_name_and_file_mismatch_is_an_error(tmp_path: Path) -> None:
    path = save_state(random_state(registry.get_spec("4.6")), tmp_path / "flownet_v4.22.pkl")
    with pytest.raises(
        vs.Error, match=r"^RIFE: model: flownet_v4.22.pkl should hold model '4.22' but contains a 4.6 checkpoint"
    ):
        vsrife.RIFE(random_clip(2, 32, 32), model=str(path))


@pytest.mark.graph
def test_files_dropped_in_the_model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    save_state(random_state(registry.get_spec("4.6")), tmp_path / "flownet_v4.6.pkl")
    assert store.verify(registry.get_spec("4.6")).installed
    src = random_clip(2, 32, 32)
    assert np.isfinite(planes(vsrife.RIFE(src, model="4.6").get_frame(1))).all()
    with pytest.raises(vs.Error, match="^RIFE: model: model '4.22' is not installed .*vsrife models fetch 4.22"):
        vsrife.RIFE(src, model="4.22")
    with pytest.raises(vs.Error, match="^RIFE: model: model '4.25' is not installed .*vsrife models fetch 4.25"):
        vsrife.RIFE(src)  # the default is fixed (4.25), whatever else is installed


@pytest.mark.graph
def test_model_accepts_state_dict_and_path(v46_random: dict, v46_file: str) -> None:
    src = random_clip(2, 32, 32, seed=6)
    a = planes(vsrife.RIFE(src, model=v46_file).get_frame(1))
    b = planes(vsrife.RIFE(src, model=v46_random).get_frame(1))
    c = planes(vsrife.RIFE(src, model=Path(v46_file)).get_frame(1))
    d = planes(vsrife.RIFE(src, model={k: v.numpy() for k, v in v46_random.items()}).get_frame(1))  # safetensors.numpy
    assert np.array_equal(a, b) and np.array_equal(a, c) and np.array_equal(a, d)
    for dtype in (np.int32, np.bool_):  # loaded, and gave nonsense or NaN frames (found by hostile testing)
        with pytest.raises(vs.Error, match=rf"^RIFE: model: .* holds {np.dtype(dtype).name} values; network weights"):
            vsrife.RIFE(src, model={k: v.numpy().astype(dtype) for k, v in v46_random.items()})
    with pytest.raises(vs.Error, match=r"^RIFE: model: the state dict holds no tensors \('a': str\)"):
        vsrife.RIFE(src, model={"a": "b"})  # its keys were said to 'look like no RIFE network (first keys: )'


@pytest.mark.graph
def test_a_new_file_is_read_apart_only_where_pytorch_can_be_kept_out(
    v46_random: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the backend is torch anyway (by name, by $VSRIFE_BACKEND, on CUDA), a checkpoint file
    never seen is read in the process: a child would load PyTorch a second time (measured: a vspipe
    run on the torch backend took 3.5 s instead of 2.0 s)."""
    from vsrife.backends import CPU, Device, torch_certain

    class Apart(Exception):
        pass

    def apart(path: Path, digest: str) -> None:
        raise Apart(path)

    monkeypatch.setattr(loader, "_recognised_apart", apart)
    monkeypatch.setenv("VSRIFE_COMPILED_DIR", str(tmp_path / "compiled"))  # nothing recorded yet
    src = random_clip(2, 32, 32, seed=6)
    for n, (backend, env) in enumerate([("torch", "openvino"), (None, "torch"), ("openvino", "torch"), (None, "")]):
        monkeypatch.setenv("VSRIFE_BACKEND", env)
        bias = v46_random["block0.conv0.0.0.bias"] + n  # other weights: a file never seen
        path = save_state({**v46_random, "block0.conv0.0.0.bias": bias}, tmp_path / f"{n}.pkl")
        if n < 2:
            assert vsrife.RIFE(src, model=str(path), backend=backend).num_frames == 4
        else:  # the child would be asked (it would find PyTorch loaded here and decline)
            with pytest.raises(Apart):
                vsrife.RIFE(src, model=str(path), backend=backend)
    assert torch_certain(None, Device("cuda", 0)) and torch_certain("openvino", Device("cuda", 0))
    assert not torch_certain("openvino", CPU) and not torch_certain(None, CPU)


@pytest.mark.graph
def test_unusable_checkpoints(tmp_path: Path, hdv3_random: dict) -> None:
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(vs.Error, match="^RIFE: model: cannot read checkpoint"):
        vsrife.RIFE(random_clip(2, 16, 16), model=str(junk))
    with pytest.raises(vs.Error, match="^RIFE: model: the state dict matches no known RIFE model"):
        vsrife.RIFE(random_clip(2, 16, 16), model={"a.weight": torch.zeros(2)})
    broken = {k: v for k, v in hdv3_random.items() if k != "block1.conv1.0.bias"}
    with pytest.raises(vs.Error, match="^RIFE: model: .*closest is hdv3: 1 missing: block1.conv1.0.bias"):
        vsrife.RIFE(random_clip(2, 16, 16), model=broken)


# ------------------------------------------------------------------------------------ real files


@pytest.mark.network
def test_real_hdv3_loads(hdv3_path: str) -> None:
    ckpt = loader.load(hdv3_path)
    assert ckpt.spec is registry.HDV3 and ckpt.sha256 == registry.HDV3.sha256
    net = loader.build(ckpt)
    teacher = sum(v.numel() for v in ckpt.training.values())
    assert sum(p.numel() for p in net.parameters()) + teacher == 3_038_015
    assert set(ckpt.training) and all(k.startswith("block_tea.") for k in ckpt.training)


@pytest.mark.network
def test_real_425_release_file_loads(v425_path: str) -> None:
    """The published 4.25 checkpoint carries the distillation teacher and caltime tensors."""
    ckpt = loader.load("4.25")
    assert ckpt.spec.name == "4.25" and ckpt.sha256 == registry.get_spec("4.25").known_sha256[0]
    assert {k.split(".")[0] for k in ckpt.training} == {"teacher", "caltime"}
    net = loader.build(ckpt)
    assert sum(p.numel() for p in net.parameters()) == 5_664_776
    assert loader.load(v425_path).spec.name == "4.25"


# ------------------------------------------------------------------------------------ families through the filter


@pytest.mark.graph
@pytest.mark.parametrize("name", ["4.0", "4.6", "4.9", "4.17.lite", "4.22", "4.25", "4.25.lite"])
def test_filter_runs_every_family(name: str) -> None:
    src = random_clip(3, 37, 29, seed=2)  # odd size: padded to 32/64/128
    out = vsrife.RIFE(src, 3, model=random_state(registry.get_spec(name)), backend="torch")
    for k in range(out.num_frames):
        f = out.get_frame(k)
        data = planes(f)
        assert data.shape == (3, 29, 37) and np.isfinite(data).all()
        if k % 3 == 0:
            assert np.array_equal(data, planes(src.get_frame(k // 3)))
        elif k < 6:
            assert f.props["RifeTimestep"] == pytest.approx((k % 3) / 3)  # arbitrary timestep, no bisection


@pytest.mark.graph
def test_ensemble(v46_random: dict) -> None:
    src = random_clip(2, 32, 32, seed=3)
    a = planes(vsrife.RIFE(src, model=v46_random).get_frame(1))
    b = planes(vsrife.RIFE(src, model=v46_random, ensemble=True).get_frame(1))
    assert np.isfinite(b).all() and not np.array_equal(a, b)
    with pytest.raises(
        vs.Error, match="^RIFE: ensemble: model '4.21' does not support it; models that do: 4.0 to 4.20"
    ):
        vsrife.RIFE(src, model=random_state(registry.get_spec("4.22")), ensemble=True)


@pytest.mark.graph
def test_paper_model_through_the_filter() -> None:
    src = random_clip(2, 40, 24, seed=4)
    out = vsrife.RIFE(src, 4, model=random_state(registry.PAPER))
    assert [out.get_frame(k).props["RifeTimestep"] for k in range(4)] == [0.0, 0.25, 0.5, 0.75]  # bisection
    assert all(np.isfinite(planes(out.get_frame(k))).all() for k in range(8))


# ------------------------------------------------------------------------------------ the engine's caches


class FakeBackend:
    """Instant stand-in for a network: the engine's caching and bisection do not depend on what the
    network computes, only on which calls it makes (the networks themselves are tested for parity)."""

    name = "fake"

    def host_tensor(self, planes: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(planes))[None]

    def upload(self, host: torch.Tensor) -> torch.Tensor:
        return host

    def download(self, x: torch.Tensor, dtype: np.dtype) -> np.ndarray:
        return x[0].numpy().astype(dtype)

    def encode(self, img: torch.Tensor) -> torch.Tensor:
        return img.mean(1, keepdim=True)

    def interpolate(
        self, a: torch.Tensor, b: torch.Tensor, t: float, fa: torch.Tensor | None, fb: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mid = a * (1 - t) + b * t + (0 if fa is None or fb is None else (fa - fb))
        return mid, torch.zeros(1, 4)


def _engine(name: str, capacity: int) -> Engine:
    spec = registry.get_spec(name)
    target = Target(spec, torch.device("cpu"), "fp32", 32, 32, (32, 32), 1.0, False)
    return Engine(FakeBackend(), target, cache_entries=capacity)


def _frames(n: int) -> dict[int, list[np.ndarray]]:
    g = np.random.default_rng(0)
    return {i: list(g.random((3, 32, 32), dtype=np.float32)) for i in range(n)}


@pytest.mark.unit
def test_encoder_runs_once_per_source_frame() -> None:
    engine = _engine("4.22", capacity=64)
    frames = _frames(6)
    jobs = [(i, Fraction(j, 4)) for i in range(5) for j in (1, 2, 3)]
    random.Random(1).shuffle(jobs)
    for i, t in jobs:
        engine.interpolate(i, t, frames.__getitem__)
    assert engine.encoder_calls == 6  # each frame once, shared by both its pairs and all timesteps
    assert engine.network_calls == 15


@pytest.mark.unit
def test_feature_cache_correct_under_seeking() -> None:
    small = _engine("4.22", 4)
    frames = _frames(40)
    order = [0, 30, 1, 31, 2, 0, 35, 5, 0, 38, 12, 13, 0]
    for i in order:  # random access evicts and recomputes; results must not depend on history
        got = small.interpolate(i, Fraction(1, 2), frames.__getitem__)
        want = _engine("4.22", 16).interpolate(i, Fraction(1, 2), frames.__getitem__)
        assert torch.equal(got.frame, want.frame)
        assert len(small.cache) <= 4
    assert small.encoder_calls > len(set(order))  # evictions really happened


@pytest.mark.unit
def test_no_encoder_no_encoder_calls() -> None:
    engine = _engine("4.6", capacity=16)
    engine.interpolate(0, Fraction(1, 3), _frames(3).__getitem__)
    assert engine.encoder_calls == 0 and engine.network_calls == 1


@pytest.mark.unit
def test_bisection_calls_per_pair() -> None:
    engine = _engine("hdv3", 64)
    frames = _frames(2)
    for j in range(1, 8):
        engine.interpolate(0, Fraction(j, 8), frames.__getitem__)
    assert engine.network_calls == 7  # 2**3 - 1 midpoints, each computed once
    for j in range(1, 8):  # all served from the cache the second time
        engine.interpolate(0, Fraction(j, 8), frames.__getitem__)
    assert engine.network_calls == 7


@pytest.mark.unit
def test_cache_stays_bounded_over_long_clip() -> None:
    engine = _engine("hdv3", 10)
    frame = _frames(1)[0]
    for pair in range(60):
        for j in (1, 2, 3):
            engine.interpolate(pair, Fraction(j, 4), lambda i: frame)
        assert len(engine.cache) <= 10
    assert engine.network_calls == 180
