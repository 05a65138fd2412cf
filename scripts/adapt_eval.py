"""Does adapting the network to a video make its in-between frames better? Measure it on any video.

    python scripts/adapt_eval.py VIDEO [VIDEO ...] [--seconds S] [--frames N] [--variant NAME:key=value,...]

Protocol (the one issue 12 measured with): the video, as non-linear RGB, is cut to its even frames;
that is "the user's video". The model is adapted on it (``vsrife.adaptation.adapt_clip``: its
triplets n - 1, n, n + 1, i.e. original frames j - 2, j, j + 2 with j even), then the even-frame
video is interpolated 2x with the base and with the adapted weights, and every in-between frame is
compared with the original odd frame, which adaptation never saw. Reported per video: mean PSNR of
the odd frames before and after, the gain (also over only the frames RIFE interpolated, leaving out
those it repeats at scene cuts, where no weights can change anything), the adaptation time and, for
scale, the time the base model took to interpolate the same (even-frame) video 2x. Several ``--variant``s (settings
overrides, e.g. ``plain:loss=l1,scales=[1]``) share one "before" pass.

Wall-clock times depend on the machine and its load: the load average is printed before and after.
Real footage is the point; photographs moved by a known motion (``vsrife.synthetic``) are only a
stand-in for it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import vapoursynth as vs

from vsrife.adaptation import AdaptSettings, adapt_clip, triplets, weights
from vsrife.filter import RIFE


def load(path: str, frames: int) -> vs.VideoNode:
    clip = vs.core.bs.VideoSource(path)
    if frames:
        clip = clip[: min(frames, clip.num_frames)]
    return triplets.rgb_clip(clip)


def planes(f: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(f[p]) for p in range(f.format.num_planes)]).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else -10 * np.log10(mse)


def score(rgb: vs.VideoNode, model: object) -> tuple[np.ndarray, np.ndarray, float]:
    """(PSNR of every odd frame, whether RIFE interpolated it rather than repeating a frame at a
    scene cut, seconds to interpolate the even frames 2x)."""
    even = rgb[::2]
    out = RIFE(even, 2, model=model)
    start = time.perf_counter()
    values, made = [], []
    for k in range(even.num_frames - 1):
        if 2 * k + 1 < rgb.num_frames:
            f = out.get_frame(2 * k + 1)
            values.append(psnr(planes(f), planes(rgb.get_frame(2 * k + 1))))
            made.append(not f.props.get("RifeSceneCut", 0))
    return np.array(values), np.array(made), time.perf_counter() - start


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    name, _, spec = text.partition(":")
    kinds = {f.name: f.type for f in fields(AdaptSettings)}
    out: dict[str, object] = {}
    for key, value in re.findall(r"(\w+)=(\[[^\]]*\]|[^,]+)", spec):
        if key not in kinds:
            raise SystemExit(f"adapt_eval: unknown setting {key!r}; settings: {', '.join(kinds)}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value  # a plain string: loss=lap, flips=h
        out[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return name or "default", out


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--seconds", type=float, default=AdaptSettings().seconds, help="adaptation budget per video")
    ap.add_argument("--frames", type=int, default=0, help="only the first N frames of each video")
    ap.add_argument("--model", default=None, help="base model (default: 4.25)")
    ap.add_argument("--variant", action="append", default=[], help="NAME:key=value,... settings overrides (repeatable)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--out-dir", default="out/adapt_eval", help="where the adapted weights go")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    variants = [parse_variant(v) for v in args.variant] or [("default", {})]
    base = weights.load_base(args.model)
    base_state = {k: v.clone() for k, v in base.net.state_dict().items()}
    print(f"load average before: {load_average()}  (cores: {os.cpu_count()})", flush=True)
    rows = []
    for path in args.videos:
        rgb = load(path, args.frames)
        before_all, made, interp_s = score(rgb, base_state)
        before, n = float(before_all.mean()), len(before_all)
        for name, overrides in variants:
            settings = replace(AdaptSettings(seconds=args.seconds), **overrides)
            out = Path(args.out_dir) / f"{Path(path).stem}.{name}.safetensors"
            r = adapt_clip(rgb[::2], out, model=args.model, settings=settings, progress=False)
            after_all, _, _ = score(rgb, os.fspath(r.path))
            after = float(after_all.mean())
            gain_made = float((after_all[made] - before_all[made]).mean()) if made.any() else 0.0
            row = {
                "video": Path(path).name,
                "size": f"{rgb.width}x{rgb.height}",
                "variant": name,
                "scored": n,
                "before": before,
                "after": after,
                "gain": after - before,
                "interpolated": int(made.sum()),
                "gain_interpolated": gain_made,
                "adapt_s": r.seconds,
                "interp_s": interp_s,
                "steps": r.steps,
                "kept": r.kept,
                "val_gain": r.gain_db,
                "stopped": r.stopped,
                "history": r.history,
            }
            rows.append(row)
            print(
                f"{row['video']} {row['size']} [{name}] before {before:.2f} after {after:.2f} gain {after - before:+.2f} dB "
                f"({gain_made:+.2f} dB on the {int(made.sum())} frames not at scene cuts) | "
                f"adapt {r.seconds:.0f} s ({r.steps} steps, {r.kept}, val {r.gain_db:+.2f} dB, {r.stopped}) | "
                f"interp {interp_s:.0f} s for {n} frames | load {load_average()}",
                flush=True,
            )
    print(f"load average after: {load_average()}")
    print(
        "\n| clip | variant | odd frames | PSNR before | after | gain | gain where interpolated (frames) "
        "| adaptation | interpolation (2x, base) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['video']} {r['size']} | {r['variant']} | {r['scored']} | {r['before']:.2f} | {r['after']:.2f} | "
            f"{r['gain']:+.2f} dB | {r['gain_interpolated']:+.2f} dB ({r['interpolated']}) | "
            f"{r['adapt_s']:.0f} s, {r['steps']} steps | {r['interp_s']:.0f} s |"
        )
    for name, _ in variants:
        gains = [r["gain"] for r in rows if r["variant"] == name]
        print(f"{name}: mean gain {np.mean(gains):+.2f} dB, min {min(gains):+.2f} dB over {len(gains)} videos")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
