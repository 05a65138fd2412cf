"""The PyTorch eager backend: every device; the default on CUDA and for models that do not export.

Precision: ``fp32``; ``fp16`` (CUDA: weights and activations in half, the warp in fp32, as vs-rife
runs the 4.x models); ``bf16`` (autocast: convolutions in bfloat16, everything else, the warp and
the flow arithmetic included, in fp32). Convolutions run channels-last (oneDNN on the CPU and
cuDNN's tensor cores are faster in NHWC).

On CUDA every call runs on the backend's own stream, in the engine's worker thread: host frames are
staged in pinned buffers from a small pool and copied without blocking; the padded device tensors
come from PyTorch's caching allocator (no device allocation per frame); cuDNN autotunes once for
the fixed frame size (``cudnn.benchmark``) among its deterministic algorithms only
(``cudnn.deterministic``: the same frames whatever the threads and the order). Both are
process-wide PyTorch settings. fp32 convolutions use TensorFloat-32 as PyTorch does by default
(measured on an H200: +0.0025 / +0.0006 dB for 4.25 / HDv3 against the CPU in fp32).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..archs.common import Warp
from . import Target
from .graph import Interpolator

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.float32}


class PinnedPool:
    """Reusable page-locked host buffers of one shape. A buffer goes back to the pool with the CUDA
    event of the copy that reads it, and is handed out again only once that copy has finished."""

    def __init__(
        self, shape: tuple[int, ...], dtype: torch.dtype, alloc: Callable[[], Tensor] | None = None, limit: int = 8
    ) -> None:
        self._alloc = alloc or (lambda: torch.empty(shape, dtype=dtype, pin_memory=True))
        self._free: list[tuple[Tensor, Any]] = []
        self._lock = threading.Lock()
        self.limit = limit
        self.allocated = 0

    def acquire(self) -> Tensor:
        with self._lock:
            if self._free:
                buf, event = self._free.pop()
            else:
                buf, event = self._alloc(), None
                self.allocated += 1
        if event is not None:
            event.synchronize()
        return buf

    def release(self, buf: Tensor, event: Any = None) -> None:
        with self._lock:
            if len(self._free) < self.limit:
                self._free.append((buf, event))


def pad_replicate(x: Tensor, height: int, width: int) -> Tensor:
    """Pad bottom/right to ``height`` x ``width`` by repeating edge pixels.

    Black padding would be seen by the flow network as a hard edge moving with the frame border;
    repeating the edge keeps the flow near the border undisturbed (askerlee/rift #4)."""
    ph, pw = height - x.shape[-2], width - x.shape[-1]
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


class TorchBackend:
    name = "torch"

    def __init__(self, net: nn.Module, target: Target, warp: Warp) -> None:
        self.target = target
        self.dtype = _DTYPES[target.precision]
        self.autocast = target.precision == "bf16"
        self.device = dev = torch.device(str(target.device))  # a vsrife Device or a torch.device
        net = net.to(device=dev, dtype=self.dtype).to(memory_format=torch.channels_last).eval().requires_grad_(False)
        on = warp.grid.device
        if on.type != dev.type or dev.index not in (None, on.index):  # a warp built for another device
            warp = Warp(warp.height, warp.width, dev)
        self.graph = Interpolator(net, target, warp)
        self.stream = torch.cuda.Stream(dev) if dev.type == "cuda" else None
        self._pinned: dict[np.dtype, PinnedPool] = {}
        self._pool_lock = threading.Lock()
        if self.stream is not None:
            # One frame size per engine: autotune once. Only deterministic algorithms: on an H200 the
            # same frames rendered on 1 thread and on 4 differed in their bits with the autotuner
            # free to pick any (cuDNN's fastest transposed convolutions add with atomics).
            torch.backends.cudnn.benchmark = True
            torch.backends.cudnn.deterministic = True

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if self.stream is not None:
                stack.enter_context(torch.cuda.stream(self.stream))
            if self.autocast:
                stack.enter_context(torch.autocast(self.device.type, dtype=torch.bfloat16))
            yield

    def _pool(self, dtype: np.dtype) -> PinnedPool:
        with self._pool_lock:
            if dtype not in self._pinned:
                shape = (1, 3, self.target.height, self.target.width)
                self._pinned[dtype] = PinnedPool(shape, torch.from_numpy(np.empty(0, dtype)).dtype)
            return self._pinned[dtype]

    def host_tensor(self, planes: Sequence[np.ndarray]) -> Tensor:
        """Three H x W planes as a host tensor ready for :meth:`upload` (called in any thread).

        CPU: the padded, channels-last compute tensor itself. CUDA: the planes copied into a pinned
        staging buffer, so that the upload does not block."""
        if self.stream is None:
            x = torch.from_numpy(np.stack(planes)).unsqueeze(0).to(self.dtype)
            ph, pw = self.target.padded
            return pad_replicate(x, ph, pw).contiguous(memory_format=torch.channels_last)
        buf = self._pool(planes[0].dtype).acquire()
        for c, plane in enumerate(planes):
            np.copyto(buf[0, c].numpy(), plane)
        return buf

    def upload(self, host: Tensor) -> Tensor:
        """The device tensor of a :meth:`host_tensor` (called in the worker thread)."""
        if self.stream is None:
            return host
        with self._context():
            x = host.to(self.device, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.stream)
            self._pool(np.dtype(str(host.dtype).removeprefix("torch."))).release(host, done)
            ph, pw = self.target.padded
            return pad_replicate(x.to(self.dtype), ph, pw).contiguous(memory_format=torch.channels_last)

    def download(self, x: Tensor, dtype: np.dtype) -> np.ndarray:
        """The valid region of a device tensor as a 3 x H x W host array of ``dtype``."""
        tg = self.target
        with self._context():
            host = x[0, :, : tg.height, : tg.width].float().cpu()
            if self.stream is not None:
                self.stream.synchronize()
        return host.numpy().astype(dtype, copy=False)

    def encode(self, img: Tensor) -> Tensor:
        with self._context():
            feat = self.graph.network.encode(img)
            assert feat is not None
            return feat

    def interpolate(
        self, img0: Tensor, img1: Tensor, t: float, feat0: Tensor | None, feat1: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        with self._context():
            timestep = torch.full((1, 1, 1, 1), t, device=self.device, dtype=self.dtype)
            frame, ev = self.graph(img0, img1, timestep, feat0, feat1)
            return frame, ev.float().cpu()
