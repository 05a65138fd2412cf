#!/usr/bin/env python3
"""Whether starting each pair's work ahead (``Engine.begin``, ``VSRIFE_PIPELINE``) pays on a device:
``vspipe -c y4m | ffmpeg -f null`` on the same x264 file with pipelining off and on, taking turns
(the order alternates from round to round), and the ratio of the two steady rates (pipeline full)
in each round. On a shared VM the speed drifts by tens of percent over minutes, so only the ratios
within rounds mean something; their median is printed with every round's. Usage:

  .venv/bin/python scripts/pipeline_ab.py [--device cpu|cuda] [--size 720x528] [--frames 64] [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    import bench

    from vsrife.engine import PIPELINE_ENV

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="4.25")
    ap.add_argument("--size", default="720x528")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    times: dict[bool, list[float]] = {False: [], True: []}
    cores: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="vsrife-ab-") as tmp:
        path = bench.source_file(w, h, args.frames, Path(tmp) / "source.mkv")
        for r in range(args.rounds):
            for on in (False, True) if r % 2 == 0 else (True, False):
                os.environ[PIPELINE_ENV] = str(int(on))
                run = bench.vspipe(args.model, path, {"device": args.device})  # sc=False, as bench's vspipe row
                times[on].append(run["steady"])
                cores[on].append(run["cores"])
            print(
                f"round {r}: off {times[False][-1]:.4f} s, on {times[True][-1]:.4f} s per pair, "
                f"on/off {times[True][-1] / times[False][-1]:.3f}",
                flush=True,
            )
    ratios = [on / off for on, off in zip(times[True], times[False], strict=True)]
    for on in (False, True):
        print(
            f"pipelining {'on ' if on else 'off'}: median {statistics.median(times[on]):.4f} s per pair, "
            f"{statistics.median(cores[on]):.2f} cores busy"
        )
    print(f"on / off, median of the rounds: {statistics.median(ratios):.3f} ({', '.join(f'{x:.3f}' for x in ratios)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
