"""Batch jobs: chunks that cannot change the result, on Ray and on local worker processes.

The chunk planner's promises are checked on their own (every output frame exactly once, aligned
starts) and on VapourSynth graphs (RIFE on each chunk's frames gives the whole run's frames, for
integer and rational factors, a midpoint-only model, scene cuts at and beside the borders). End to
end, ``vsrife batch`` and ``vsrife interpolate --workers`` are compared with one-process
``vsrife interpolate`` runs of the same settings into lossless codecs (x264 at CRF 0 with B-frames,
FFV1): decoded frames, their timestamps and the copied audio packets must be identical, also after a
worker is killed mid-chunk and after a run interrupted and resumed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsrife import cli, encode
from vsrife.batch import chunks, executors, job

from helpers import interruptible, random_clip, random_state, same_frames, save_state

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
RATE = "24000/1001"


# ------------------------------------------------------------------------------------ the planner


@pytest.mark.unit
@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 400),
    p=st.integers(1, 12),
    q=st.integers(1, 6),
    length=st.integers(1, 80),
    cuts=st.lists(st.integers(1, 399), max_size=12),
    window=st.integers(0, 20),
)
def test_chunks_cover_every_output_frame_once(
    n: int, p: int, q: int, length: int, cuts: list[int], window: int
) -> None:
    factor = Fraction(p, q)
    planned = chunks.plan(n, factor, length, [c for c in cuts if c < n], window)
    assert planned[0].start == 0 and planned[-1].end == n and planned[-1].final
    assert [c.out_start for c in planned[1:]] == [c.out_end for c in planned[:-1]]
    assert planned[-1].out_end == -(-n * p // q)  # ceil(n * factor): as long as the source
    for c in planned:
        assert chunks.aligned(c.start, factor) and c.out_start == c.start * factor
        assert c.stop == (c.end if c.final else c.end + 1) and c.stop - c.start >= 2
    assert sum(not c.final for c in planned) == len(planned) - 1


@pytest.mark.unit
def test_splits_move_to_nearby_cuts_only_onto_aligned_frames() -> None:
    # 40 frames of 23.976 -> 59.94 (x 5/2: starts on even frames), chunks of about 10 frames
    factor = Fraction(5, 2)
    assert chunks.nominal_starts(40, factor, 10) == [10, 20, 30]
    # a cut at 11 (odd) moves the split to 12, at 20 onto it, at 29 to 30; 14 is out of reach
    assert [c.start for c in chunks.plan(40, factor, 10, [11, 20, 29], 2)] == [0, 12, 20, 30]
    assert [c.start for c in chunks.plan(40, factor, 10, [14], 2)] == [0, 10, 20, 30]
    # the clearest cut in reach wins (fast motion can score above the threshold beside a real cut)
    assert [c.start for c in chunks.plan(40, factor, 10, {10: 0.014, 11: 0.1}, 2)] == [0, 12, 20, 30]
    assert [c.start for c in chunks.plan(40, factor, 10, {9: 0.1, 11: 0.1}, 2)] == [0, 10, 20, 30]
    # x 2400/1001 (25 -> 59.94) starts only every 1001 frames: a cut is not followed that far
    assert [c.start for c in chunks.plan(3000, Fraction(2400, 1001), 1000, [1500], 500)] == [0, 1001, 2002]
    with pytest.raises(ValueError, match="not a whole output frame"):
        chunks.make_chunks(40, factor, [11])


@pytest.mark.graph
@pytest.mark.parametrize("factor, model", [(Fraction(2), "v46"), (Fraction(5, 2), "v46"), (Fraction(5, 2), "hdv3")])
def test_rife_on_each_chunk_gives_the_frames_of_the_whole_run(
    factor: Fraction, model: str, v46_random: dict, hdv3_random: dict
) -> None:
    import vapoursynth as vs

    from vsrife import RIFE
    from vsrife.timing import Rate, make_plan

    # three shots; cuts at 6 (aligned for every factor here) and 9 (odd: beside a 5/2 border)
    clip = random_clip(6, 32, 32, seed=1) + random_clip(3, 32, 32, seed=2) + random_clip(5, 32, 32, seed=3)
    weights = v46_random if model == "v46" else hdv3_random
    depth = make_plan(clip, Rate(factor=factor), arbitrary_timestep=False).depth
    kw = {
        "factor_num": factor.numerator,
        "factor_den": factor.denominator,
        "model": weights,
        "backend": "torch",
        "bisect_depth": depth,
        "sc_threshold": 0.01,
    }
    whole = RIFE(clip, **kw)
    q = factor.denominator
    for starts in ([6], [4, 8] if q == 2 else [3, 9]):
        for c in chunks.make_chunks(clip.num_frames, factor, starts):
            part = RIFE(clip[c.start : c.stop], **kw)[: c.frames]
            assert part.num_frames == c.frames
            for j in range(c.frames):
                assert same_frames(part.get_frame(j), whole.get_frame(c.out_start + j)), (starts, c, j)
    assert whole.num_frames == -(-clip.num_frames * factor.numerator // q)
    assert isinstance(whole, vs.VideoNode)


@pytest.mark.unit
def test_without_ray_workers_are_local_processes_and_address_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    assert isinstance(executors.choose(2, 1, 3, None, None), executors.LocalExecutor)
    src = tmp_path / "in.mkv"
    src.write_bytes(b"x")
    assert cli.main(["batch", str(src), "-o", str(tmp_path / "out"), "--address", "auto"]) == encode.EXIT_FAILED
    err = capsys.readouterr().err
    assert "pip install 'vapoursynth-rife[cluster]'" in err and "Traceback" not in err
    monkeypatch.undo()
    assert isinstance(executors.choose(2, 1, 3, None, None), executors.RayExecutor)
    assert isinstance(executors.choose(2, 1, 3, None, False), executors.LocalExecutor)


# ------------------------------------------------------------------------------------ end to end


def _ffmpeg(*args: str) -> None:
    r = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _shots(path: Path, size: str, lengths: list[int], sources: list[str], start: float = 0.0) -> Path:
    """An FFV1 file of shots of different lavfi patterns (hard cuts between them) and a FLAC tone,
    both starting at ``start`` seconds."""
    graph = ";".join(
        f"{s}=s={size}:r={RATE},trim=end_frame={n},setpts=PTS-STARTPTS[s{i}]"
        for i, (s, n) in enumerate(zip(sources, lengths))
    )
    graph += (
        ";" + "".join(f"[s{i}]" for i in range(len(lengths))) + f"concat=n={len(lengths)}:v=1:a=0,format=yuv420p[v]"
    )
    seconds = sum(lengths) * 1001 / 24000
    _ffmpeg(
        "-filter_complex",
        graph,
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-map",
        "[v]",
        "-map",
        "0:a",
        "-c:v",
        "ffv1",
        "-c:a",
        "flac",
        "-output_ts_offset",
        str(start),
        str(path),
    )
    return path


def decoded(path: Path, stream: str = "0:v:0") -> list[str]:
    """Per decoded frame: timestamp, duration, size and md5 (ffmpeg's framemd5); audio packets as stored."""
    copy = ["-c", "copy"] if stream.startswith("0:a") else []
    r = subprocess.run(
        [FFMPEG, "-v", "error", "-copyts", "-i", str(path), "-map", stream, *copy, "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]


def assert_same_output(out: Path, ref: Path) -> None:
    frames = decoded(out)
    assert frames == decoded(ref) and frames  # every frame, bit for bit, at the same time
    assert decoded(out, "0:a:0") == decoded(ref, "0:a:0")  # the audio packets, at the same times


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    from vsrife import registry

    return str(save_state(random_state(registry.get_spec("4.6")), tmp_path_factory.mktemp("model") / "random_v46.pkl"))


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """160 x 120, 24 frames at 23.976 fps, cuts at 5 and 15, audio, starting at 0.5 s. In chunks of
    0.5 s (12 frames) at x 2, the split at 12 moves onto the cut at 15."""
    return _shots(
        tmp_path_factory.mktemp("shots") / "shots.mkv",
        "160x120",
        [5, 10, 9],
        ["testsrc2", "smptebars", "mandelbrot"],
        start=0.5,
    )


@pytest.fixture(autouse=True)
def _openvino(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command-line runs here use the CPU default, OpenVINO, with the graphs converted once for
    the session: each vspipe a worker starts then serves them without PyTorch (0.6 s instead of
    2.0 s for a chunk of these sizes on the torch backend)."""
    if "e2e" in request.node.keywords:
        monkeypatch.setenv("VSRIFE_BACKEND", "openvino")
        monkeypatch.setenv("VSRIFE_COMPILED_DIR", request.getfixturevalue("shared_compiled"))


LOSSLESS_X264 = ["--multi", "2", "--crf", "0", "--threads", "1"]  # libx264 veryfast: B-frames, lossless


@pytest.fixture(scope="module")
def reference(shots: Path, model_file: str, shared_compiled: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one-process run every x 2 batch run must equal."""
    out = tmp_path_factory.mktemp("reference") / "shots.mkv"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSRIFE_BACKEND", "openvino")
        mp.setenv("VSRIFE_COMPILED_DIR", shared_compiled)
        assert (
            cli.main(
                ["interpolate", str(shots), "-o", str(out), "--model", model_file, *LOSSLESS_X264, "--progress", "none"]
            )
            == 0
        )
    return out


@pytest.fixture(scope="module")
def local_ray():
    import ray

    env = dict(os.environ)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
    # ray.init sets RAY_* and PYTHONBREAKPOINT in this process's environment, which every later test
    # in the same (xdist worker) process would hand to its vspipe and CLI children
    os.environ.clear()
    os.environ.update(env)


def batch_args(model_file: str, *extra: str) -> list[str]:
    return [
        "--model",
        model_file,
        *LOSSLESS_X264,
        "--chunk-seconds",
        "0.5",
        "--progress",
        "plain",
        "--progress-interval",
        "0",
        *extra,
    ]


def manifest(output: Path) -> dict:
    return json.loads((job.work_dir(output) / "manifest.json").read_text())


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def kill_worker_mid_chunk(work: Path, done: threading.Event, killed: list[tuple[int, str]]) -> None:
    """Kill (SIGKILL) the worker process whose ffmpeg is encoding a part in ``work``: ffmpeg starts
    once the chunk's script has made its first frame, so the chunk is under way."""
    while not done.is_set() and not killed:
        for proc in Path("/proc").iterdir():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            part = Path(args[-2].decode()) if len(args) > 1 else None
            if part is not None and part.parent == work and ".partial" in part.name:
                worker = _ppid(int(proc.name))
                os.kill(worker, signal.SIGKILL)
                killed.append((worker, part.name))
                return
        time.sleep(0.005)


def run_with_a_killed_worker(argv: list[str], output: Path) -> tuple[int, str]:
    done, killed = threading.Event(), []
    killer = threading.Thread(target=kill_worker_mid_chunk, args=(job.work_dir(output), done, killed), daemon=True)
    killer.start()
    try:
        code = cli.main(argv)
    finally:
        done.set()
        killer.join()
    assert killed, "no worker was killed"
    return code, killed[0][1]


@pytest.mark.e2e
def test_batch_on_ray_equals_one_process_and_a_killed_worker_is_retried(
    shots: Path, reference: Path, model_file: str, local_ray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "b"):
        shutil.copy(shots, inputs / f"{name}.mkv")
    outdir = tmp_path / "out"
    argv = [
        "batch",
        str(inputs / "*.mkv"),
        "-o",
        str(outdir),
        "--workers",
        "3",
        "--keep-parts",
        *batch_args(model_file),
        "--",
        "-metadata",
        "comment=made in chunks",
    ]
    # one of a.mkv's chunks loses its worker (SIGKILL) mid-chunk: Ray runs it again
    code, part = run_with_a_killed_worker(argv, outdir / "a.mkv")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "4 chunk(s) of 4 to compute (96 output frames in 2 file(s)), on Ray, 1 thread(s) per worker" in captured.err
    assert re.search(r"frame \d+/96 .*; w\d chunk [12]:\d \d+/\d+", captured.err), captured.err  # whole job, per worker
    for name in ("a", "b"):
        out = outdir / f"{name}.mkv"
        assert re.search(rf"wrote {re.escape(str(out))}: 48 frames in .* at 47.952 fps, copied 1 audio", captured.out)
        assert_same_output(out, reference)
        assert [c["start"] for c in manifest(out)["chunks"]] == [0, 15]  # 12 moved onto the cut at 15
        info = subprocess.run([FFMPEG, "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
        assert re.search(r"comment\s+: made in chunks", info, re.I) and "start: 0.500000" in info, info
    index = int(re.search(r"part-(\d+)", part).group(1))
    attempts = {e["index"]: e["attempts"] for e in manifest(outdir / "a.mkv")["done"]}
    assert attempts[index] == 2 and sum(attempts.values()) == len(attempts) + 1
    assert all(e["attempts"] == 1 for e in manifest(outdir / "b.mkv")["done"])
    # a second run has nothing to do: outputs that exist are skipped
    assert cli.main(["batch", str(inputs / "*.mkv"), "-o", str(outdir), *batch_args(model_file)]) == 0
    assert capsys.readouterr().err.count("exists; skipping") == 2


@pytest.mark.e2e
def test_resume_computes_only_missing_chunks_and_local_workers_retry(
    shots: Path, reference: Path, model_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shots.mkv"
    argv = [
        sys.executable,
        "-m",
        "vsrife",
        "interpolate",
        str(shots),
        "-o",
        str(out),
        "--workers",
        "2",
        "--no-ray",
        "--keep-parts",
        *batch_args(model_file, "--chunk-seconds", "0.25"),
    ]  # 6 frames a chunk: 4 chunks
    env = dict(os.environ)  # the OpenVINO backend and the graphs the reference converted
    first = subprocess.Popen(
        interruptible(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # Ctrl-C once two chunks are finished
        try:
            if len(manifest(out)["done"]) >= 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    assert re.search(r"vsrife: [234] finished chunk\(s\) kept in .*; run the same command again to resume", err), err
    before = {e["index"]: e for e in manifest(out)["done"]}
    assert 2 <= len(before) < 4 and not out.exists()
    mtimes = {i: (job.work_dir(out) / e["file"]).stat().st_mtime_ns for i, e in before.items()}
    # the same command again, in-process, with a worker killed mid-chunk
    code, killed = run_with_a_killed_worker(argv[3:], out)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"{len(before)} of 4 chunks already done" in captured.err
    assert f"{4 - len(before)} chunk(s) of 4 to compute" in captured.err
    after = {e["index"]: e for e in manifest(out)["done"]}
    assert sorted(after) == [0, 1, 2, 3]
    assert {i for i, e in after.items() if e["run"] != before.get(i, {}).get("run")} == set(range(4)) - set(before)
    assert all((job.work_dir(out) / before[i]["file"]).stat().st_mtime_ns == mtimes[i] for i in before)
    assert after[int(re.search(r"part-(\d+)", killed).group(1))]["attempts"] == 2
    assert_same_output(out, reference)


@pytest.mark.e2e
def test_a_worker_that_does_not_share_the_output_directory_returns_its_part(
    shots: Path, model_file: str, tmp_path: Path
) -> None:
    # a node of a cluster without a shared file system: the token in the work directory is not the
    # driver's, so the part comes back as bytes (through Ray's object store) and the driver writes it
    from dataclasses import replace

    from vsrife.batch import command, worker

    out = tmp_path / "shots.mkv"
    args = cli.build_parser().parse_args(
        ["interpolate", str(shots), "-o", str(out), "--workers", "1", *batch_args(model_file)]
    )
    args.ffmpeg_args = []
    settings = command.settings_of(args)
    fj = job.prepare(0, cli.plan_interpolate(args), settings, sys.stderr)
    (fj.work / "token").write_text("the driver's")
    last = job.chunk_jobs(fj, settings, "the driver's")[-1]
    result = worker.run_chunk(replace(last, token="another node's"), lambda done, total: None)
    assert result.data is not None and not list(fj.work.glob("*part-*"))  # nothing written beside the output
    driver = job.Driver([fj], encode.Progress("none"), "run", keep_parts=True)
    with pytest.raises(encode.CliError, match="arrived damaged"):
        driver.finished(last, replace(result, data=result.data[:-1] + b"?"))
    driver.finished(last, result)
    assert (fj.work / last.part).read_bytes() == result.data
    assert fj.manifest.done[last.chunk.index]["sha256"] == result.sha256 == worker.sha256_file(fj.work / last.part)
    driver.pool.shutdown()


@pytest.fixture(scope="module")
def cut_shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 x 48, 40 frames, cuts at 11, 20 and 29. At 23.976 -> 59.94 (x 5/2) chunks start on even
    frames: in chunks of 10 frames the splits land at 12 (one frame after a cut), 20 (on a cut) and
    30 (one frame after a cut)."""
    return _shots(
        tmp_path_factory.mktemp("cuts") / "cuts.mkv",
        "64x48",
        [11, 9, 9, 11],
        ["testsrc2", "smptebars", "mandelbrot", "rgbtestsrc"],
    )


@pytest.mark.e2e
def test_fps_change_openvino_cuts_at_and_beside_borders(
    cut_shots: Path,
    model_file: str,
    local_ray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # OpenVINO, the CPU default, gives the same frames with any thread count: the one process runs
    # with this machine's threads, each worker with one. The workers start together on an empty
    # graph cache: the first converts the network while the others wait, then they read it.
    monkeypatch.setenv("VSRIFE_BACKEND", "openvino")
    monkeypatch.setenv("VSRIFE_COMPILED_DIR", str(tmp_path / "compiled"))
    common = ["--fps", "60000/1001", "--model", model_file, "--encoder", "ffv1", "--progress", "none"]
    out = tmp_path / "out.mkv"
    assert (
        cli.main(
            [
                "interpolate",
                str(cut_shots),
                "-o",
                str(out),
                "--workers",
                "3",
                "--chunk-seconds",
                "0.42",
                "--keep-parts",
                *common,
            ]
        )
        == 0
    ), capsys.readouterr().err
    err = capsys.readouterr().err
    assert err.count("RIFE: converted 4.6 for OpenVINO") == 1, err  # by the node's first chunk, once
    graphs = [p for p in (tmp_path / "compiled").iterdir() if p.is_dir() and p.name not in ("blobs", "recognised")]
    assert len(graphs) == 1
    ref = tmp_path / "ref.mkv"
    assert cli.main(["interpolate", str(cut_shots), "-o", str(ref), *common]) == 0
    assert "converted" not in capsys.readouterr().err  # the one process found the workers' graph
    assert_same_output(out, ref)
    assert len(decoded(out)) == 100  # ceil(40 x 5/2)
    assert [c["start"] for c in manifest(out)["chunks"]] == [0, 12, 20, 30]


# ------------------------------------------------------------------------------------ refusals


@pytest.mark.e2e
def test_what_batch_refuses(shots: Path, model_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def error(argv: list[str]) -> tuple[int, str]:
        code = cli.main(argv)
        lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("vsrife: ") and "Traceback" not in "\n".join(lines)
        return code, lines[-1]

    out = tmp_path / "o"
    code, line = error(["batch", str(shots), "-o", str(out), "--model", model_file, "--held-frames"])
    assert code == encode.EXIT_USAGE and "--held-frames needs the whole clip's timing" in line
    code, line = error(["interpolate", "--workers", "2", "-o", str(tmp_path / "d.mkv")])
    assert code == encode.EXIT_USAGE and "the demo clip runs without them" in line
    other = tmp_path / "x" / "shots.mp4"
    other.parent.mkdir()
    shutil.copy(shots, other)
    code, line = error(["batch", str(shots), str(other), "-o", str(out), "--model", model_file])
    assert code == encode.EXIT_USAGE and "would both be written to" in line
    code, line = error(["batch", str(tmp_path / "none*.mkv"), "-o", str(out)])
    assert code == encode.EXIT_USAGE and "no input file matches" in line
    code, line = error(["batch", str(shots), "-o", str(out), "--model", model_file, "--", "-bogus", "1"])
    assert code == encode.EXIT_USAGE and "ffmpeg rejects these settings" in line
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.unit
def test_the_resume_key_changes_when_the_model_file_is_rewritten(tmp_path: Path) -> None:
    """Finished chunks made with other weights are not reused: a checkpoint rewritten in place (an
    adaptation written again, same path) kept the old model's chunks (found by hostile testing)."""
    from types import SimpleNamespace

    ckpt = tmp_path / "mine.pkl"
    ckpt.write_bytes(b"weights one")
    plan = encode.Plan(
        ffmpeg="ffmpeg", vspipe="vspipe", output=tmp_path / "o.mkv", script_args={"rife": {"model": str(ckpt)}}
    )
    facts = SimpleNamespace(chunks=())
    first = job._key(plan, facts, 1)  # type: ignore[arg-type]
    assert job._key(plan, facts, 1) == first  # type: ignore[arg-type]
    ckpt.write_bytes(b"weights two")  # the same path: the key had only the path
    assert job._key(plan, facts, 1) != first  # type: ignore[arg-type]


@pytest.mark.e2e
def test_one_bad_input_does_not_stop_the_others(
    shots: Path, reference: Path, model_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file, a file that is no video, a 1-frame clip that cannot be split, and an output
    whose parts directory cannot be made are each named and skipped; the good file is written and
    the exit code says that files failed. Before, the first stopped the batch, and the last two
    were 'unexpected error' tracebacks' last lines (found by hostile testing)."""
    junk = tmp_path / "in" / "junk.mkv"
    junk.parent.mkdir()
    junk.write_bytes(b"no video")
    one = _shots(tmp_path / "in" / "one.mkv", "160x120", [1], ["testsrc2"])
    blocked = shutil.copy(shots, tmp_path / "in" / "blocked.mkv")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".blocked.mkv.parts").write_text("a file where the parts directory goes")
    argv = [
        "batch",
        str(shots),
        str(tmp_path / "in" / "missing.mkv"),
        str(junk),
        str(one),
        str(blocked),
        "-o",
        str(out),
    ]
    code = cli.main([*argv, *batch_args(model_file, "--workers", "1", "--no-ray")])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and "unexpected error" not in err, err
    for name, why in (
        ("missing", "does not exist"),
        ("junk", ""),
        ("one", "cannot be split"),
        ("blocked", "cannot write to"),
    ):
        assert re.search(rf"vsrife: skipping .*{name}\.mkv: .*{why}", err), (name, err)
    assert err.strip().splitlines()[-1] == "vsrife: 4 of 5 files failed", err
    assert_same_output(out / "shots.mkv", reference)
