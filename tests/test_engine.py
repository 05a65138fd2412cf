"""Pure helpers of the engine: padding, bisection, the compute cache."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from fractions import Fraction

import numpy as np
import pytest
import torch

from vsrife.archs.common import Warp
from vsrife.backends.torch_eager import PinnedPool, pad_replicate
from vsrife.engine import ComputeCache, InferenceWorker, Result, StoppedError, dyadic_path, nbytes, padded_size
from vsrife.timing import default_depth as default_bisect_depth
from vsrife.timing import nearest_dyadic

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("h", "w", "m", "want"),
    [(1, 1, 32, (32, 32)), (720, 1280, 32, (736, 1280)), (64, 64, 64, (64, 64)), (65, 63, 64, (128, 64))],
)
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

    def test_bounded_in_bytes(self) -> None:
        cache = ComputeCache(100, max_bytes=10 * 4 * 1000)  # room for 10 tensors of 1000 floats
        for k in range(50):
            cache.get(k, lambda: torch.zeros(1000))
            assert cache.bytes <= 10 * 4 * 1000
        assert len(cache) == 10 and cache.bytes == 10 * 4000
        assert cache.get(49, lambda: torch.ones(1)).numel() == 1000  # the newest are kept

    def test_interpolated_results_count_in_the_bytes(self) -> None:
        # a Result holds a padded frame: uncounted, the byte bound let 4K results pile up
        frame, evidence = np.zeros((1, 3, 40, 50), np.float32), np.zeros((1, 6), np.float32)
        assert nbytes(Result(frame, evidence)) == frame.nbytes + evidence.nbytes
        assert nbytes(Result(torch.zeros(1, 3, 4, 5), evidence)) == 4 * 60 + evidence.nbytes
        cache = ComputeCache(100, max_bytes=3 * frame.nbytes)
        for k in range(10):
            cache.get(k, lambda: Result(frame.copy(), evidence.copy()))
        assert len(cache) == 2 and cache.bytes <= 3 * frame.nbytes

    def test_entries_in_use_are_never_evicted(self) -> None:
        cache = ComputeCache(1)
        started, release = threading.Event(), threading.Event()

        def slow() -> int:
            started.set()
            release.wait(5)
            return 1

        th = threading.Thread(target=lambda: cache.get("slow", slow))
        th.start()
        started.wait(5)
        for k in range(5):  # a flood of other entries while "slow" is being computed
            cache.get(k, lambda k=k: k)
        assert "slow" in cache._items
        release.set()
        th.join()
        assert cache.get("slow", lambda: 2) in (1, 2)

    def test_discard_drops_finished_entries_only(self) -> None:
        cache = ComputeCache(10)
        for k in range(4):
            cache.get(("src", k), lambda k=k: k)
        started, release = threading.Event(), threading.Event()
        th = threading.Thread(target=lambda: cache.get(("src", 9), lambda: started.set() or release.wait(5)))
        th.start()
        started.wait(5)
        assert cache.discard(lambda key: key[1] >= 2) == 2  # 0 and 1; 9 is being computed
        assert sorted(k[1] for k in cache._items) == [2, 3, 9] and cache.bytes == 0
        release.set()
        th.join()

    def test_started_entries_are_shared_and_computed_elsewhere(self) -> None:
        cache = ComputeCache(8)
        inner: Future = Future()
        produced = []
        fut = cache.start("k", lambda: produced.append(1) or inner)
        assert cache.start("k", lambda: produced.append(2) or Future()) is fut and produced == [1]
        assert not fut.done() and cache.computed == 0
        got = []
        waiter = threading.Thread(target=lambda: got.append(cache.get("k", lambda: -1)))
        waiter.start()
        inner.set_result(np.zeros(10, np.float32))  # finished by another thread: the entry's value
        waiter.join(5)
        assert got[0] is fut.result() and cache.computed == 1 and cache.bytes == 40

    def test_a_started_entry_that_fails_is_not_kept(self) -> None:
        cache = ComputeCache(8)
        inner: Future = Future()
        fut = cache.start("k", lambda: inner)
        inner.set_exception(RuntimeError("x"))
        with pytest.raises(RuntimeError):
            fut.result()
        assert cache.get("k", lambda: 7) == 7  # computed again

        def boom() -> Future:
            raise ValueError("y")

        with pytest.raises(ValueError):
            cache.start("j", boom)
        assert "j" not in cache._items


class TestInferenceWorker:
    def test_calls_run_on_one_thread_in_order(self) -> None:
        worker = InferenceWorker("test-worker")
        seen: list[str] = []
        results: list[int] = []

        def job(i: int) -> int:
            seen.append(threading.current_thread().name)
            return i * i

        threads = [threading.Thread(target=lambda i=i: results.append(worker.call(job, i))) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(results) == [i * i for i in range(8)]
        assert set(seen) == {"test-worker"}
        assert worker.call(lambda: worker.call(lambda: 3)) == 3  # a call from the worker itself runs inline

    def test_submit_returns_at_once_and_queues_even_from_the_worker(self) -> None:
        worker = InferenceWorker("test-submit")
        order: list[str] = []

        def first() -> bool:
            inner = worker.submit(order.append, "second")  # queued behind this call, not run inline
            order.append("first")
            return inner.done()

        assert worker.submit(first).result(5) is False
        worker.call(lambda: None)
        assert order == ["first", "second"]

    def test_errors_reach_the_caller_and_the_worker_goes_on(self) -> None:
        worker = InferenceWorker("test-errors")
        with pytest.raises(ZeroDivisionError):
            worker.call(lambda: 1 / 0)
        assert worker.call(lambda: 5) == 5

    def test_calls_after_close_fail_at_once_and_earlier_ones_are_served(self) -> None:
        """At interpreter exit the worker is closed; a VapourSynth thread that asks for work later
        must get an error, not wait for a thread that is gone (that hung the exit)."""
        worker = InferenceWorker("test-closed")
        started, release = threading.Event(), threading.Event()
        results: list[int] = []

        def slow() -> int:
            started.set()
            release.wait(5)
            return 1

        first = threading.Thread(target=lambda: results.append(worker.call(slow)))
        first.start()
        started.wait(5)
        queued = threading.Thread(target=lambda: results.append(worker.call(lambda: 2)))
        queued.start()
        time.sleep(0.05)  # the second call is queued behind the first
        worker.close()
        with pytest.raises(StoppedError, match="RIFE: the inference thread has stopped"):
            worker.call(lambda: 3)
        release.set()
        first.join(5)
        queued.join(5)
        assert sorted(results) == [1, 2]
        worker.thread.join(5)
        assert not worker.thread.is_alive()

    def test_thread_stops_when_the_worker_is_freed(self) -> None:
        import gc

        worker = InferenceWorker("test-freed")
        thread = worker.thread
        assert worker.call(lambda: 1) == 1 and thread.is_alive()
        del worker
        gc.collect()
        thread.join(5)
        assert not thread.is_alive()


class TestPinnedPool:
    """The CUDA staging-buffer pool, driven with plain tensors and fake events (no GPU here)."""

    class Event:
        def __init__(self) -> None:
            self.waited = 0

        def synchronize(self) -> None:
            self.waited += 1

    def test_buffers_are_reused_after_their_copy_finished(self) -> None:
        pool = PinnedPool((1, 3, 4, 4), torch.float32, alloc=lambda: torch.empty(1, 3, 4, 4))
        a = pool.acquire()
        ev = self.Event()
        pool.release(a, ev)
        b = pool.acquire()
        assert b is a and ev.waited == 1 and pool.allocated == 1  # waited for the copy, then reused
        c = pool.acquire()  # none free: a new one
        assert c is not a and pool.allocated == 2

    def test_pool_is_bounded(self) -> None:
        pool = PinnedPool((1,), torch.float32, alloc=lambda: torch.empty(1), limit=2)
        bufs = [pool.acquire() for _ in range(5)]
        for b in bufs:
            pool.release(b)
        assert len(pool._free) == 2


def test_heap_trimmer_trims_at_most_once_per_interval() -> None:
    from vsrife.engine import HeapTrimmer

    now, calls = [0.0], []
    trimmer = HeapTrimmer(interval=2.0, trim=lambda: calls.append(now[0]), clock=lambda: now[0])
    for t in (0.5, 1.9, 2.0, 2.1, 3.9, 4.0, 10.0):
        now[0] = t
        trimmer.maybe()
    assert calls == [2.0, 4.0, 10.0]


def test_heap_trimmer_finds_malloc_trim_on_linux_and_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from vsrife.engine import _malloc_trim

    if sys.platform.startswith("linux"):
        import subprocess

        # found among the symbols already loaded: no library search that spawns a child process from the filter
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("spawned a process"))
            fn = _malloc_trim()
        assert fn is not None
        fn()  # returns the pages; must not crash
    monkeypatch.setenv("VSRIFE_HEAP_TRIM", "0")
    assert _malloc_trim() is None


class _GatedBackend:
    """A backend whose network call waits for a gate (the inference thread busy with a pair), and
    which records its calls."""

    name = "gated"

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.gate = threading.Event()
        self.fail_encode = False

    def host_tensor(self, planes: list) -> np.ndarray:
        return np.stack(planes)[None].copy()

    def upload(self, host: np.ndarray) -> np.ndarray:
        return host

    def download(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        return x[0].astype(dtype, copy=False)

    def encode(self, img: np.ndarray) -> np.ndarray:
        self.calls.append(("encode", float(img.mean())))
        if self.fail_encode:
            raise RuntimeError("encoder failed")
        return img * 2

    def interpolate(self, a: np.ndarray, b: np.ndarray, t: float, fa: object, fb: object) -> tuple:
        self.calls.append(("run", float(a.mean()), float(b.mean()), t))
        assert self.gate.wait(5)
        return a * (1 - t) + b * t, np.zeros((1, 6), np.float32)


def _gated_engine(arbitrary: bool = True) -> tuple:
    import dataclasses

    from vsrife import registry
    from vsrife.backends import CPU, Target
    from vsrife.engine import Engine

    spec = registry.get_spec("4.25" if arbitrary else "hdv3")
    assert spec.has_encoder is arbitrary and spec.arbitrary_timestep is arbitrary
    target = Target(dataclasses.replace(spec), CPU, "fp32", 4, 4, (4, 4), 1.0, False)
    backend = _GatedBackend()
    frames = [[np.full((4, 4), float(i), np.float32)] * 3 for i in range(6)]
    return Engine(backend, target, 32, pipelined=True), backend, frames.__getitem__


def test_begin_queues_a_pair_without_waiting_for_the_network() -> None:
    """Engine.begin returns while the inference thread is busy with another pair; the pair's
    features and network call follow on that thread with nobody waiting in between, and
    interpolate then gets that result (nothing computed twice)."""
    engine, backend, load = _gated_engine()
    busy = threading.Thread(target=lambda: engine.interpolate(0, Fraction(1, 2), load))
    busy.start()
    deadline = time.monotonic() + 5
    while ("run", 0.0, 1.0, 0.5) not in backend.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    engine.begin(1, Fraction(1, 3), load)  # pair 1 while pair 0 is being inferred: no wait here
    assert backend.calls == [("encode", 0.0), ("encode", 1.0), ("run", 0.0, 1.0, 0.5)]
    backend.gate.set()
    busy.join(5)
    result = engine.interpolate(1, Fraction(1, 3), load)
    assert backend.calls[3:] == [("encode", 2.0), ("run", 1.0, 2.0, pytest.approx(1 / 3))]
    assert np.allclose(result.frame, 1 + 1 / 3) and engine.network_calls == 2 and engine.encoder_calls == 3
    engine.begin(1, Fraction(1, 3), load)  # started or done before: nothing new
    assert engine.network_calls == 2 and len(backend.calls) == 5


def test_begin_starts_the_first_bisection_step_of_a_midpoint_model() -> None:
    engine, backend, load = _gated_engine(arbitrary=False)
    backend.gate.set()
    engine.begin(2, Fraction(1, 4), load)
    result = engine.interpolate(2, Fraction(1, 4), load)  # 1/2 started ahead, then 1/4 asked for
    assert [c[0] for c in backend.calls] == ["run", "run"] and engine.network_calls == 2
    assert np.allclose(result.frame, 2.25)


def test_an_error_in_a_pair_begun_ahead_reaches_the_frame_and_is_not_kept() -> None:
    engine, backend, load = _gated_engine()
    backend.gate.set()
    backend.fail_encode = True
    engine.begin(0, Fraction(1, 2), load)
    with pytest.raises(RuntimeError, match="encoder failed"):
        engine.interpolate(0, Fraction(1, 2), load)
    backend.fail_encode = False
    assert np.allclose(engine.interpolate(0, Fraction(1, 2), load).frame, 0.5)  # tried again


def test_pipelining_is_for_gpus_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsrife.backends import CPU
    from vsrife.engine import PIPELINE_ENV, pipelining

    cuda = torch.device("cuda:0")
    monkeypatch.delenv(PIPELINE_ENV, raising=False)
    assert not pipelining(CPU) and pipelining(cuda)
    monkeypatch.setenv(PIPELINE_ENV, "1")
    assert pipelining(CPU)
    monkeypatch.setenv(PIPELINE_ENV, "0")
    assert not pipelining(cuda)
    monkeypatch.setenv(PIPELINE_ENV, "yes")  # neither 1 nor 0: the device decides
    assert not pipelining(CPU) and pipelining(cuda)


def test_futures_chained_pass_on_values_in_order_and_the_first_error() -> None:
    from vsrife.engine import _all, _then

    a, b = Future(), Future()
    both = _all([a, b])
    chained = _then(both, lambda values: _done(sum(values)))
    b.set_result(2)
    assert not both.done()
    a.set_result(1)
    assert both.result() == [1, 2] and chained.result() == 3
    c, d = Future(), Future()
    failed = _then(_all([c, d]), lambda values: _done(0))
    d.set_exception(KeyError("d"))
    c.set_exception(ValueError("c"))  # after the first error: ignored
    with pytest.raises(KeyError):
        failed.result(1)
    assert _all([]).result() == []


def _done(value: object) -> Future:
    fut: Future = Future()
    fut.set_result(value)
    return fut
