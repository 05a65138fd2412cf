#!/usr/bin/env python3
"""What each precision costs in quality, on one device: PSNR of RIFE's middle frame against the exact
middle of real photographs moved by known motions (eight pairs, up to 14 px), as the change against
PyTorch fp32 on the CPU (the exact result). Usage:

  .venv/bin/python scripts/precision_eval.py [--device cuda] [--models 4.25,hdv3] [--size 640x384]

On CUDA it compares fp32 with TensorFloat-32 convolutions (PyTorch's default) and without, fp16
(the warp in fp32) and bf16 autocast; on the CPU, PyTorch bf16 autocast and the OpenVINO backend in
f32 and in its mixed bf16 graph. The figures in the README's precision table come from here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


@contextmanager
def tf32(on: bool) -> Iterator[None]:
    import torch

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def settings(device: str) -> dict[str, tuple[dict, Callable[[], object]]]:
    """label -> (RIFE keyword arguments, a context to run them in)."""
    from contextlib import nullcontext

    if device.startswith("cuda"):
        base = {"device": device, "backend": "torch"}
        return {
            "fp32 (TF32 convolutions)": ({**base, "precision": "fp32"}, lambda: tf32(True)),
            "fp32, TF32 off": ({**base, "precision": "fp32"}, lambda: tf32(False)),
            "fp16, warp in fp32": ({**base, "precision": "fp16"}, nullcontext),
            "bf16 autocast": ({**base, "precision": "bf16"}, nullcontext),
        }
    base = {"device": "cpu"}
    return {
        "torch bf16 autocast": ({**base, "backend": "torch", "precision": "bf16"}, nullcontext),
        "OpenVINO f32": ({**base, "backend": "openvino", "precision": "fp32"}, nullcontext),
        "OpenVINO mixed bf16": ({**base, "backend": "openvino", "precision": "bf16"}, nullcontext),
    }


def scores(pairs: list, model: str, kwargs: dict) -> np.ndarray:
    import vsrife
    from vsrife.synthetic import clip_from_frames

    from helpers import planes, psnr

    out = []
    for f0, f1, truth in pairs:
        clip = vsrife.RIFE(clip_from_frames([f0, f1]), 2, model=model, sc=False, **kwargs)
        out.append(psnr(planes(clip.get_frame(1)), truth, 8))
    return np.array(out)


def main() -> int:
    import torch

    from helpers import MOTIONS, moved_pairs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="4.25,hdv3")
    ap.add_argument("--size", default="640x384")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    pairs = moved_pairs(MOTIONS, w, h)
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "CPU"
    print(f"{name}; {len(pairs)} photograph pairs at {w}x{h}; change against PyTorch fp32 on the CPU, dB")
    for model in args.models.split(","):
        ref = scores(pairs, model, {"device": "cpu", "backend": "torch", "precision": "fp32"})
        print(f"\n{model}: PyTorch fp32 on the CPU {ref.mean():.4f} dB mean")
        for label, (kwargs, context) in settings(args.device).items():
            try:
                with context():
                    got = scores(pairs, model, kwargs)
            except Exception as e:  # noqa: BLE001 - a setting this machine cannot run is reported, not fatal
                print(f"  {label:<28} not run: {str(e).splitlines()[-1][:120]}")
                continue
            d = got - ref
            print(f"  {label:<28} mean {d.mean():+.4f}   worst pair {d.min():+.4f}   best pair {d.max():+.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
