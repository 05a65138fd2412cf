"""Parity of our parameterised RIFE 4.x networks with vs-rife 5.7.0's per-version files.

Every variant: the reference IFNet with random (seeded, perturbed) weights is driven exactly as
vs-rife's ``rife()`` drives it (timestep map, ``tenFlow_div``, ``backwarp_tenGrid``, ``f0``/``f1`` from
the encoder); our network loads the same state dict with ``strict=True`` and must agree to 1e-5.
Detection from state-dict keys and shapes is checked against every variant as well.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable
from types import ModuleType

import pytest
import torch
from torch import Tensor, nn

from vsrife import registry
from vsrife.archs.common import Warp
from vsrife.archs.v4 import IFNetV4, _config_signature
from vsrife.archs.v4 import detect as detect_variant
from vsrife.archs.variants import V4_VARIANTS as VARIANTS
from vsrife.archs.variants import v4_equivalent as equivalent
from vsrife.loader import canonicalize as canonicalize_state_dict

try:
    from . import reference_v4
except ImportError:
    import reference_v4  # type: ignore[no-redef]

pytestmark = pytest.mark.network

TOL = 1e-5
TIMESTEPS = (0.25, 0.5, 0.7)
SCALES = (0.5, 1.0, 2.0)
NAMES = tuple(VARIANTS)
DISTINCT = tuple(n for n in NAMES if equivalent(n)[0] == n)
"""One name per distinct network: test_equivalence_groups_are_exact proves that the reference code of
the other names is the same network, so their parity follows."""


def canonical(name: str) -> str:
    return equivalent(name)[0]


def matches(name: str, sd: dict) -> bool:
    return registry.get_spec(name).fits(sd)


@functools.cache
def _reference_module(name: str) -> ModuleType:
    try:
        return reference_v4.load(name)
    except reference_v4.ReferenceUnavailable as e:  # a parity test that skips proves nothing
        pytest.fail(f"the reference wheel is needed for parity: {e}")


@functools.cache
def _reference_state(name: str) -> dict[str, Tensor]:
    """Random weights for ``name``'s reference network, with non-trivial PReLU slopes and betas."""
    mod = _reference_module(name)
    torch.manual_seed(zlib.crc32(name.encode()))
    net = mod.IFNet(1.0, False)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.0, 0.5)
        for key, p in net.named_parameters():
            if key.endswith("beta"):
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _reference_flownet(name: str, scale: float, ensemble: bool) -> nn.Module:
    """Built as vs-rife's ``init_module`` does: on the meta device, then the weights assigned."""
    mod = _reference_module(name)
    with torch.device("meta"):
        net = mod.IFNet(scale, ensemble)
    net.load_state_dict(_reference_state(name), strict=True, assign=True)
    return net.eval()


def _reference_encoder(name: str) -> Callable[[Tensor], Tensor] | None:
    """vs-rife's separate encoder: the module's ``Head`` class where it has one, else the same
    ``nn.Sequential`` the IFNet holds as ``encode``; None for variants without one."""
    mod = _reference_module(name)
    sd = _reference_state(name)
    enc_sd = {k.removeprefix("encode."): v for k, v in sd.items() if k.startswith("encode.")}
    if not enc_sd:
        return None
    if hasattr(mod, "Head"):
        with torch.device("meta"):
            enc = mod.Head()
        enc.load_state_dict(enc_sd, assign=True)
        return enc.eval()
    return _reference_flownet(name, 1.0, False).encode


@functools.cache
def _signature(name: str) -> dict[str, tuple[int, ...]]:
    return _config_signature(VARIANTS[name])


def _ours(name: str) -> IFNetV4:
    net = IFNetV4(VARIANTS[name])
    net.load_state_dict(_reference_state(name), strict=True)
    return net.eval()


def _size(name: str, scale: float) -> tuple[int, int]:
    """The smallest padded frame for this scale (as vs-rife pads), non-square."""
    pad = VARIANTS[name].pad
    m = max(pad, math.ceil(pad / scale))
    return m, 2 * m


def _frames(h: int, w: int, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    # slightly outside [0, 1]: exercises the clamps (the early encoders do not clamp, Head does)
    img0 = torch.rand((1, 3, h, w), generator=g) * 1.2 - 0.1
    img1 = torch.rand((1, 3, h, w), generator=g) * 1.2 - 0.1
    return img0, img1


def _reference_call(
    name: str, flownet: nn.Module, img0: Tensor, img1: Tensor, t: float
) -> tuple[Tensor, Tensor | None]:
    """The reference output exactly as vs-rife 5.7.0's ``inference`` computes it."""
    ph, pw = img0.shape[2:]
    tenFlow_div = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0], dtype=torch.float)
    tenHorizontal = torch.linspace(-1.0, 1.0, pw, dtype=torch.float).view(1, 1, 1, pw).expand(-1, -1, ph, -1)
    tenVertical = torch.linspace(-1.0, 1.0, ph, dtype=torch.float).view(1, 1, ph, 1).expand(-1, -1, -1, pw)
    backwarp_tenGrid = torch.cat([tenHorizontal, tenVertical], 1)
    timestep = torch.full([1, 1, ph, pw], t, dtype=img0.dtype)
    encode = _reference_encoder(name)
    if encode is not None:
        f0 = encode(img0)
        f1 = encode(img1)
        return flownet(img0, img1, timestep, tenFlow_div, backwarp_tenGrid, f0, f1), f0
    return flownet(img0, img1, timestep, tenFlow_div, backwarp_tenGrid), None


def max_diff(name: str) -> float:
    """Largest |ours - reference| over every timestep, scale and ensemble setting of ``name``."""
    cfg = VARIANTS[name]
    ours = _ours(name)
    worst = 0.0
    with torch.inference_mode():
        for scale in SCALES:
            h, w = _size(name, scale)
            img0, img1 = _frames(h, w, zlib.crc32(f"{name}/{scale}".encode()))
            warp = Warp(h, w)
            feat0, feat1 = ours.encode(img0), ours.encode(img1)
            for ensemble in (False, True):
                if ensemble and not cfg.ensemble_supported:
                    with pytest.raises(ValueError):
                        _reference_flownet(name, scale, ensemble)
                    with pytest.raises(ValueError):
                        ours(img0, img1, 0.5, warp, scale, feat0, feat1, ensemble=True)
                    continue
                flownet = _reference_flownet(name, scale, ensemble)
                for t in TIMESTEPS:
                    expected, ref_feat = _reference_call(name, flownet, img0, img1, t)
                    got = ours(img0, img1, t, warp, scale, feat0, feat1, ensemble=ensemble)
                    assert got.shape == expected.shape == img0.shape
                    assert torch.isfinite(expected).all()
                    worst = max(worst, (got - expected).abs().max().item())
                    if ref_feat is not None:
                        assert feat0 is not None
                        worst = max(worst, (feat0 - ref_feat).abs().max().item())
            # features computed inside forward() when not given
            got = ours(img0, img1, 0.5, warp, scale)
            expected = ours(img0, img1, 0.5, warp, scale, feat0, feat1)
            worst = max(worst, (got - expected).abs().max().item())
    return worst


@pytest.mark.parametrize("name", DISTINCT)
def test_parity(name: str) -> None:
    diff = max_diff(name)
    assert diff <= TOL, f"{name}: max |diff| {diff:.3g}"


@pytest.mark.parametrize("ensemble", [False, True])
def test_large_motion_retry(ensemble: bool) -> None:
    """4.0's restart at half resolution when block 1 sees very large motion in both directions."""
    name = "4.0"
    assert VARIANTS[name].large_flow_retry is not None
    sd = dict(_reference_state(name))
    bias = sd["block1.lastconv.bias"].clone()
    bias[:4] = 40.0  # a constant flow residual of 40 * 2 px, past the 32 px threshold
    sd["block1.lastconv.bias"] = bias
    with torch.device("meta"):
        ref = reference_v4.load(name).IFNet(1.0, ensemble)
    ref.load_state_dict(sd, strict=True, assign=True)
    ours = IFNetV4(VARIANTS[name])
    ours.load_state_dict(sd, strict=True)
    calls: list[int] = []
    ours.block0.register_forward_hook(lambda *_: calls.append(0))
    h, w = 64, 128  # the doubled downscale needs a multiple of 64
    img0, img1 = _frames(h, w, 7)
    with torch.inference_mode():
        expected, _ = _reference_call(name, ref.eval(), img0, img1, 0.3)
        got = ours.eval()(img0, img1, 0.3, Warp(h, w), 1.0, ensemble=ensemble)
    assert len(calls) == (3 if ensemble else 2), "the retry branch did not run"
    assert (got - expected).abs().max().item() <= TOL


@pytest.mark.parametrize("name", NAMES)
def test_detect(name: str) -> None:
    sd = _reference_state(name)
    assert detect_variant(sd) == canonical(name)
    assert matches(name, sd)
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert all((_signature(other) == shapes) == (other in equivalent(name)) for other in NAMES)
    assert name in equivalent(name) and canonical(name) in equivalent(name)
    prefixed = {f"module.{k}": v for k, v in sd.items()}
    assert detect_variant(canonicalize_state_dict(prefixed)) == canonical(name)
    # keys outside the network's namespaces (a training teacher, say) are ignored
    extra = dict(sd, **{"block_tea.conv0.0.0.weight": torch.zeros(1)})
    assert detect_variant(extra) == canonical(name)
    # a missing or reshaped parameter is no match for this variant (nor for any other)
    missing = dict(sd)
    missing.pop(next(k for k in sd if k.startswith("block0.convblock")))
    assert detect_variant(missing) is None
    # our network loads it strictly
    IFNetV4(VARIANTS[detect_variant(sd) or ""]).load_state_dict(sd, strict=True)


def test_equivalence_groups_are_exact() -> None:
    """Names share a config exactly when their reference networks have the same keys and shapes,
    so a state dict of one variant never detects as an architecture-different one."""
    ref_shapes = {n: {k: tuple(v.shape) for k, v in _reference_state(n).items()} for n in NAMES}
    for a in NAMES:
        assert _signature(a) == ref_shapes[a]
        for b in NAMES:
            same_cfg = VARIANTS[a] == VARIANTS[b]
            assert same_cfg == (ref_shapes[a] == ref_shapes[b]), (a, b)
            if same_cfg:
                # and the reference sources really are the same network (only messages may differ)
                src_a = _source(a).replace(f"v{a}", "v?")
                src_b = _source(b).replace(f"v{b}", "v?")
                assert src_a == src_b, (a, b)


def _source(name: str) -> str:
    mod = _reference_module(name)
    assert mod.__file__ is not None
    with open(mod.__file__, encoding="utf-8") as f:
        return f.read()


def test_not_v4() -> None:
    assert detect_variant({}) is None
    hdv3 = {"block0.conv0.0.0.weight": torch.zeros(45, 11, 3, 3), "block0.convblock0.0.0.weight": torch.zeros(1)}
    assert detect_variant(hdv3) is None


def test_filter_settings_match_vsrife() -> None:
    """Padding multiple, encoder presence and width, as vs-rife 5.7.0's ``rife()`` sets them."""
    settings = reference_v4.filter_settings()
    assert list(settings) == list(NAMES)
    for name, cfg in VARIANTS.items():
        assert cfg.pad == settings[name]["modulo"], name
        assert cfg.encode_channels == settings[name].get("encode_channel", 0), name
        assert (cfg.encoder is not None) == any(k.startswith("encode.") for k in _reference_state(name)), name
        assert cfg.ensemble_supported == ("not supported" not in _source(name)), name
