"""Every registered model through the registry, the store and the filter (random weights for 4.x)."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

import vsrife
from conftest import planes, random_clip, random_state
from conftest import save_state as save
from vsrife import registry, store
from vsrife.engine import Engine, EngineConfig
from vsrife.filter import build_network


V4 = [s for s in registry.SPECS if s.family == "v4"]


@pytest.mark.parametrize("spec", V4 + [registry.PAPER], ids=lambda s: s.name)
def test_detection_round_trip(spec: registry.ModelSpec) -> None:
    with torch.device("meta"):
        sd = spec.build().state_dict()
    sd = registry.canonicalize_state_dict({"module." + k: v for k, v in sd.items()})
    found = registry.detect(sd)
    assert found.name == spec.name or found.name in spec.same_network
    # no other architecture claims it
    for other in registry.SPECS:
        if other.name != spec.name and other.name not in spec.same_network:
            assert not other.detect(sd), (spec.name, other.name)


def test_registry_facts() -> None:
    assert len(V4) == 36
    assert registry.get_spec("4.25.lite").pad_multiple(1.0) == 128
    assert registry.get_spec("4.26").pad_multiple(0.5) == 128
    assert registry.get_spec("4.6").pad_multiple(1.0) == 32
    assert registry.get_spec("v4.6") is registry.get_spec("4.6")
    assert not registry.get_spec("4.22").ensemble and registry.get_spec("4.6").ensemble
    assert registry.get_spec("4.22").has_encoder and not registry.get_spec("4.6").has_encoder
    assert set(registry.get_spec("4.22").same_network) == {"4.21", "4.23"}
    assert [s.name for s in registry.by_preference()][:2] == ["4.26", "4.25"]
    assert registry.from_filename("flownet_v4.22.lite.pkl") is registry.get_spec("4.22.lite")
    assert registry.from_filename("flownet_hdv3.pkl") is registry.HDV3
    assert registry.from_filename("model.pkl") is None


@pytest.mark.parametrize("name", ["4.0", "4.6", "4.9", "4.17.lite", "4.22", "4.25", "4.25.lite"])
def test_filter_runs_every_family(name: str, tmp_path: Path) -> None:
    spec = registry.get_spec(name)
    path = save(random_state(spec), tmp_path / spec.filename)
    src = random_clip(3, 37, 29, seed=2)  # odd size: padded to 32/64/128
    out = vsrife.RIFE(src, 3, model=str(path))
    for k in range(out.num_frames):
        f = out.get_frame(k)
        data = planes(f)
        assert data.shape == (3, 29, 37) and np.isfinite(data).all()
        if k % 3 == 0:
            assert np.array_equal(data, planes(src.get_frame(k // 3)))
        elif k < 6:
            assert f.props["RifeTimestep"] == pytest.approx((k % 3) / 3)  # arbitrary timestep, no bisection


def test_release_name_picks_the_named_equivalent(tmp_path: Path) -> None:
    spec = registry.get_spec("4.22")
    path = save(random_state(spec), tmp_path / "flownet_v4.22.pkl")
    from vsrife.filter import resolve_model

    assert resolve_model(str(path))[0].name == "4.22"
    other = save(random_state(spec), tmp_path / "weights.pkl")
    assert resolve_model(str(other))[0].name == "4.21"  # unnamed: the first of the identical networks


def test_name_and_file_mismatch_is_an_error(tmp_path: Path) -> None:
    path = save(random_state(registry.get_spec("4.6")), tmp_path / "flownet_v4.22.pkl")
    with pytest.raises(vs.Error, match=r"RIFE: flownet_v4.22.pkl should hold model '4.22' but contains a 4.6 checkpoint"):
        vsrife.RIFE(random_clip(2, 32, 32), model=str(path))


def test_files_dropped_in_the_model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    save(random_state(registry.get_spec("4.6")), tmp_path / "flownet_v4.6.pkl")
    assert store.verify(registry.get_spec("4.6")).installed
    src = random_clip(2, 32, 32)
    a = planes(vsrife.RIFE(src, model="4.6").get_frame(1))
    b = planes(vsrife.RIFE(src).get_frame(1))  # the only installed model is the default
    assert np.array_equal(a, b)
    with pytest.raises(vs.Error, match="vsrife models fetch 4.22"):
        vsrife.RIFE(src, model="4.22")


def test_ensemble(tmp_path: Path) -> None:
    path = save(random_state(registry.get_spec("4.6")), tmp_path / "flownet_v4.6.pkl")
    src = random_clip(2, 32, 32, seed=3)
    a = planes(vsrife.RIFE(src, model=str(path)).get_frame(1))
    b = planes(vsrife.RIFE(src, model=str(path), ensemble=True).get_frame(1))
    assert np.isfinite(b).all() and not np.array_equal(a, b)
    path22 = save(random_state(registry.get_spec("4.22")), tmp_path / "flownet_v4.22.pkl")
    with pytest.raises(vs.Error, match="RIFE: model '4.22' does not support ensemble; models that do: 4.0, 4.1"):
        vsrife.RIFE(src, model=str(path22), ensemble=True)


def _engine(name: str, capacity: int) -> Engine:
    spec = registry.get_spec(name)
    cfg = EngineConfig(spec, torch.device("cpu"), torch.float32, 32, 32, 1.0, 2)
    return Engine(cfg, build_network(spec, random_state(spec)), capacity)


def test_encoder_runs_once_per_source_frame() -> None:
    engine = _engine("4.22", capacity=64)
    frames = {i: torch.rand(1, 3, 32, 32) for i in range(6)}
    jobs = [(i, Fraction(j, 4)) for i in range(5) for j in (1, 2, 3)]
    random.Random(1).shuffle(jobs)
    for i, t in jobs:
        engine.interpolate(i, t, frames.__getitem__)
    assert engine.encoder_calls == 6  # each frame once, shared by both its pairs and all timesteps
    assert engine.network_calls == 15


def test_feature_cache_correct_under_seeking() -> None:
    small, fresh = _engine("4.22", capacity=4), _engine("4.22", capacity=4)
    fresh.net.load_state_dict(small.net.state_dict())
    frames = {i: torch.rand(1, 3, 32, 32) for i in range(40)}
    order = [0, 30, 1, 31, 2, 0, 35, 5, 0, 38, 12, 13, 0]
    for i in order:  # random access evicts and recomputes; results must not depend on history
        got = small.interpolate(i, Fraction(1, 2), frames.__getitem__)
        want = fresh.net(frames[i], frames[i + 1], 0.5, fresh.warp, 1.0)
        assert torch.equal(got, want)
        assert len(small.cache) <= 4
    assert small.encoder_calls > len(set(order))  # evictions really happened


def test_no_encoder_no_encoder_calls() -> None:
    engine = _engine("4.6", capacity=16)
    frames = {i: torch.rand(1, 3, 32, 32) for i in range(3)}
    engine.interpolate(0, Fraction(1, 3), frames.__getitem__)
    assert engine.encoder_calls == 0 and engine.network_calls == 1


def test_paper_model_through_the_filter(tmp_path: Path) -> None:
    path = save(random_state(registry.PAPER), tmp_path / "flownet_paper.pkl", prefix="")
    src = random_clip(2, 40, 24, seed=4)
    out = vsrife.RIFE(src, 4, model=str(path))
    assert [out.get_frame(k).props["RifeTimestep"] for k in range(4)] == [0.0, 0.25, 0.5, 0.75]  # bisection
    assert all(np.isfinite(planes(out.get_frame(k))).all() for k in range(8))
