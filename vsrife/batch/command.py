"""``vsrife batch`` and ``vsrife interpolate --workers N``: the command-line side of batch jobs
(inputs and outputs, the worker settings, exit codes). The parser is in :mod:`vsrife.cli`."""

from __future__ import annotations

import argparse
import glob
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..encode import EXIT_USAGE, CliError, Plan, announce
from . import executors, job

PlanFile = Callable[[argparse.Namespace], Plan]
"""The checks and plan of one ``vsrife interpolate`` (``cli.plan_interpolate``)."""

GLOB_CHARS = frozenset("*?[")


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files named or matched by glob patterns (for shells that do not expand them), in order,
    each once."""
    out: list[Path] = []
    for pattern in patterns:
        if GLOB_CHARS & set(pattern) and not Path(pattern).exists():
            matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
            if not matches:
                raise CliError(f"no input file matches {pattern!r}")
            out += [Path(m) for m in matches if Path(m).is_file()]
        else:
            out.append(Path(pattern).expanduser())
    seen: set[Path] = set()
    unique = [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]  # type: ignore[func-returns-value]
    if not unique:
        raise CliError("no input files")
    return unique


def _default_threshold() -> float:
    from ..scene import DEFAULT_THRESHOLD

    return DEFAULT_THRESHOLD


def settings_of(args: argparse.Namespace) -> job.Settings:
    if args.retries < 0:
        raise CliError(f"--retries {args.retries}: must be 0 or more")
    executors.have_ray(args.address, False if args.no_ray else None)  # a cluster that cannot be had: say so first
    threads = args.threads
    if threads is None:
        local = args.address is None
        threads = max(1, (os.cpu_count() or 1) // args.workers) if args.workers and local else 1
    return job.Settings(
        workers=args.workers,
        threads=threads,
        chunk_seconds=args.chunk_seconds,
        retries=args.retries,
        address=args.address,
        use_ray=False if args.no_ray else None,
        keep_parts=args.keep_parts,
        sc_threshold=args.sc_threshold if args.sc_threshold is not None else _default_threshold(),
        progress=args.progress,
        progress_interval=args.progress_interval,
    )


def _outcome(files: list[job.FileJob], refused: Sequence[tuple[Any, CliError]] = ()) -> int:
    """0 when every file was written; otherwise each failure named (files refused before any work
    among them) and the first one's exit code."""
    failed = [(f.plan.source, f.error) for f in files if f.error is not None or f.result is None]
    failed += [(source, e) for source, e in refused]
    if not failed:
        return 0
    total = len(files) + len(refused)
    if total > 1:
        for source, error in failed:
            print(f"vsrife: failed: {source}: {error}", file=sys.stderr)
        first = failed[0][1]
        raise CliError(f"{len(failed)} of {total} files failed", first.code if first else 1)
    error = failed[0][1]
    raise error if error is not None else CliError("the job did not finish", 1)


def run_plans(plans: list[Plan], settings: job.Settings, refused: Sequence[tuple[Any, CliError]] = ()) -> int:
    for plan in plans:
        job.refuse_unsplittable(plan.script_args["rife"])
    job.dry_run_parts(plans[0], settings.threads)
    for plan in plans:
        announce(plan, sys.stderr)
    files, more = job.run(plans, settings)
    return _outcome(files, [*refused, *((p.source, e) for p, e in more)])


def interpolate_command(args: argparse.Namespace, plan_file: PlanFile) -> int:
    """``vsrife interpolate INPUT --workers N``: the one file in chunks."""
    if args.input is None:
        raise CliError("--workers and --address split an input file; the demo clip runs without them")
    settings = settings_of(args)
    job.refuse_unsplittable({"held_frames": args.held_frames})
    return run_plans([plan_file(args)], settings)


def batch_command(args: argparse.Namespace, plan_file: PlanFile) -> int:
    """``vsrife batch INPUTS... -o DIR``: every input into DIR (``STEM.CONTAINER``)."""
    settings = settings_of(args)
    job.refuse_unsplittable({"held_frames": args.held_frames})
    outdir = Path(args.output_dir).expanduser()
    if outdir.exists() and not outdir.is_dir():
        raise CliError(f"-o {outdir}: not a directory")
    plans: list[Plan] = []
    refused: list[tuple[Path, CliError]] = []
    targets: dict[Path, Path] = {}
    for source in expand_inputs(args.inputs):
        output = outdir / f"{source.stem}.{args.container.lstrip('.')}"
        if output in targets:
            raise CliError(f"{source} and {targets[output]} would both be written to {output}", EXIT_USAGE)
        targets[output] = source
        if output.exists() and not args.overwrite:
            print(f"vsrife: {output} exists; skipping {source} (--overwrite to redo it)", file=sys.stderr)
            continue
        try:
            plans.append(
                plan_file(
                    argparse.Namespace(**{**vars(args), "input": str(source), "output": str(output), "size": None})
                )
            )
        except CliError as e:  # this file's problem (missing, unreadable): the others go on
            print(f"vsrife: skipping {source}: {e}", file=sys.stderr)
            refused.append((source, e))
    if not plans:
        if refused:
            return _outcome([], refused)
        print("vsrife: nothing to do", file=sys.stderr)
        return 0
    return run_plans(plans, settings, refused)
