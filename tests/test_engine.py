"""Pure helpers of the engine: padding, bisection, the compute cache."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import pytest
import torch

from vsrife.archs.common import Warp
from vsrife.engine import ComputeCache, default_bisect_depth, dyadic_path, nearest_dyadic, pad_replicate, padded_size


@pytest.mark.parametrize(("h", "w", "m", "want"), [(1, 1, 32, (32, 32)), (720, 1280, 32, (736, 1280)), (64, 64, 64, (64, 64)), (65, 63, 64, (128, 64))])
def test_padded_size(h: int, w: int, m: int, want: tuple[int, int]) -> None:
    assert padded_size(h, w, m) == want


def test_pad_replicate_repeats_edges() -> None:
    x = torch.arange(12, dtype=torch.float32).view(1, 1, 3, 4)
    y = pad_replicate(x, 5, 7)
    assert y.shape == (1, 1, 5, 7)
    assert torch.equal(y[..., :3, :4], x)
    assert torch.equal(y[..., 3:, :4], x[..., 2:3, :].expand(1, 1, 2, 4))  # bottom rows = last row
    assert torch.equal(y[..., :3, 4:], x[..., :, 3:4].expand(1, 1, 3, 3))  # right columns = last column
    assert torch.all(y[..., 3:, 4:] == x[0, 0, 2, 3])


def test_pad_replicate_one_pixel() -> None:
    y = pad_replicate(torch.full((1, 3, 1, 1), 0.25), 32, 32)
    assert y.shape == (1, 3, 32, 32) and torch.all(y == 0.25)


def test_dyadic_path() -> None:
    assert dyadic_path(Fraction(1, 2)) == [Fraction(1, 2)]
    assert dyadic_path(Fraction(3, 8)) == [Fraction(1, 2), Fraction(1, 4), Fraction(3, 8)]
    assert dyadic_path(Fraction(3, 4)) == [Fraction(1, 2), Fraction(3, 4)]
    with pytest.raises(ValueError):
        dyadic_path(Fraction(1, 3))
    with pytest.raises(ValueError):
        dyadic_path(Fraction(1))


@pytest.mark.parametrize("multi", range(2, 17))
def test_bisect_depth_reaches_every_timestep_closely(multi: int) -> None:
    depth = default_bisect_depth(multi)
    for j in range(1, multi):
        t = Fraction(j, multi)
        got = nearest_dyadic(t, depth)
        assert 0 < got < 1
        if multi & (multi - 1) == 0:
            assert got == t
        else:
            assert abs(got - t) <= Fraction(1, 4 * multi)
    # distinct timesteps stay in order (no two output frames swap places in time)
    got = [nearest_dyadic(Fraction(j, multi), depth) for j in range(1, multi)]
    assert got == sorted(got)


def test_warp_zero_flow_is_identity() -> None:
    x = torch.rand(1, 3, 16, 24)
    assert torch.allclose(Warp(16, 24)(x, torch.zeros(1, 2, 16, 24)), x, atol=1e-5)  # linspace rounding


def test_warp_integer_flow_shifts() -> None:
    x = torch.rand(1, 1, 8, 8)
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 1.0  # sample one pixel to the right
    y = Warp(8, 8)(x, flow)
    assert torch.allclose(y[..., :, :7], x[..., :, 1:], atol=1e-5)


def test_warp_keeps_dtype_and_computes_in_fp32() -> None:
    x = torch.rand(1, 3, 8, 8).to(torch.bfloat16)
    y = Warp(8, 8)(x, torch.zeros(1, 2, 8, 8, dtype=torch.bfloat16))
    assert y.dtype == torch.bfloat16 and torch.equal(y, x)


class TestComputeCache:
    def test_concurrent_requests_compute_once(self) -> None:
        cache = ComputeCache(8)
        calls = []

        def slow() -> int:
            calls.append(1)
            time.sleep(0.05)
            return 42

        results = []
        threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert results == [42] * 8 and len(calls) == 1 and cache.computed == 1

    def test_bounded(self) -> None:
        cache = ComputeCache(4)
        for k in range(100):
            cache.get(k, lambda k=k: k * 2)
        assert len(cache) == 4
        assert cache.get(99, lambda: -1) == 198  # most recent kept
        assert cache.get(0, lambda: -1) == -1  # oldest evicted and recomputed

    def test_failure_is_not_cached(self) -> None:
        cache = ComputeCache(4)

        def boom() -> int:
            raise RuntimeError("x")

        with pytest.raises(RuntimeError):
            cache.get("k", boom)
        assert cache.get("k", lambda: 7) == 7
