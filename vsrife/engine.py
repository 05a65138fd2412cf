"""The inference engine: one network on one device for one frame size.

Everything that does not change from frame to frame (weights, precision, the padded size, the
sampling grid) is set up once here. Per frame the engine only turns planes into a padded tensor,
runs the network and crops back. Intermediate results are cached in a small, bounded,
thread-safe cache so that several threads asking for frames of the same pair compute each
tensor once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .archs.common import Warp
from .registry import ModelSpec

T = TypeVar("T")


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_replicate(x: Tensor, height: int, width: int) -> Tensor:
    """Pad bottom/right to ``height`` x ``width`` by repeating edge pixels.

    Black padding would be seen by the flow network as a hard edge moving with the frame border;
    repeating the edge keeps the flow near the border undisturbed (askerlee/rift #4).
    """
    ph, pw = height - x.shape[-2], width - x.shape[-1]
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def dyadic_path(t: Fraction) -> list[Fraction]:
    """Midpoints visited by bisection from [0, 1] down to the dyadic timestep ``t`` (t itself last)."""
    if t.denominator & (t.denominator - 1) or not 0 < t < 1:
        raise ValueError(f"{t} is not a dyadic timestep inside (0, 1)")
    lo, hi, path = Fraction(0), Fraction(1), []
    while True:
        mid = (lo + hi) / 2
        path.append(mid)
        if mid == t:
            return path
        lo, hi = (lo, mid) if t < mid else (mid, hi)


def nearest_dyadic(t: Fraction, depth: int) -> Fraction:
    """The timestep with denominator 2**depth nearest to ``t`` (ties go to the earlier one), kept
    strictly inside (0, 1)."""
    den = 1 << depth
    num = min(max(round(t * den), 1), den - 1)
    return Fraction(num, den)


class ComputeCache:
    """A bounded LRU of computed values where concurrent requests for one key compute it once.

    Entries being computed are never evicted; finished ones are dropped oldest-first past
    ``capacity``. A value that fails to compute is not kept, so a later request retries.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Future] = OrderedDict()
        self.computed = 0  # how many values were computed (not served from cache); for tests

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            fut = self._items.get(key)
            owner = fut is None
            if owner:
                fut = Future()
                self._items[key] = fut
            else:
                self._items.move_to_end(key)
        if not owner:
            return fut.result()
        try:
            value = compute()
        except BaseException as e:
            with self._lock:
                self._items.pop(key, None)
            fut.set_exception(e)
            raise
        fut.set_result(value)
        with self._lock:
            self.computed += 1
            self._evict()
        return value

    def _evict(self) -> None:
        done = [k for k, f in self._items.items() if f.done()]
        excess = len(self._items) - self.capacity
        for k in done[: max(0, excess)]:
            del self._items[k]

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class EngineConfig:
    spec: ModelSpec
    device: torch.device
    dtype: torch.dtype  # compute precision of the convolutions; warping always runs in fp32
    height: int
    width: int
    scale: float = 1.0
    bisect_depth: int = 1
    ensemble: bool = False


class Engine:
    def __init__(self, cfg: EngineConfig, net: nn.Module, cache_capacity: int = 16) -> None:
        self.cfg = cfg
        # channels-last: oneDNN (CPU) and cuDNN (tensor cores) run these convolutions faster in NHWC
        # (HDv3 at 640x352 on the CPU: 0.37 s -> 0.27 s per frame).
        self.net = net.to(device=cfg.device, dtype=cfg.dtype, memory_format=torch.channels_last).eval().requires_grad_(False)
        self.ph, self.pw = padded_size(cfg.height, cfg.width, cfg.spec.pad_multiple(cfg.scale))
        self.warp = Warp(self.ph, self.pw, cfg.device)
        self.cache = ComputeCache(cache_capacity)
        self._run_lock = threading.Lock()
        self.network_calls = 0
        self.encoder_calls = 0

    # ---------------------------------------------------------------- planes <-> tensors
    def to_tensor(self, planes: Sequence[np.ndarray]) -> Tensor:
        """Planes (3 arrays H x W, any float dtype) -> padded 1 x 3 x Hp x Wp tensor on the device."""
        x = torch.from_numpy(np.stack(planes)).unsqueeze(0)
        x = x.to(self.cfg.device, non_blocking=True).to(self.cfg.dtype)
        return pad_replicate(x, self.ph, self.pw).contiguous(memory_format=torch.channels_last)

    def to_planes(self, x: Tensor, dtype: np.dtype) -> np.ndarray:
        """Padded tensor -> 3 x H x W array of ``dtype`` on the host, cropped to the frame size."""
        x = x[0, :, : self.cfg.height, : self.cfg.width]
        return x.to(torch.float32).cpu().numpy().astype(dtype, copy=False)

    # ---------------------------------------------------------------- inference
    @torch.inference_mode()
    def run(self, a: Tensor, b: Tensor, t: float, feat_a: Tensor | None = None, feat_b: Tensor | None = None) -> Tensor:
        kwargs = {}
        if feat_a is not None:
            kwargs.update(feat0=feat_a, feat1=feat_b)
        if self.cfg.ensemble:
            kwargs["ensemble"] = True
        with self._run_lock:
            self.network_calls += 1
            return self.net(a, b, t, self.warp, self.cfg.scale, **kwargs)

    @torch.inference_mode()
    def encode(self, x: Tensor) -> Tensor:
        with self._run_lock:
            self.encoder_calls += 1
            return self.net.encode(x)

    def timestep_used(self, t: Fraction) -> Fraction:
        """The timestep actually produced for a requested ``t``: ``t`` itself for models that take a
        timestep, the nearest one bisection reaches for midpoint-only models."""
        return t if self.cfg.spec.arbitrary_timestep else nearest_dyadic(t, self.cfg.bisect_depth)

    def interpolate(self, pair: int, t: Fraction, load: Callable[[int], Tensor]) -> Tensor:
        """The frame at time ``pair + t``. ``load(i)`` gives source frame i as a padded tensor.

        A model with arbitrary timesteps is asked for ``t`` directly. A midpoint-only model (HDv3)
        is bisected: t = 1/4 is the midpoint of (frame i, the midpoint of i and i+1); every
        intermediate result is cached and shared by all timesteps of the pair, so multi = 2**d
        costs 2**d - 1 network calls per pair, the same as a timestep model.
        """
        def src(i: int) -> Tensor:
            return self.cache.get(("src", i), lambda: load(i))

        def feat(i: int) -> Tensor | None:
            # A source frame's features serve both pairs it belongs to and every timestep.
            return self.cache.get(("feat", i), lambda: self.encode(src(i))) if self.cfg.spec.has_encoder else None

        target = self.timestep_used(t)
        if self.cfg.spec.arbitrary_timestep:
            return self.cache.get(
                ("mid", pair, target),
                lambda: self.run(src(pair), src(pair + 1), float(target), feat(pair), feat(pair + 1)),
            )
        lo: Tensor | None = None  # None: the pair's own source frame
        hi: Tensor | None = None
        out = None
        for mid in dyadic_path(target):
            def compute(lo: Tensor | None = lo, hi: Tensor | None = hi) -> Tensor:
                return self.run(src(pair) if lo is None else lo, src(pair + 1) if hi is None else hi, 0.5)

            out = self.cache.get(("mid", pair, mid), compute)
            if target < mid:
                hi = out
            else:
                lo = out
        assert out is not None
        return out


def default_bisect_depth(multi: int) -> int:
    """Depth that reaches every k/multi exactly for powers of two, and within 1/(4*multi) otherwise."""
    depth = max(1, (multi - 1).bit_length())
    return depth if multi == 1 << depth else depth + 1
