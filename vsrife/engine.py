"""The inference engine: one network, one backend, one frame size, one inference thread.

Everything that does not change from frame to frame (weights, precision, the padded size, the
sampling grid, a compiled graph) is set up once. Per frame the engine turns planes into a padded
tensor (in the calling VapourSynth thread; on a GPU the filter also starts the next pair's features
and network call ahead, :meth:`Engine.begin`),
hands the network call to the device's inference worker (one long-lived thread per device: backends
are only ever called from it, which measured faster than calls from changing threads and serialises
the device), and crops back.

Intermediate results live in a bounded, thread-safe cache (by entry count and by bytes; 4K frames
are large): several threads asking for frames of the same pair compute each tensor once, each
source frame's features are computed once for both pairs it belongs to, and midpoint-only models
share every bisection step among the timesteps of a pair.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np

from .backends import Array, Backend, DeviceLike, Target

log = logging.getLogger("vsrife")

T = TypeVar("T")


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


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


def nbytes(value: object) -> int:
    """Memory held by a cached value (arrays, tensors, and tuples or dataclasses of them)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, tuple):
        return sum(nbytes(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a Result
        return sum(nbytes(getattr(value, f.name)) for f in dataclasses.fields(value))
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # a torch.Tensor
        return int(value.element_size() * value.nelement())
    return 0


class ComputeCache:
    """A bounded LRU of computed values where concurrent requests for one key compute it once.

    Entries being computed are never evicted; finished ones are dropped oldest-first while there are
    more than ``capacity`` of them or they hold more than ``max_bytes``. A value that fails to
    compute is not kept, so a later request retries.
    """

    def __init__(self, capacity: int, max_bytes: int | None = None) -> None:
        self.capacity = max(1, capacity)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, Future] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self.bytes = 0
        self.computed = 0  # how many values were computed (not served from cache); for tests

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        fut, owner = self._claim(key)
        if not owner:
            return fut.result()
        try:
            value = compute()
        except BaseException as e:
            self._fail(key, fut, e)
            raise
        self._finish(key, fut, value)
        return value

    def start(self, key: Hashable, produce: Callable[[], Future]) -> Future:
        """The entry for ``key`` without waiting for it: where there is none, ``produce()`` starts
        computing it elsewhere (the inference thread) and returns the future of its value, which
        becomes the entry's. :meth:`get` of the key waits for it like for any entry being computed.
        """
        fut, owner = self._claim(key)
        if owner:
            try:
                inner = produce()
            except BaseException as e:
                self._fail(key, fut, e)
                raise
            inner.add_done_callback(lambda done: self._settle(key, fut, done))
        return fut

    def _claim(self, key: Hashable) -> tuple[Future, bool]:
        """The entry's future, and whether the caller must compute it (the entry is new)."""
        with self._lock:
            fut = self._items.get(key)
            if fut is not None:
                self._items.move_to_end(key)
                return fut, False
            fut = Future()
            self._items[key] = fut
            return fut, True

    def _settle(self, key: Hashable, fut: Future, done: Future) -> None:
        if (e := _error(done)) is not None:
            self._fail(key, fut, e)
        else:
            self._finish(key, fut, done.result())

    def _fail(self, key: Hashable, fut: Future, e: BaseException) -> None:
        """A value that failed to compute is not kept: a later request computes it again."""
        with self._lock:
            if self._items.get(key) is fut:
                del self._items[key]
        fut.set_exception(e)  # outside the lock: the future's callbacks may use the cache

    def _finish(self, key: Hashable, fut: Future, value: object) -> None:
        fut.set_result(value)
        with self._lock:
            self.computed += 1
            if self._items.get(key) is fut:
                size = nbytes(value)
                self._sizes[key] = size
                self.bytes += size
            self._evict()

    def discard(self, keep: Callable[[Hashable], bool]) -> int:
        """Drop every finished entry whose key ``keep`` rejects (entries being computed stay); how
        many were dropped."""
        with self._lock:
            gone = [k for k, f in self._items.items() if f.done() and not keep(k)]
            for k in gone:
                del self._items[k]
                self.bytes -= self._sizes.pop(k, 0)
        return len(gone)

    def _evict(self) -> None:
        for k in [k for k, f in self._items.items() if f.done()]:
            over_count = len(self._items) > self.capacity
            over_bytes = self.max_bytes is not None and self.bytes > self.max_bytes
            if not (over_count or over_bytes):
                break
            del self._items[k]
            self.bytes -= self._sizes.pop(k, 0)

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------------------------- the worker


class HeapTrimmer:
    """Hands freed heap memory back to the system at most every ``interval`` seconds.

    VapourSynth frames, numpy arrays and tensors of many sizes are allocated and freed on several
    threads; glibc keeps what they free in its arenas, so a long run's resident memory climbed from
    1.3 GB to 3 GB at 320x240 (20,000 frames) while the live data stayed the same. ``malloc_trim(0)``
    returns those pages: measured 5 ms a call every 100 frames, and the run stays flat. Where the C
    library has no ``malloc_trim`` (musl, macOS, Windows), or ``VSRIFE_HEAP_TRIM=0``, it does nothing."""

    def __init__(self, interval: float = 2.0, trim: Callable[[], object] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.interval = interval
        self.clock = clock
        self.trim = trim if trim is not None else _malloc_trim()
        self.last = clock()

    def maybe(self) -> bool:
        """Trim if the interval has passed since the last trim; whether it did."""
        if self.trim is None or self.clock() - self.last < self.interval:
            return False
        self.trim()
        self.last = self.clock()
        return True


def _malloc_trim() -> Callable[[], object] | None:
    if os.environ.get("VSRIFE_HEAP_TRIM", "1") == "0" or not sys.platform.startswith("linux"):
        return None
    try:  # the symbols already loaded into the process (glibc's among them): no library search, no subprocess
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    return lambda: fn(0)


class StoppedError(RuntimeError):
    """A call made after the inference thread was told to stop (the interpreter is exiting)."""


class _Jobs:
    """The inference thread's queue, closed for good by the first :meth:`close`: the thread serves
    what was submitted before, and a call after it fails at once instead of waiting for a thread
    that is gone (at interpreter exit, frames VapourSynth still had in flight asked for more work
    and their threads, and with them the exit, waited forever)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False

    def put(self, job: tuple[Callable[..., Any], tuple[Any, ...], Future]) -> None:
        with self._lock:
            if self._closed:
                raise StoppedError("RIFE: the inference thread has stopped (the interpreter is exiting)")
            self._queue.put(job)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)

    def get(self) -> tuple[Callable[..., Any], tuple[Any, ...], Future] | None:
        return self._queue.get()


def _serve(jobs: _Jobs) -> None:
    trimmer = HeapTrimmer()
    while (job := jobs.get()) is not None:
        fn, args, fut = job
        if fut.set_running_or_notify_cancel():
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting caller
                fut.set_exception(e)
        # drop the finished job: an idle thread must not keep its engine (and so itself) alive
        del job, fn, args, fut
        trimmer.maybe()


class InferenceWorker:
    """One long-lived thread that makes every backend call for a device. Callers submit and wait.

    The thread holds only the job queue, not the worker, so when the last engine using the worker
    is freed (the clip is gone) the worker is collected and its thread told to stop. At interpreter
    exit it is told to stop too (it is a daemon thread): the calls already submitted are served,
    later ones raise :class:`StoppedError`, so frames still in flight fail instead of hanging."""

    def __init__(self, name: str) -> None:
        jobs = _Jobs()
        self._jobs = jobs
        self.thread = threading.Thread(target=_serve, args=(jobs,), name=name, daemon=True)
        self.thread.start()
        self._finalizer = weakref.finalize(self, jobs.close)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        if threading.current_thread() is self.thread:
            return fn(*args)
        return self.submit(fn, *args).result()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue a call and return its future at once (from the worker itself too: the call then
        runs after those queued before it)."""
        fut: Future = Future()
        self._jobs.put((fn, args, fut))
        return fut

    def close(self) -> None:
        """Stop the thread once the calls already submitted are done; later calls raise
        :class:`StoppedError`."""
        self._finalizer()


class _Workers:
    """The inference worker of each device, shared by the engines on it while any of them lives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_device: weakref.WeakValueDictionary[str, InferenceWorker] = weakref.WeakValueDictionary()

    def get(self, device: str) -> InferenceWorker:
        with self._lock:
            worker = self._by_device.get(device)
            if worker is None:
                worker = InferenceWorker(f"vsrife-infer-{device}")
                self._by_device[device] = worker
            return worker


WORKERS = _Workers()
"""One worker per device in the process (a device is a process-wide resource)."""


def cache_entries(threads: int, steps: int, results: int) -> int:
    """How many values the engine's cache keeps so that frames requested in order, ``threads`` at a
    time (vspipe, an encoder), compute nothing twice: the pairs those requests span (``threads``
    output frames, of which a pair serves ``steps``), one pair prepared ahead and one of slack, each
    holding its later source frame, that frame's features and its ``results`` network results; and
    the first pair's earlier frame with its features. More only holds memory: a 1080p entry is
    25-33 MB. With 2 threads and multi=2 that is 11 entries (16 before): vspipe's peak RSS at 1080p
    fell from 2.29 to 2.18 GB. Without the pair of slack (8 entries, 2.10-2.13 GB) a frame was once
    encoded twice when the test suite ran its two workers side by side."""
    return pairs_in_flight(threads, steps) * (2 + results) + 2


def pairs_in_flight(threads: int, steps: int) -> int:
    """Pairs that ``threads`` output frames requested in order span (a pair serves ``steps``), with
    one pair prepared ahead and one of slack."""
    return -(-threads // steps) + 2


# --------------------------------------------------------------------------------------------- the engine


def _error(done: Future) -> BaseException | None:
    """A finished future's error (``CancelledError`` if it was cancelled), or None."""
    return CancelledError() if done.cancelled() else done.exception()


def _copy(done: Future, out: Future) -> None:
    """Give ``out`` the outcome of the finished ``done``."""
    if (e := _error(done)) is not None:
        out.set_exception(e)
    else:
        out.set_result(done.result())


def _then(first: Future, start: Callable[[Any], Future]) -> Future:
    """The future of ``start(first's value)``, started once ``first`` is done (in the thread that
    finishes it), with nobody waiting in between."""
    out: Future = Future()

    def go(done: Future) -> None:
        if _error(done) is not None:
            _copy(done, out)
            return
        try:
            inner = start(done.result())
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits for the result
            out.set_exception(e)
            return
        inner.add_done_callback(lambda finished: _copy(finished, out))

    first.add_done_callback(go)
    return out


def _all(futures: Sequence[Future]) -> Future:
    """The future of the values of ``futures`` (a list, in order), done when all of them are; the
    first of them to fail gives it its error."""
    out: Future = Future()
    state = {"left": len(futures), "settled": False}
    lock = threading.Lock()

    def one(done: Future) -> None:
        error = _error(done)
        with lock:
            state["left"] -= 1
            if state["settled"] or (error is None and state["left"] > 0):
                return
            state["settled"] = True
        if error is not None:
            out.set_exception(error)
        else:
            out.set_result([f.result() for f in futures])

    if not futures:
        out.set_result([])
    for f in futures:
        f.add_done_callback(one)
    return out


PIPELINE_ENV = "VSRIFE_PIPELINE"


def pipelining(device: DeviceLike) -> bool:
    """Whether a pair's work is started ahead (:meth:`Engine.begin`) on ``device``: where the
    network runs on a GPU, so that the device goes from one pair to the next while the CPU delivers
    the pair before (padding, uploads and each call's hand-over otherwise sit between two pairs'
    GPU work). Not where it runs on the CPU: there the network takes every core, and the work around
    it (writing and converting the frame before, padding the next) costs it more beside it than in
    the short gap between two of its calls, where the VapourSynth threads share both cores. Measured
    with ``scripts/pipeline_ab.py`` (vspipe | ffmpeg, 2 cores, 4.25 at 720x528, ten rounds taking
    turns): 1.17x the time per pair started ahead (an earlier ten rounds: 1.10x; 1280x720, four
    rounds: 1.02x), although the network's idle time between calls fell from 1.7-2.0 % to 0.
    ``VSRIFE_PIPELINE=1`` or ``0`` decides instead."""
    value = os.environ.get(PIPELINE_ENV, "").strip()
    if value in ("0", "1"):
        return value == "1"
    return device.type != "cpu"


EVIDENCE_KEPT = 4096
"""Pairs the engine keeps books on: their scene evidence (1 x 6 values each), their in-between
frames served so far, whether they are retired."""


def _remember(book: OrderedDict, key: Hashable, value: object) -> None:
    """``book[key] = value``, the oldest entries forgotten beyond :data:`EVIDENCE_KEPT`."""
    book[key] = value
    while len(book) > EVIDENCE_KEPT:
        book.popitem(last=False)


@dataclass(frozen=True)
class Result:
    frame: Array
    """The interpolated frame, padded, on the device."""
    evidence: Array
    """1 x 6 on the CPU, see :func:`vsrife.backends.graph.evidence`."""


class Engine:
    def __init__(
        self,
        backend: Backend,
        target: Target,
        cache_entries: int = 16,
        cache_bytes: int | None = None,
        pipelined: bool | None = None,
    ) -> None:
        self.backend = backend
        self.target = target
        self.pipelined = pipelining(target.device) if pipelined is None else pipelined
        """Whether the filter starts each pair's work ahead (:meth:`begin`)."""
        self.spec = target.spec
        self.worker = WORKERS.get(str(target.device))
        self.cache = ComputeCache(cache_entries, cache_bytes)
        self.network_calls = 0
        self.encoder_calls = 0
        # every pair's scene evidence (1 x 6, tiny), kept after its frames are retired: a cut decision
        # asked again later (a props lookup of the next output frame) must not rerun the network
        self._evidence: OrderedDict[tuple[int, Fraction], Array] = OrderedDict()
        self._lock = threading.Lock()  # the three books here
        self._served: OrderedDict[int, int] = OrderedDict()  # pair -> in-between frames served so far
        self._retired: OrderedDict[int, None] = OrderedDict()  # pairs whose frames are all served

    def _run(self, a: Array, b: Array, t: float, fa: Array | None, fb: Array | None) -> Result:
        self.network_calls += 1
        frame, ev = self.backend.interpolate(a, b, t, fa, fb)
        return Result(frame, ev)

    def _encode(self, x: Array) -> Array:
        self.encoder_calls += 1
        return self.backend.encode(x)

    def source(self, i: int, load: Callable[[int], Sequence[np.ndarray]]) -> Array:
        """Source frame ``i`` as a padded device tensor (cached)."""
        return self.cache.get(("src", i), lambda: self._padded(i, load).result())

    def _padded(self, i: int, load: Callable[[int], Sequence[np.ndarray]]) -> Future:
        """Source frame ``i`` padded here, as a device tensor: on the CPU the padded array itself (no
        need to queue behind the network for it), elsewhere a copy made on the inference thread."""
        host = self.backend.host_tensor(load(i))
        if self.target.device.type != "cpu" and threading.current_thread() is not self.worker.thread:
            return self.worker.submit(self.backend.upload, host)
        done: Future = Future()
        done.set_result(self.backend.upload(host))
        return done

    def features(self, i: int, load: Callable[[int], Sequence[np.ndarray]]) -> Array | None:
        """A source frame's features serve both pairs it belongs to and every timestep."""
        if not self.spec.has_encoder:
            return None
        return self.cache.get(("feat", i), lambda: self.worker.call(self._encode, self.source(i, load)))

    def begin(self, pair: int, t: Fraction, load: Callable[[int], Sequence[np.ndarray]]) -> None:
        """Start the frame at ``pair + t`` without waiting for the inference thread: the pair's
        source frames are padded here (the calling thread); their upload, features and the network
        call are queued on the inference thread, each as soon as what it needs is ready, so the
        network goes from one job to the next with no thread to wake in between. :meth:`interpolate`
        then waits for the result. Where :attr:`pipelined` (a GPU: see :func:`pipelining`), the
        filter calls this for the next pair while a pair is inferred: VapourSynth serves a Python
        filter's frames one at a time, so without it the next pair's padding and each of its calls
        waited for the pair before to be delivered, and the inference thread idled meanwhile
        (measured in vspipe at 720x528: 4.1 ms a pair, 1.7-2.0 % of its time). Nothing here waits
        on the inference thread, and the inference thread never waits on the cache (its jobs get
        their inputs as values), so no order of calls can deadlock. A midpoint-only model gets its
        first bisection step started (all of it at ``multi=2``)."""
        first = t if self.spec.arbitrary_timestep else dyadic_path(t)[0]  # the first call the frame needs
        self.cache.start(("mid", pair, first), lambda: self._queue_run(pair, first, load))

    def _queue_run(self, pair: int, t: Fraction, load: Callable[[int], Sequence[np.ndarray]]) -> Future:
        """The network call at ``pair + t`` on the source frames, queued once its inputs are ready."""
        with_features = self.spec.arbitrary_timestep  # a bisection step takes none (interpolate)
        a, fa = self._begin_source(pair, load, with_features)
        b, fb = self._begin_source(pair + 1, load, with_features)
        inputs = [a, b] + ([fa, fb] if fa is not None and fb is not None else [])

        def run(values: list[Array]) -> Future:
            img0, img1, *feats = values
            f0, f1 = feats or (None, None)
            return self.worker.submit(self._run, img0, img1, float(t), f0, f1)

        return _then(_all(inputs), run)

    def _begin_source(
        self, i: int, load: Callable[[int], Sequence[np.ndarray]], features: bool
    ) -> tuple[Future, Future | None]:
        """Source frame ``i`` padded here, its upload and (models with an encoder) its features
        queued; cache entries."""
        src = self.cache.start(("src", i), lambda: self._padded(i, load))
        if not (features and self.spec.has_encoder):
            return src, None
        return src, self.cache.start(("feat", i), lambda: _then(src, lambda x: self.worker.submit(self._encode, x)))

    def interpolate(self, pair: int, t: Fraction, load: Callable[[int], Sequence[np.ndarray]]) -> Result:
        """The frame at ``pair + t``; ``load(i)`` gives source frame i's three planes.

        A model with arbitrary timesteps is asked for ``t`` directly. A midpoint-only model is
        bisected (``t`` must be dyadic): t = 1/4 is the midpoint of (frame i, the midpoint of i and
        i+1); every step is cached and shared by all timesteps of the pair, so multi = 2**d costs
        2**d - 1 network calls per pair, the same as a timestep model.
        """
        if self.spec.arbitrary_timestep:

            def compute() -> Result:
                a, b = self.source(pair, load), self.source(pair + 1, load)
                fa, fb = self.features(pair, load), self.features(pair + 1, load)
                return self.worker.call(self._run, a, b, float(t), fa, fb)

            return self.cache.get(("mid", pair, t), compute)
        lo: Array | None = None  # None: the pair's own source frame
        hi: Array | None = None
        out: Result | None = None
        for mid in dyadic_path(t):

            def step(lo: Array | None = lo, hi: Array | None = hi) -> Result:
                a = self.source(pair, load) if lo is None else lo
                b = self.source(pair + 1, load) if hi is None else hi
                return self.worker.call(self._run, a, b, 0.5, None, None)

            out = self.cache.get(("mid", pair, mid), step)
            if t < mid:
                hi = out.frame
            else:
                lo = out.frame
        assert out is not None
        return out

    def evidence(self, pair: int, t: Fraction, load: Callable[[int], Sequence[np.ndarray]]) -> Array:
        """How well the network explains the pair: from the run at ``t`` (timestep models; pass a
        timestep the output needs anyway) or from the first bisection step (midpoint models)."""
        key = (pair, t if self.spec.arbitrary_timestep else Fraction(1, 2))
        with self._lock:
            if key in self._evidence:
                return self._evidence[key]
        ev = self.interpolate(*key, load).evidence
        with self._lock:
            _remember(self._evidence, key, ev)
        return ev

    def served(self, pair: int, frames: int) -> None:
        """One of the ``frames`` in-between frames of ``pair`` the output shows has been served; once
        all have (in whatever order the threads finished them), the pair is retired."""
        with self._lock:
            done = self._served.pop(pair, 0) + 1
            if done < frames:
                _remember(self._served, pair, done)  # pairs seen in part (a preview's seeks) age out
        if done >= frames:
            self.retire(pair)

    def retire(self, pair: int) -> None:
        """Drop pair ``pair``'s network results, and each of its two source frames (with its
        features) that no unfinished pair uses: frame j serves pairs j - 1 and j. Called once all
        of the pair's in-between frames are served; frames requested in order never need them
        again (a later request computes them anew), and without them the cache holds the frames
        still ahead instead of the last ones done (measured at 1080p, RIFE 4.25, vspipe on 2 cores:
        peak RSS 1.56-1.58 GB before, 1.32-1.36 GB after, in bf16 and in fp32 alike)."""
        with self._lock:
            _remember(self._retired, pair, None)
            frames = {j for j in (pair, pair + 1) if j in self._retired and (j == 0 or j - 1 in self._retired)}

        def keep(key: Hashable) -> bool:
            kind, i = key[0], key[1]  # type: ignore[index]
            return not ((kind == "mid" and i == pair) or (kind in ("src", "feat") and i in frames))

        self.cache.discard(keep)

    def planes(self, result: Result, dtype: np.dtype) -> np.ndarray:
        """The interpolated frame's 3 x H x W planes on the host, cropped to the frame size."""
        if self.target.device.type == "cpu":  # a crop and a copy: no need to wait for the worker
            return self.backend.download(result.frame, dtype)
        return self.worker.call(self.backend.download, result.frame, dtype)


# --------------------------------------------------------------------------------------------- memory

ACTIVATION_BYTES: dict[str, tuple[int, int]] = {"v4": (420, 320), "hdv3": (290, 160), "paper": (450, 450)}
"""Peak working memory of one interpolation in fp32, in bytes per padded pixel: (what works at full
resolution whatever the scale: frames, features, warps; what the flow blocks need at scale 1, which
shrinks with the square of ``scale``). Measured with the torch backend on the CPU (4.25 at 640x384
and 1280x768: 806 and 689 B/px at scale 1, 476 at 0.5 and 0.25; HDv3: 523 / 431, 307 / 283; the
OpenVINO backend needed about 0.6x of that); the paper model's figure is a conservative guess."""


def memory_estimate(target: Target) -> int:
    """Bytes one interpolation needs at its peak (activations; the weights are small beside them)."""
    ph, pw = target.padded
    full, blocks = ACTIVATION_BYTES.get(target.spec.arch, (450, 450))
    per_pixel = full + blocks * min(1.0, target.scale) ** 2 * (2 if target.ensemble else 1)
    return int(ph * pw * per_pixel * (0.5 if target.precision == "fp16" else 1.0))


def available_memory(device: DeviceLike) -> int | None:
    """Free memory on the device (CUDA) or available to the process (CPU, Linux); None if unknown."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(str(device)))
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_problem(target: Target) -> str | None:
    """Why the frame clearly will not fit in memory (with what to do), or None."""
    need, have = memory_estimate(target), available_memory(target.device)
    if have is None or need <= have:
        return None
    ph, pw = target.padded
    hints = [] if target.scale <= 0.25 else ["scale=0.5 (flow at half resolution)"]
    if target.device.type == "cuda":
        hints.append("device='cpu'")
    hints.append("a smaller frame (crop or resize first)")
    return (
        f"a {target.width}x{target.height} frame (padded to {pw}x{ph}) needs about {need / 2**30:.1f} GiB for "
        f"one interpolation, but only {have / 2**30:.1f} GiB is free on {target.device}; try " + ", or ".join(hints)
    )
