"""Running chunks: as Ray tasks (retried by Ray when a worker dies), or, without Ray, in local
worker processes (``python -m vsrife.batch.worker``, retried here). Both keep at most ``workers``
chunks in flight, report every attempt to a :class:`Board` (what each worker is doing, for the
progress display), and hand finished chunks to the driver one at a time, in its own thread.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..encode import EXIT_FAILED, CliError, start_reader
from .worker import EXIT_RETRY, ChunkJob, ChunkResult, run_chunk, worker_name

TICK = 0.5
"""Seconds between progress updates."""


@dataclass
class Attempt:
    worker: str
    done: int = 0
    total: int = 0
    attempts: int = 1
    finished: bool = False


@dataclass(frozen=True)
class View:
    """A copy of the board: every chunk's latest attempt, and the workers' messages so far."""

    attempts: dict[tuple[int, int], Attempt]
    notes: tuple[str, ...]


class Board:
    """What every chunk's latest attempt is doing, and what the workers had to say (each message
    once). A plain object in the driver for local workers; a Ray actor (the same class) for Ray tasks."""

    MAX_NOTES = 200

    def __init__(self) -> None:
        self.state: dict[tuple[int, int], Attempt] = {}
        self.notes: list[str] = []
        self._lock = threading.Lock()

    def note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes and len(self.notes) < self.MAX_NOTES:
                self.notes.append(text)

    def start(self, file: int, index: int, worker: str) -> None:
        with self._lock:
            old = self.state.get((file, index))
            self.state[(file, index)] = Attempt(worker, attempts=old.attempts + 1 if old else 1)

    def progress(self, file: int, index: int, done: int, total: int) -> None:
        with self._lock:
            a = self.state.get((file, index))
            if a is not None:
                a.done, a.total = done, total

    def finish(self, file: int, index: int) -> None:
        with self._lock:
            a = self.state.get((file, index))
            if a is not None:
                a.finished = True

    def snapshot(self) -> View:
        with self._lock:
            return View({k: Attempt(**vars(v)) for k, v in self.state.items()}, tuple(self.notes))


class Hooks(Protocol):
    """The driver's side: which jobs still count, and what to do with each outcome."""

    def wanted(self, job: ChunkJob) -> bool: ...
    def finished(self, job: ChunkJob, result: ChunkResult) -> None: ...
    def failed(self, job: ChunkJob, error: CliError) -> None: ...
    def tick(self, board: View) -> None: ...


class Executor(Protocol):
    name: str

    def run(self, jobs: Sequence[ChunkJob], hooks: Hooks) -> None: ...


# ------------------------------------------------------------------------------------ local processes


class LocalExecutor:
    """``workers`` local worker processes; a chunk whose process died (or whose tools were killed)
    runs again, up to ``retries`` more times."""

    name = "local processes"

    def __init__(self, workers: int, retries: int) -> None:
        self.workers = workers
        self.retries = retries

    def run(self, jobs: Sequence[ChunkJob], hooks: Hooks) -> None:
        todo: deque[tuple[ChunkJob, int]] = deque((j, 0) for j in jobs)
        events: queue.Queue[tuple[ChunkJob, int, ChunkResult | CliError]] = queue.Queue()
        board = Board()
        running: dict[tuple[int, int], subprocess.Popen[bytes]] = {}
        stop = threading.Event()
        lock = threading.Lock()

        def slot(number: int) -> None:
            while not stop.is_set():
                with lock:
                    while todo and not hooks.wanted(todo[0][0]):
                        todo.popleft()
                    if not todo:
                        return
                    job, tries = todo.popleft()
                outcome = self._attempt(job, board, running, stop, number)
                if isinstance(outcome, CliError) and outcome.killed and tries < self.retries and not stop.is_set():
                    logging.getLogger("vsrife").warning(
                        "vsrife: chunk %d of input %d: %s; running it again", job.chunk.index, job.file + 1, outcome
                    )
                    with lock:
                        todo.appendleft((job, tries + 1))
                    continue
                events.put((job, tries, outcome))

        threads = [threading.Thread(target=slot, args=(n + 1,), daemon=True) for n in range(max(1, self.workers))]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads) or not events.empty():
                try:
                    job, _, outcome = events.get(timeout=TICK)
                except queue.Empty:
                    hooks.tick(board.snapshot())
                    continue
                hooks.tick(board.snapshot())
                if isinstance(outcome, CliError):
                    hooks.failed(job, outcome)
                else:
                    hooks.finished(job, outcome)
        finally:
            stop.set()
            for p in list(running.values()):
                if p.poll() is None:
                    p.terminate()
            for t in threads:
                t.join(timeout=30)

    def _attempt(
        self,
        job: ChunkJob,
        board: Board,
        running: dict[tuple[int, int], subprocess.Popen[bytes]],
        stop: threading.Event,
        slot: int,
    ) -> ChunkResult | CliError:
        key = (job.file, job.chunk.index)
        proc = subprocess.Popen(
            [sys.executable, "-m", "vsrife.batch.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **dict(job.env)},
        )
        running[key] = proc
        result: list[ChunkResult] = []
        errors: deque[str] = deque(maxlen=20)

        def on_event(line: str) -> None:
            try:
                event = json.loads(line)
            except ValueError:
                return
            if event.get("event") == "start":
                board.start(job.file, job.chunk.index, f"slot {slot}")  # a fresh process per chunk: name the slot
            elif event.get("event") == "progress":
                board.progress(job.file, job.chunk.index, int(event["done"]), int(event["total"]))
            elif event.get("event") == "note":
                board.note(str(event["text"]))
            elif event.get("event") == "done":
                result.append(ChunkResult(**event["result"]))

        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        readers = [start_reader(proc.stdout, on_event), start_reader(proc.stderr, _keep(errors))]
        try:
            proc.stdin.write(job.to_json().encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = proc.wait()
        for r in readers:
            r.join()
        running.pop(key, None)
        board.finish(job.file, job.chunk.index)
        if rc == 0 and result:
            return result[0]
        message = next(
            (ln.removeprefix("vsrife: ") for ln in reversed(errors) if ln.startswith("vsrife: ")),
            errors[-1] if errors else "no message",
        )
        if rc < 0 or rc == EXIT_RETRY:
            return CliError(
                f"worker {'killed by signal ' + str(-rc) if rc < 0 else 'tool killed'}: {message}",
                EXIT_FAILED,
                killed=not stop.is_set(),
            )
        return CliError(message, rc if rc > 0 else EXIT_FAILED)


def _keep(lines: deque[str]) -> Callable[[str], None]:
    def add(line: str) -> None:
        if line.strip():
            lines.append(line.strip())
            if not line.startswith("vsrife: ") or os.environ.get("VSRIFE_DEBUG"):
                print(line, file=sys.stderr)  # the worker's own warnings, as vsrife interpolate shows them

    return add


# ------------------------------------------------------------------------------------ Ray


class RetryChunk(Exception):
    """A chunk's tools were killed: Ray runs the task again (``retry_exceptions``)."""


class ChunkFailed(Exception):
    """A chunk failed for a reason of its own (the same input fails again): no retry."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, code)
        self.message, self.code = message, code


def ray_chunk(job: ChunkJob, model_bytes: bytes | None, board: Any) -> ChunkResult:
    """The Ray task: one chunk, reported to the ``board`` actor."""
    board.start.remote(job.file, job.chunk.index, worker_name())
    try:
        result = run_chunk(
            job,
            lambda d, t: board.progress.remote(job.file, job.chunk.index, d, t),
            model_bytes,
            lambda text: board.note.remote(text),
        )
    except CliError as e:
        if e.killed:
            raise RetryChunk(str(e)) from None
        raise ChunkFailed(str(e), e.code) from None
    board.finish.remote(job.file, job.chunk.index)
    return result


def ray_missing_message() -> str:
    return "Ray is not installed; for --address (a Ray cluster): pip install 'vapoursynth-rife[cluster]'"


class RayExecutor:
    """Chunks as Ray tasks: ``threads`` CPUs each (a GPU each on CUDA), retried by Ray when the
    worker process dies or the chunk's tools are killed. Connects to ``address`` (``auto``: the
    cluster this machine belongs to; ``ray://...``: Ray Client), or starts a local Ray."""

    name = "Ray"

    def __init__(
        self,
        workers: int | None,
        threads: int,
        retries: int,
        address: str | None,
        gpus: float = 0,
        model_file: str | None = None,
    ) -> None:
        self.workers = workers
        self.threads = threads
        self.retries = retries
        self.address = address
        self.gpus = gpus
        self.model_file = model_file
        self.started = False

    def connect(self) -> Any:
        try:
            import ray
        except ImportError:
            raise CliError(ray_missing_message(), EXIT_FAILED) from None
        if not ray.is_initialized():
            # the workers' messages come through the board (each once), not Ray's log forwarding
            kw: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
            if self.address:
                kw["address"] = self.address
            else:
                kw["num_cpus"] = os.cpu_count() or 1
            try:
                ray.init(**kw)
            except Exception as e:  # noqa: BLE001 - whatever Ray raises, the user gets one line
                raise CliError(f"cannot start or reach Ray ({self.address or 'local'}): {e}", EXIT_FAILED) from None
            self.started = True
        return ray

    def slots(self, ray: Any) -> int:
        if self.workers:
            return self.workers
        resources = ray.cluster_resources()
        if self.gpus:
            return max(1, int(resources.get("GPU", 1) // self.gpus))
        return max(1, int(resources.get("CPU", 1) // self.threads))

    def run(self, jobs: Sequence[ChunkJob], hooks: Hooks) -> None:
        ray = self.connect()
        try:
            self._run(ray, jobs, hooks)
        finally:
            if self.started:
                ray.shutdown()
                self.started = False

    def _run(self, ray: Any, jobs: Sequence[ChunkJob], hooks: Hooks) -> None:
        board = ray.remote(num_cpus=0)(Board).remote()
        task = ray.remote(ray_chunk).options(
            num_cpus=self.threads, num_gpus=self.gpus, max_retries=self.retries, retry_exceptions=[RetryChunk]
        )
        model = None
        if self.model_file and any(j.model_sha256 for j in jobs):
            with open(self.model_file, "rb") as f:
                model = ray.put(f.read())
        todo = deque(jobs)
        inflight: dict[Any, ChunkJob] = {}
        slots = self.slots(ray)
        try:
            while todo or inflight:
                while todo and len(inflight) < slots:
                    job = todo.popleft()
                    if hooks.wanted(job):
                        inflight[task.remote(job, model, board)] = job
                if not inflight:
                    continue
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=TICK)
                hooks.tick(ray.get(board.snapshot.remote()))
                for ref in ready:
                    job = inflight.pop(ref)
                    outcome = self._outcome(ray, ref)
                    if isinstance(outcome, CliError):
                        hooks.failed(job, outcome)
                    else:
                        hooks.finished(job, outcome)
        finally:
            for ref in inflight:
                ray.cancel(ref, force=True)

    def _outcome(self, ray: Any, ref: Any) -> ChunkResult | CliError:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, ChunkFailed):
                return CliError(cause.message, cause.code)
            return CliError(
                f"{type(cause or e).__name__}: {str(cause or e).strip().splitlines()[-1]} "
                f"(after {self.retries} retries)",
                EXIT_FAILED,
            )
        except ray.exceptions.RayError as e:  # the worker died and the retries are spent
            return CliError(
                f"{type(e).__name__} after {self.retries} retries: {str(e).strip().splitlines()[0]}", EXIT_FAILED
            )


def have_ray(address: str | None, use_ray: bool | None) -> bool:
    """Whether the workers are Ray tasks; raises if a cluster is asked for that cannot be had."""
    import importlib.util

    installed = importlib.util.find_spec("ray") is not None
    if address and not installed:
        raise CliError(ray_missing_message(), EXIT_FAILED)
    if address and use_ray is False:
        raise CliError("--address is a Ray cluster; it cannot be used with --no-ray")
    return installed and use_ray is not False


def choose(
    workers: int | None,
    threads: int,
    retries: int,
    address: str | None,
    use_ray: bool | None,
    gpus: float = 0,
    model_file: str | None = None,
) -> Executor:
    """Ray where it is installed (or asked for), else local worker processes."""
    if have_ray(address, use_ray):
        return RayExecutor(workers, threads, retries, address, gpus, model_file)
    return LocalExecutor(workers or max(1, (os.cpu_count() or 1) // threads), retries)
