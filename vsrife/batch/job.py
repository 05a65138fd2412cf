"""The driver of a batch job: plan every file's chunks, resume what is on disk, run the rest on the
workers, join each file's parts and copy the source's other streams, as ``vsrife interpolate``.

Each output ``OUT`` has a work directory ``.OUT.parts`` beside it: the parts (``part-NNNNN.nut``,
NUT keeps the exact frame timestamps), ``manifest.json`` and the concat list. It is removed once the
output is written (``--keep-parts`` keeps it). The parts are joined with ffmpeg's concat demuxer
(stream copy) in the same ffmpeg command that copies the source's audio, subtitles, chapters and
metadata and tags the colour (:func:`vsrife.encode.ffmpeg_command`), so the output has the frames,
timestamps and streams of a one-process run.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

from .. import __version__
from ..encode import (
    EXIT_FFMPEG,
    EXIT_USAGE,
    CliError,
    Plan,
    Progress,
    Result,
    copy_tags,
    ffmpeg_command,
    ffmpeg_error,
    summary,
    temp_output,
)
from . import executors
from .manifest import Manifest, part_name, settings_key
from .source import Facts, analyse
from .worker import FORWARDED_ENV, ChunkJob, ChunkResult, sha256_file

PART_SUFFIX = ".nut"


@dataclass(frozen=True)
class Settings:
    workers: int | None
    """Chunks in flight at once (None: as many as the Ray cluster's CPUs / GPUs allow)."""
    threads: int
    """torch / OpenVINO / VapourSynth / ffmpeg threads per worker."""
    chunk_seconds: float
    retries: int
    address: str | None = None
    use_ray: bool | None = None
    """None: Ray where installed; False: local processes."""
    keep_parts: bool = False
    sc_threshold: float = 0.012
    progress: str = "auto"
    progress_interval: float = 10.0


@dataclass
class FileJob:
    index: int
    plan: Plan
    facts: Facts
    manifest: Manifest
    started: float = field(default_factory=time.perf_counter)
    error: CliError | None = None
    result: Result | None = None
    plan_seconds: float = 0.0
    """Time spent opening and analysing the source (the split)."""
    join_seconds: float = 0.0
    """Time spent joining the parts (the merge)."""

    @property
    def work(self) -> Path:
        return self.manifest.directory

    @property
    def total(self) -> int:
        return sum(c.frames for c in self.facts.chunks)


def work_dir(output: Path) -> Path:
    return output.parent / f".{output.name}.parts"


def refuse_unsplittable(rife: dict[str, Any]) -> None:
    if rife.get("held_frames"):
        raise CliError(
            "--held-frames needs the whole clip's timing and cannot be split into chunks; run without --workers",
            EXIT_USAGE,
        )


# ------------------------------------------------------------------------------------ checks


def dry_run_parts(plan: Plan, threads: int) -> None:
    """The real job's two ffmpeg steps on a test pattern: a part encoded with the encoder, its
    options and the options after ``--`` (into NUT), then that part stream-copied into the output's
    container with the source's streams."""
    with tempfile.TemporaryDirectory(prefix="vsrife-check-") as tmp:
        part = Path(tmp) / f"part{PART_SUFFIX}"
        pattern = ["-f", "lavfi", "-i", "color=c=gray:s=64x64:r=25:d=0.2"]
        part_plan = replace(
            plan, source=None, info=None, output=part, encoder_options=(*plan.encoder_options, "-threads", str(threads))
        )
        _ffmpeg(
            ffmpeg_command(part_plan, pattern, part, colour={"range": 1}, duration=0.2), "ffmpeg rejects these settings"
        )
        final = Path(tmp) / f"check{plan.output.suffix}"
        copy = replace(
            plan,
            encoder="copy",
            encoder_options=tuple(copy_tags({"range": 1})),
            ffmpeg_args=join_options(plan.ffmpeg_args),
        )
        _ffmpeg(
            ffmpeg_command(copy, ["-i", str(part)], final, duration=0.2, read_limit=0.5),
            f"ffmpeg cannot put the parts into {plan.output.suffix}",
        )


def _ffmpeg(cmd: list[str], what: str, code: int = EXIT_USAGE) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CliError(f"{what}: running ffmpeg failed: {e}", EXIT_FFMPEG) from None
    if r.returncode != 0:
        raise CliError(f"{what}: {ffmpeg_error(r.stderr.splitlines())}", code)


# ------------------------------------------------------------------------------------ planning


def _key(plan: Plan, facts: Facts, threads: int) -> str:
    source = plan.source
    st = source.stat() if source is not None else None
    return settings_key(
        {
            "vsrife": __version__,
            "source": str(source),
            "size": st.st_size if st else None,
            "mtime_ns": st.st_mtime_ns if st else None,
            "script": plan.script_args,
            "model_sha256": _model_sha(plan.script_args["rife"]),  # a file rewritten in place is another model
            "encoder": plan.encoder,
            "options": plan.encoder_options,
            "extra": plan.ffmpeg_args,
            "threads": threads,
            "chunks": [(c.start, c.end) for c in facts.chunks],
            "env": _forwarded_env(),
        }
    )


def _forwarded_env() -> tuple[tuple[str, str], ...]:
    return tuple((k, os.environ[k]) for k in FORWARDED_ENV if k in os.environ)


def prepare(index: int, plan: Plan, settings: Settings, log: IO[str]) -> FileJob:
    """Chunk the file and open its manifest (what is already done)."""
    assert plan.source is not None
    started = time.perf_counter()
    rife = plan.script_args["rife"]
    try:
        facts = analyse(
            plan.source, plan.script_args.get("frames"), rife, settings.chunk_seconds, settings.sc_threshold
        )
    except ValueError as e:  # a clip too short for two chunks' worth of pairs, say
        raise CliError(f"{plan.source}: cannot be split into chunks ({e}); run it without --workers") from None
    plan = replace(plan, script_args={**plan.script_args, "rife": {**rife, "bisect_depth": facts.depth}})
    directory = work_dir(plan.output)
    try:
        manifest, note = Manifest.open(directory, _key(plan, facts, settings.threads), facts.chunks)
        if note is not None:
            print(f"vsrife: {plan.output}: parts found in {manifest.directory}: {note}", file=log)
        if not manifest.done:
            shutil.rmtree(manifest.directory, ignore_errors=True)
        manifest.save()
    except OSError as e:
        raise CliError(f"cannot write to {directory.parent}: {e.strerror or e}") from None
    return FileJob(index, plan, facts, manifest, started=started, plan_seconds=time.perf_counter() - started)


def _warm(rife: dict[str, Any]) -> bool:
    """Whether the backend may be OpenVINO (whose converted network is cached per node)."""
    backend = rife.get("backend") or os.environ.get("VSRIFE_BACKEND")
    return backend != "torch" and not str(rife.get("device") or "").startswith("cuda")


def _model_sha(rife: dict[str, Any]) -> str | None:
    model = rife.get("model")
    return sha256_file(Path(model)) if model is not None and Path(model).is_file() else None


def chunk_jobs(fj: FileJob, settings: Settings, token: str) -> list[ChunkJob]:
    plan = fj.plan
    rife = plan.script_args["rife"]
    script = {k: v for k, v in plan.script_args.items() if k in ("source", "frames", "rife")}
    first = fj.facts.chunks[0]
    template = ChunkJob(
        file=fj.index,
        chunk=first,
        script_args=script,
        encoder=plan.encoder,
        encoder_options=plan.encoder_options,
        ffmpeg_args=plan.ffmpeg_args,
        threads=settings.threads,
        work_dir=str(fj.work),
        token=token,
        part=part_name(first),
        key=fj.manifest.key,
        warm=_warm(rife),
        model_sha256=_model_sha(rife),
        env=_forwarded_env(),
        verbose=plan.verbose,
    )
    return [replace(template, chunk=c, part=part_name(c)) for c in fj.manifest.missing()]


# ------------------------------------------------------------------------------------ joining

VIDEO_FILTERS = ("-vf", "-filter:v", "-filter:v:0")


def join_options(extra: Sequence[str]) -> tuple[str, ...]:
    """The options after ``--`` for the joining ffmpeg: all of them (muxer options, metadata, audio
    settings apply there; encoder options are unused by a stream copy) but the video filters, which
    ran when each chunk was encoded."""
    out: list[str] = []
    skip = False
    for arg in extra:
        if skip:
            skip = False
        elif arg in VIDEO_FILTERS:
            skip = True
        else:
            out.append(arg)
    return tuple(out)


def join(fj: FileJob) -> Result:
    """The output from the parts (in order) and the source's other streams; renamed into place only
    when ffmpeg succeeded."""
    fps = fj.facts.fps * fj.facts.factor
    listing = fj.work / "parts.ffconcat"
    lines = ["ffconcat version 1.0"]
    for c in fj.facts.chunks:
        lines += [f"file {part_name(c)}", f"duration {float(Fraction(c.frames) / fps):.9f}"]
    listing.write_text("\n".join(lines) + "\n")
    probe = dict(fj.manifest.done[0]["probe"])
    plan = replace(
        fj.plan,
        encoder="copy",
        encoder_options=tuple(copy_tags(probe.get("colour", {}))),
        ffmpeg_args=join_options(fj.plan.ffmpeg_args),
    )
    duration = float(Fraction(fj.total) / fps) if plan.duration_limited else None
    tmp = temp_output(plan.output)
    try:
        cmd = ffmpeg_command(plan, ["-f", "concat", "-safe", "0", "-i", str(listing)], tmp, duration=duration)
        if plan.verbose:
            print("vsrife: " + " ".join(cmd), file=sys.stderr)
        _ffmpeg(cmd, f"joining the parts of {plan.output}", EXIT_FFMPEG)
        os.replace(tmp, plan.output)
    finally:
        tmp.unlink(missing_ok=True)
    return Result(fj.total, time.perf_counter() - fj.started, {**probe, "frames": fj.total})


# ------------------------------------------------------------------------------------ running


class Driver:
    """The executor's hooks: records finished chunks, starts joins, shows progress."""

    def __init__(self, files: Sequence[FileJob], progress: Progress, run: str, keep_parts: bool) -> None:
        self.files = list(files)
        self.progress = progress
        self.run = run
        self.keep_parts = keep_parts
        self.board: dict[tuple[int, int], executors.Attempt] = {}
        self.shown_notes = 0
        self.joins: dict[int, concurrent.futures.Future[Result]] = {}
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vsrife-join")
        self.total = sum(f.total for f in self.files)
        self.names: dict[str, int] = {}
        for f in self.files:
            if not f.manifest.missing():
                self._join(f)

    def done_frames(self) -> int:
        return sum(int(e["frames"]) for f in self.files for e in f.manifest.done.values())

    def wanted(self, job: ChunkJob) -> bool:
        return self.files[job.file].error is None

    def finished(self, job: ChunkJob, result: ChunkResult) -> None:
        fj = self.files[job.file]
        chunk = fj.manifest.chunks[result.index]
        if result.data is not None:
            _write_part(fj.work / part_name(chunk), result)
        attempt = self.board.get((job.file, result.index))
        fj.manifest.record(chunk, result, self.run, attempt.attempts if attempt else 1)
        self._show()
        if not fj.manifest.missing():
            self._join(fj)

    def failed(self, job: ChunkJob, error: CliError) -> None:
        fj = self.files[job.file]
        if fj.error is None:
            fj.error = error
            self.progress.write(
                f"vsrife: {fj.plan.source}: chunk {job.chunk.index} (source frames "
                f"{job.chunk.start}-{job.chunk.stop - 1}) failed: {error}"
            )

    def tick(self, view: executors.View) -> None:
        self.board = view.attempts
        for text in view.notes[self.shown_notes :]:
            self.progress.write(text)
        self.shown_notes = len(view.notes)
        self._show()

    def _show(self) -> None:
        board = self.board
        running = {k: a for k, a in board.items() if not a.finished and k[1] not in self.files[k[0]].manifest.done}
        now = self.done_frames() + sum(
            min(a.done, self.files[f].facts.chunks[i].frames) for (f, i), a in running.items()
        )
        self.progress.update(min(now, self.total), self.total, self._detail(running))

    def _detail(self, running: dict[tuple[int, int], executors.Attempt], limit: int = 8) -> str:
        parts = []
        for (f, i), a in sorted(running.items(), key=lambda kv: self._worker(kv[1].worker)):
            where = f"{f + 1}:{i}" if len(self.files) > 1 else f"{i}"
            parts.append(f"w{self._worker(a.worker)} chunk {where} {a.done}/{self.files[f].facts.chunks[i].frames}")
        more = f", +{len(parts) - limit} more" if len(parts) > limit else ""
        return ", ".join(parts[:limit]) + more

    def _worker(self, name: str) -> int:
        return self.names.setdefault(name, len(self.names) + 1)

    def _join(self, fj: FileJob) -> None:
        self.joins[fj.index] = self.pool.submit(self._join_now, fj)

    def _join_now(self, fj: FileJob) -> Result:
        started = time.perf_counter()
        result = join(fj)
        fj.join_seconds = time.perf_counter() - started
        fj.result = result
        print(summary(fj.plan, result), flush=True)
        if not self.keep_parts:
            shutil.rmtree(fj.work, ignore_errors=True)
        return result

    def wait(self) -> None:
        self.pool.shutdown(wait=True)
        for index, future in self.joins.items():
            error = future.exception()
            if isinstance(error, CliError) and self.files[index].error is None:
                self.files[index].error = error
            elif error is not None:
                raise error


def _write_part(path: Path, result: ChunkResult) -> None:
    assert result.data is not None
    if hashlib.sha256(result.data).hexdigest() != result.sha256:
        raise CliError(f"chunk {result.index} arrived damaged (sha256 mismatch)", 1)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(result.data)
    os.replace(tmp, path)


def run(
    plans: Sequence[Plan], settings: Settings, log: IO[str] | None = None
) -> tuple[list[FileJob], list[tuple[Plan, CliError]]]:
    """Interpolate every planned file on the workers; returns the files with their results or errors,
    and those refused before any work (a file that cannot be split: the others go on; a single file's
    error is raised). Ctrl-C stops the workers and keeps the finished chunks for the next run."""
    log = log or sys.stderr
    files: list[FileJob] = []
    refused: list[tuple[Plan, CliError]] = []
    for p in plans:
        try:
            files.append(prepare(len(files), p, settings, log))  # the index is the position in ``files``
        except CliError as e:
            if len(plans) == 1:
                raise
            print(f"vsrife: skipping {p.source}: {e}", file=log)
            refused.append((p, e))
    if not files:
        return files, refused
    plans = [f.plan for f in files]
    token = secrets.token_hex(16)
    jobs = []
    for fj in files:
        (fj.work / "token").write_text(token)
        jobs += chunk_jobs(fj, settings, token)
    model_file = next((str(p.script_args["rife"]["model"]) for p in plans if _model_sha(p.script_args["rife"])), None)
    gpus = 1.0 if str(plans[0].script_args["rife"].get("device") or "").startswith("cuda") else 0.0
    executor = executors.choose(
        settings.workers, settings.threads, settings.retries, settings.address, settings.use_ray, gpus, model_file
    )
    todo = sum(len(f.manifest.missing()) for f in files)
    print(
        f"vsrife: {todo} chunk(s) of {sum(len(f.facts.chunks) for f in files)} to compute "
        f"({sum(f.total for f in files)} output frames in {len(files)} file(s)), on {executor.name}, "
        f"{settings.threads} thread(s) per worker",
        file=log,
    )
    progress = Progress(settings.progress, settings.progress_interval, log)
    driver = Driver(files, progress, secrets.token_hex(8), settings.keep_parts)
    try:
        if jobs:
            executor.run(jobs, driver)
        driver.wait()
    except KeyboardInterrupt:
        kept = sum(len(f.manifest.done) for f in files if f.result is None)
        with contextlib.suppress(Exception):
            progress.close()
        written = [str(f.plan.output) for f in files if f.result is not None]
        if written:  # finished before the interrupt: complete, and kept
            print(f"vsrife: written before the interrupt: {', '.join(written)}", file=log)
        if kept:
            print(
                f"vsrife: {kept} finished chunk(s) kept in {', '.join(str(f.work) for f in files if f.result is None)}; "
                "run the same command again to resume",
                file=log,
            )
        raise
    finally:
        progress.close()
    return files, refused
