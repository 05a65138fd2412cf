"""Batch throughput on this machine, and a model of N machines built from what is measured here.

Measured (interleaved, ``--reps`` rounds, real footage, the default model and backend):

* ``one process``: ``vsrife interpolate`` (no chunks, the machine's threads);
* ``1 worker x 2 threads`` and ``2 workers x 1 thread``: ``vsrife interpolate --workers`` (the batch
  machinery: Ray where installed, started once here; local processes otherwise) in chunks;
* the same 2 x 1 configuration with half as many, twice as long chunks, which separates a chunk's
  fixed cost ``a`` (worker start, vspipe, model and graph load, encoder start) from its cost per
  output frame ``b``: the summed chunk times are ``C * a + F * b`` for ``C`` chunks of ``F`` frames;
* the split (opening and analysing the source, per split point), timed by the driver, and the
  merge: the stream copy of the parts joined once and 40 times over (fixed cost, cost per frame).

Modelled, not measured: a film of ``--film-hours`` of the same content on N such machines (2 worker
slots each, the 2 x 1 configuration). Chunks are planned as the batch planner does (each split moved
by up to a quarter chunk, at most 2 s, towards a cut; here uniformly at random), each costs
``a + b * frames``, the chunks go to the first free slot in order (as Ray's queue hands them out),
then the merge runs. Printed: the expected speed-up over one machine for 1, 4, 16, 64 machines at a
few chunk lengths, and the chunk length above which the fixed costs stay under 5 % of the work.

Other agents may share the cores: the load average is recorded with every run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

CONFIGS = [
    ("one process", None, None, 1),
    ("1 worker x 2 threads", 1, 2, 1),
    ("2 workers x 1 thread", 2, 1, 1),
    ("2 workers x 1 thread, chunks x 2", 2, 1, 2),
]
"""(name, workers, threads, chunk length multiplier)."""


def load() -> float:
    return os.getloadavg()[0]


def one_process(src: Path, out: Path, frames: int, model: str | None) -> dict[str, Any]:
    from vsrife import cli

    argv = ["interpolate", str(src), "-o", str(out), "--frames", str(frames), "--encoder", "ffv1", "--progress", "none"]
    started = time.perf_counter()
    code = cli.main(argv + (["--model", model] if model else []))
    assert code == 0, f"vsrife interpolate failed ({code})"
    return {"wall": time.perf_counter() - started, "frames": 2 * frames}


def batch(
    src: Path,
    out: Path,
    frames: int,
    model: str | None,
    workers: int,
    threads: int,
    chunk_seconds: float,
    keep: bool = False,
) -> dict[str, Any]:
    from vsrife import cli
    from vsrife.batch import job

    argv = [
        "interpolate",
        str(src),
        "-o",
        str(out),
        "--frames",
        str(frames),
        "--encoder",
        "ffv1",
        "--progress",
        "none",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--chunk-seconds",
        str(chunk_seconds),
    ]
    args = cli.build_parser().parse_args(argv + (["--model", model] if model else []))
    args.ffmpeg_args = []
    started = time.perf_counter()
    plan = cli.plan_interpolate(args)
    settings = job.Settings(
        workers=workers, threads=threads, chunk_seconds=chunk_seconds, retries=0, progress="none", keep_parts=keep
    )
    (fj,) = job.run([plan], settings, log=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    wall = time.perf_counter() - started
    assert fj.result is not None, fj.error
    times = [float(e["seconds"]) for e in fj.manifest.done.values()]
    return {
        "wall": wall,
        "frames": fj.total,
        "chunks": len(fj.facts.chunks),
        "chunk_seconds": times,
        "chunk_frames": [c.frames for c in fj.facts.chunks],
        "split": fj.plan_seconds,
        "merge": fj.join_seconds,
    }


def measure(src: Path, frames: int, chunk_seconds: float, reps: int, model: str | None) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="vsrife-bench-") as tmp:
        for rep in range(reps):
            for name, workers, threads, mult in CONFIGS:
                out = Path(tmp) / f"{rep}-{len(rows)}.mkv"
                before = load()
                if workers is None:
                    row = one_process(src, out, frames, model)
                else:
                    row = batch(src, out, frames, model, workers, threads, chunk_seconds * mult, keep=True)
                    row["merge_copies"] = merge_costs(out)
                row |= {"config": name, "rep": rep, "load_before": before, "load_after": load()}
                row["fps"] = row["frames"] / row["wall"]
                rows.append(row)
                print(
                    f"  {name:<34} rep {rep}: {row['frames']} frames in {row['wall']:6.1f} s = {row['fps']:5.2f} fps "
                    f"(load {before:.2f} -> {row['load_after']:.2f})",
                    flush=True,
                )
                shutil.rmtree(out.with_name(f".{out.name}.parts"), ignore_errors=True)
                out.unlink(missing_ok=True)
    return rows


MERGE_COPIES = 40


def merge_costs(output: Path) -> dict[str, float]:
    """Seconds to stream-copy the kept parts of ``output`` into one file, once and ``MERGE_COPIES``
    times over, with the output's frame count."""
    import subprocess

    import imageio_ffmpeg

    from vsrife.batch import job

    work = job.work_dir(output)
    parts = sorted(work.glob("part-*.nut"))
    out = {}
    for copies in (1, MERGE_COPIES):
        listing = work / f"bench-{copies}.ffconcat"
        listing.write_text("ffconcat version 1.0\n" + "".join(f"file {p.name}\n" for p in parts) * copies)
        started = time.perf_counter()
        subprocess.run(
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                "-v",
                "error",
                "-y",
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                str(listing),
                "-c",
                "copy",
                str(work / f"bench-{copies}.mkv"),
            ],
            check=True,
        )
        out[str(copies)] = time.perf_counter() - started
    return out


def calibrate(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per-chunk fixed cost a and per-output-frame cost b (2 x 1 runs, two chunk lengths), split cost
    per split point and base, merge cost per output frame."""
    short = [r for r in rows if r["config"] == "2 workers x 1 thread"]
    long = [r for r in rows if r["config"] == "2 workers x 1 thread, chunks x 2"]
    work_s = sum(sum(r["chunk_seconds"]) for r in short) / len(short)
    work_l = sum(sum(r["chunk_seconds"]) for r in long) / len(long)
    c_s, c_l = short[0]["chunks"], long[0]["chunks"]
    frames = short[0]["frames"]
    a = max(0.0, (work_s - work_l) / (c_s - c_l))
    b = (work_s - c_s * a) / frames
    split_s = sum(r["split"] for r in short) / len(short)
    split_l = sum(r["split"] for r in long) / len(long)
    per_point = max(0.0, (split_s - split_l) / (c_s - c_l))
    copies = [r["merge_copies"] for r in short + long]
    once = sum(c["1"] for c in copies) / len(copies)
    many = sum(c[str(MERGE_COPIES)] for c in copies) / len(copies)
    per_frame = max(0.0, (many - once) / ((MERGE_COPIES - 1) * frames))
    return {
        "a": a,
        "b": b,
        "split_base": max(0.0, split_l - per_point * (c_l - 1)),
        "split_per_point": per_point,
        "merge_base": max(0.0, once - per_frame * frames),
        "merge_per_frame": per_frame,
        "merge_measured": sum(r["merge"] for r in short + long) / len(short + long),
    }


def plan_sizes(total_src: int, length: int, fps: float, rng: random.Random) -> list[int]:
    """Source frames per chunk, as the planner makes them: nominal splits each moved by up to the
    window (a quarter chunk, at most 2 s) towards a cut (placed at random)."""
    count = max(1, round(total_src / length))
    window = min(length // 4, round(2 * fps))
    starts = [0]
    for i in range(1, count):
        starts.append(max(starts[-1] + 1, round(i * total_src / count) + rng.randint(-window, window)))
    starts.append(total_src)
    return [b - a for a, b in itertools.pairwise(starts) if b > a]


def makespan(durations: list[float], slots: int) -> float:
    """Chunks handed out in order to the first free of ``slots``."""
    free = [0.0] * slots
    for d in durations:
        i = min(range(slots), key=free.__getitem__)
        free[i] += d
    return max(free)


def model(
    cal: dict[str, float],
    film_hours: float,
    fps: float,
    factor: int,
    chunk_s: float,
    nodes: int,
    slots_per_node: int = 2,
    seed: int = 0,
) -> float:
    """Modelled wall time (s) of the film on ``nodes`` machines."""
    rng = random.Random(seed)
    total_src = round(film_hours * 3600 * fps)
    sizes = plan_sizes(total_src, max(2, round(chunk_s * fps)), fps, rng)
    durations = [cal["a"] + cal["b"] * factor * n for n in sizes]
    split = cal["split_base"] + cal["split_per_point"] * (len(sizes) - 1)
    merge = cal["merge_base"] + cal["merge_per_frame"] * factor * total_src
    # each node prepares itself once (model, converted graph) at about a chunk's fixed cost
    return split + cal["a"] + makespan(durations, nodes * slots_per_node) + merge


def overhead_share(cal: dict[str, float], chunk_s: float, fps: float, factor: int, film_hours: float) -> float:
    """The fixed costs (per chunk, split, merge) as a share of one machine's total time."""
    frames = film_hours * 3600 * fps * factor
    chunks = max(1, round(film_hours * 3600 / chunk_s))
    fixed = (
        chunks * cal["a"]
        + cal["split_base"]
        + cal["split_per_point"] * (chunks - 1)
        + cal["merge_base"]
        + cal["merge_per_frame"] * frames
    )
    return fixed / (fixed + cal["b"] * frames)


def main() -> int:
    from helpers import footage

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="bikes", help="footage name from tests/helpers.py (bikes: 640x272 25 fps)")
    ap.add_argument("--frames", type=int, default=96, help="source frames interpolated per run (x 2)")
    ap.add_argument(
        "--chunk-seconds",
        type=float,
        default=0.96,
        help="chunk length of the measured runs (s): 4 chunks of 24 frames, 2 per worker, so that the runs with twice as long chunks still keep both workers busy",
    )
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--model", default=None, help="model (default: the default model)")
    ap.add_argument("--film-hours", type=float, default=2.0)
    ap.add_argument("--json", type=Path, default=None, help="write measurements and model here")
    args = ap.parse_args()

    src = footage(args.clip)
    use_ray = True
    try:
        import ray

        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except ImportError:
        use_ray = False
    print(
        f"{src.name}: {args.frames} source frames x 2, chunks of {args.chunk_seconds} s, "
        f"{'Ray (started once)' if use_ray else 'local worker processes'}, {os.cpu_count()} cores; "
        f"load average at start {os.getloadavg()}",
        flush=True,
    )
    rows = measure(src, args.frames, args.chunk_seconds, args.reps, args.model)
    cal = calibrate(rows)
    fps = 25.0
    print("\nmeasured (mean over reps; output frames per second of wall time):")
    for name, *_ in CONFIGS:
        mine = [r for r in rows if r["config"] == name]
        print(
            f"  {name:<34} {sum(r['fps'] for r in mine) / len(mine):6.2f} fps "
            f"(load {min(r['load_before'] for r in mine):.2f}-{max(r['load_after'] for r in mine):.2f})"
        )
    print(
        f"  chunk cost a = {cal['a']:.2f} s fixed + b = {1000 * cal['b']:.1f} ms per output frame (1 thread, "
        f"2 workers sharing the cores); split {cal['split_base']:.2f} s + {cal['split_per_point']:.2f} s per split "
        f"point; merge {cal['merge_base']:.2f} s + {1e6 * cal['merge_per_frame']:.1f} us per output frame "
        f"(the job's own joins: {cal['merge_measured']:.2f} s)"
    )
    print(
        f"\nMODELLED, not measured: a {args.film_hours:g} h film of this content (x 2), N machines like this one "
        "(2 x 1 thread each)"
    )
    table: dict[str, dict[int, float]] = {}
    for chunk_s in (10, 30, 60, 120, 300):
        base = model(cal, args.film_hours, fps, 2, chunk_s, 1)
        table[str(chunk_s)] = {n: base / model(cal, args.film_hours, fps, 2, chunk_s, n) for n in (1, 4, 16, 64)}
        print(
            f"  chunks of {chunk_s:>3} s: speed-up "
            + ", ".join(f"{n} nodes {v:5.1f}x" for n, v in table[str(chunk_s)].items())
        )
    shares = {s: overhead_share(cal, s, fps, 2, args.film_hours) for s in range(1, 601)}
    under = next((s for s, v in shares.items() if v < 0.05), None)
    print(f"  fixed costs under 5 % of the work from chunks of {under} s on (at 60 s: {100 * shares[60]:.1f} %)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": rows,
                    "calibration": cal,
                    "speedup": table,
                    "chunk_s_under_5pct": under,
                    "share_at_60s": shares[60],
                },
                indent=1,
            )
        )
    if use_ray:
        ray.shutdown()
    return 0 if math.isfinite(cal["b"]) else 1


if __name__ == "__main__":
    sys.exit(main())
