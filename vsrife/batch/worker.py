"""One chunk on one worker: ``vspipe | ffmpeg`` (the pipeline of ``vsrife interpolate``) for the
chunk's source frames, encoded into a part file. Runs in a Ray task or in a local worker process
(``python -m vsrife.batch.worker``, the job as JSON on stdin, JSON lines on stdout).

A node is prepared once per job, under locks in its temp dir: the model is fetched into the node's
model dir (a checkpoint file the node does not have is written there from the bytes the driver
shipped), and, for the OpenVINO backend, the first chunk converts the network while the chunks
starting beside it wait, so that they read the cached graph instead of converting it side by side
(the backend's cache writes are atomic, but concurrent conversions of one entry may replace each
other's files while they are being read).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from ..encode import CliError, Plan, Progress, Terminated, interpolate, temp_output
from ..store import sha256_file
from .chunks import Chunk

EXIT_RETRY = 75
"""A local worker's exit code for a chunk worth running again (a tool was killed)."""

FORWARDED_ENV = ("VSRIFE_BACKEND", "VSRIFE_DEBUG", "VSRIFE_COMPILED_DIR")
"""Variables of the driver's environment every worker gets (the backend choice changes results)."""

Report = Callable[[int, int], None]
Note = Callable[[str], None]


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs for one chunk (picklable, and JSON for local workers)."""

    file: int
    """Which input of the batch."""
    chunk: Chunk
    script_args: dict[str, Any]
    """The generated script's job without the chunk: source, frames, rife arguments."""
    encoder: str
    encoder_options: tuple[str, ...]
    ffmpeg_args: tuple[str, ...]
    threads: int
    work_dir: str
    token: str
    """The content of ``work_dir/token``: a worker that reads it shares the driver's file system."""
    part: str
    key: str
    """The job's settings key (node preparation is done once per key)."""
    warm: bool = False
    """Convert the network once per node first (OpenVINO)."""
    model_sha256: str | None = None
    """Set when the model is a checkpoint file, shipped to nodes that lack it."""
    env: tuple[tuple[str, str], ...] = ()
    verbose: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ChunkJob:
        data = json.loads(text)
        data["chunk"] = Chunk(**data["chunk"])
        for key in ("encoder_options", "ffmpeg_args"):
            data[key] = tuple(data[key])
        data["env"] = tuple(tuple(kv) for kv in data["env"])
        return cls(**data)


@dataclass(frozen=True)
class ChunkResult:
    file: int
    index: int
    frames: int
    sha256: str
    size: int
    seconds: float
    worker: str
    probe: dict[str, Any] = field(default_factory=dict)
    """What the chunk's script reported: colour tags, size, format, rate (see ``encode._write_probe``)."""
    data: bytes | None = field(default=None, repr=False)
    """The part itself, when the worker does not share the driver's file system."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def shares_work_dir(job: ChunkJob) -> bool:
    try:
        return (Path(job.work_dir) / "token").read_text() == job.token
    except OSError:
        return False


def thread_env(threads: int) -> dict[str, str]:
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


# ------------------------------------------------------------------------------------ the node


def node_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"vsrife-batch-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


class NodeLock:
    """One holder per node at a time (an flock on a file in the node's temp dir); released early
    or at the end, whichever comes first."""

    def __init__(self, name: str) -> None:
        self.path = node_dir() / f"{name}.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self._file = open(self.path, "w")  # noqa: SIM115 - held across calls, closed in release()
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@contextlib.contextmanager
def node_lock(name: str) -> Iterator[None]:
    lock = NodeLock(name)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def shipped_model_path(job: ChunkJob) -> Path:
    from .. import store

    model = str(job.script_args["rife"]["model"])
    return store.model_dir() / "shipped" / (job.model_sha256 or "")[:16] / Path(model).name


def local_model(job: ChunkJob) -> ChunkJob:
    """The job with its checkpoint path as this node has it (its own path, or the shipped copy)."""
    model = job.script_args["rife"].get("model")
    if job.model_sha256 is None or model is None or Path(model).is_file():
        return job
    rife = {**job.script_args["rife"], "model": str(shipped_model_path(job))}
    return replace(job, script_args={**job.script_args, "rife": rife})


def ensure_model(job: ChunkJob, model_bytes: bytes | None) -> None:
    """The model in this node's model dir: fetched (a registered model), or written from the bytes
    the driver shipped (a checkpoint file the node does not have); once per node, under a lock."""
    with node_lock(f"model-{job.key}"):
        _ensure_model(job, model_bytes)


def _ensure_model(job: ChunkJob, model_bytes: bytes | None) -> None:
    from .. import registry, store
    from ..errors import UnknownModelError

    model = job.script_args["rife"].get("model")
    if job.model_sha256 is not None:
        target = shipped_model_path(job)
        if Path(str(model)).is_file() or target.is_file():
            return
        if model_bytes is None or hashlib.sha256(model_bytes).hexdigest() != job.model_sha256:
            raise CliError(
                f"the checkpoint {model} is not on this node ({socket.gethostname()}) and was not shipped", 1
            )
        with store.atomic_write(target) as f:
            f.write(model_bytes)
        return
    try:
        spec = registry.default_spec() if model is None else registry.get_spec(str(model))
    except UnknownModelError:
        return
    if not store.model_path(spec).is_file():
        try:
            store.fetch(spec, progress=False)
        except store.ModelError as e:
            raise CliError(f"{socket.gethostname()}: {e}", 1) from None


# ------------------------------------------------------------------------------------ the chunk


class _Relay(Progress):
    """vspipe's frame count, passed on to ``report`` at most every ``interval`` seconds."""

    def __init__(self, report: Report, note: Note, interval: float = 0.5) -> None:
        super().__init__("none")
        self._report = report
        self._note = note
        self._interval = interval
        self._sent = -1e18

    def write(self, line: str) -> None:
        self._note(line)

    def update(self, done: int, total: int, detail: str | None = None) -> None:
        super().update(done, total)
        now = time.monotonic()
        if now - self._sent >= self._interval or done == total:
            self._sent = now
            self._report(done, total)


def chunk_plan(job: ChunkJob, output: Path, tools: tuple[str, str]) -> Plan:
    """The encode of one chunk: its frames of the script, into a part file, no other streams."""
    c = job.chunk
    script = {
        **job.script_args,
        "threads": job.threads,
        "chunk": {"start": c.start, "stop": c.stop, "take": None if c.final else c.frames},
    }
    return Plan(
        ffmpeg=tools[0],
        vspipe=tools[1],
        output=output,
        script_args=script,
        encoder=job.encoder,
        encoder_options=(*job.encoder_options, "-threads", str(job.threads)),
        ffmpeg_args=job.ffmpeg_args,
        verbose=job.verbose,
        extra_env=(*job.env, *thread_env(job.threads).items()),
    )


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def run_chunk(job: ChunkJob, report: Report, model_bytes: bytes | None = None, note: Note = _stderr) -> ChunkResult:
    """Encode ``job``'s chunk; raises CliError (``killed`` set where running it again may help).

    The first chunk of a job on a node (with the OpenVINO backend) holds the node's lock until its
    script has built the backend, which converts and caches the network: chunks starting beside it
    wait, then read the cached graph instead of converting it too."""
    from ..cli import _ffmpeg, _vspipe

    tools = (_ffmpeg(), _vspipe())
    ensure_model(job, model_bytes)
    job = local_model(job)
    relay = _Relay(report, note)
    ready = node_dir() / f"{job.key}.ready"
    lock = NodeLock(job.key)
    if job.warm and not ready.exists():
        lock.acquire()
        if ready.exists():
            lock.release()

    def started() -> None:
        ready.write_text(worker_name())
        lock.release()

    try:
        if shares_work_dir(job):
            return _encode(job, Path(job.work_dir), tools, relay, started, shared=True)
        with tempfile.TemporaryDirectory(prefix="vsrife-part-") as tmp:
            return _encode(job, Path(tmp), tools, relay, started, shared=False)
    finally:
        lock.release()


def _encode(
    job: ChunkJob, where: Path, tools: tuple[str, str], relay: _Relay, started: Callable[[], None], shared: bool
) -> ChunkResult:
    output = where / job.part
    result = interpolate(chunk_plan(job, output, tools), relay, temp_output(output), started)
    if result.frames != job.chunk.frames:
        raise CliError(f"chunk {job.chunk.index} gave {result.frames} frames, not {job.chunk.frames}", 3)
    data = None if shared else output.read_bytes()
    return ChunkResult(
        job.file,
        job.chunk.index,
        result.frames,
        sha256_file(output),
        output.stat().st_size,
        result.seconds,
        worker_name(),
        dict(result.probe),
        data,
    )


# ------------------------------------------------------------------------------------ a local worker process


def _emit(event: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main() -> int:
    """``python -m vsrife.batch.worker``: one chunk, the job on stdin; events as JSON lines on stdout."""
    signal.signal(signal.SIGTERM, _terminated)
    job = ChunkJob.from_json(sys.stdin.read())
    _emit({"event": "start", "worker": worker_name()})
    try:
        result = run_chunk(
            job,
            lambda done, total: _emit({"event": "progress", "done": done, "total": total}),
            note=lambda text: _emit({"event": "note", "text": text}),
        )
    except CliError as e:
        print(f"vsrife: {e}", file=sys.stderr)
        return EXIT_RETRY if e.killed else e.code
    except KeyboardInterrupt:
        return 130
    _emit({"event": "done", "result": {k: v for k, v in asdict(result).items() if k != "data"}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
