#!/usr/bin/env python3
"""A long run through vspipe, watching memory: by default 20,000 output frames (10,000 source frames
doubled) at 320x240, RGB from a moving real photograph converted to YUV420P8, scene detection on.

Reports the peak RSS, the resident memory at 10/25/50/75/100 % of the frames, and its growth over
the second half of the run (the median over the last 10 % of the frames against the median around
50 %; the highest figure is printed too: resident memory breathes by a few per cent between the
inference thread's heap trims); the target is flat (at most 2 % growth). VapourSynth's own frame caches and buffer pools fill during the
first part of a run (up to ``core.max_cache_size``, see ``--max-cache-mb``) and then stay level, so
growth is judged once they have filled; a leak keeps growing. Usage:

  .venv/bin/python scripts/longrun.py [--frames 20000] [--size 320x240] [--model 4.25] [--backend ...]
                                      [--max-cache-mb N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

VPY = """
import vapoursynth as vs
import numpy as np
import vsrife
{cache}
from vsrife.synthetic import photo, window
w, h, n = {w}, {h}, {n}
img = photo("coffee")
blank = vs.core.std.BlankClip(format=vs.RGBS, width=w, height=h, length=n, fpsnum=24000, fpsden=1001)
def fill(n, f):
    out = f.copy()
    x = 40 + 60 * np.sin(n / 37.0)  # back and forth over the photograph: endless motion
    y = 30 + 20 * np.cos(n / 53.0)
    pic = window(img, x, y, w, h)
    for p in range(3):
        np.copyto(np.asarray(out[p]), pic[p])
    return out
src = blank.std.ModifyFrame(blank, fill).resize.Bicubic(format=vs.YUV420P8, matrix_s="709")
vsrife.RIFE(src, 2, model={model!r}, backend={backend!r}).set_output()
"""


def main() -> int:
    import vspipe_run

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=20_000, help="output frames")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--model", default="4.25")
    ap.add_argument("--backend", default=None)
    ap.add_argument("--max-cache-mb", type=int, default=None, help="core.max_cache_size (default: VapourSynth's)")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    cache = "" if args.max_cache_mb is None else f"vs.core.max_cache_size = {args.max_cache_mb}"
    script = VPY.format(w=w, h=h, n=args.frames // 2, model=args.model, backend=args.backend, cache=cache)
    res = vspipe_run.run(script, interval=0.5)
    live = res.after_first()
    at = {p: live[min(len(live) - 1, int(p / 100 * len(live)))].rss_kb / 1024 for p in (10, 25, 50, 75)}
    at[100] = live[-1].rss_kb / 1024
    n = len(live)
    middle = statistics.median(s.rss_kb for s in live[int(0.45 * n) : max(int(0.55 * n), int(0.45 * n) + 1)]) / 1024
    end = statistics.median(s.rss_kb for s in live[int(0.9 * n) :]) / 1024
    top = max(s.rss_kb for s in live[n // 2 :]) / 1024
    growth = (end - middle) / middle
    print(
        f"{res.frames} frames at {args.size} in {res.seconds:.0f} s ({res.frames / res.seconds:.1f} fps), "
        f"{res.cores:.2f} cores busy"
    )
    print("resident MB at " + ", ".join(f"{p} %: {v:.0f}" for p, v in at.items()))
    print(
        f"peak RSS {res.peak_mb:.0f} MB; resident (median) over the last 10 % {end:.0f} MB against {middle:.0f} MB "
        f"around 50 %: growth {growth:+.2%} (highest in the second half {top:.0f} MB)"
    )
    return 0 if growth <= 0.02 else 1


if __name__ == "__main__":
    raise SystemExit(main())
