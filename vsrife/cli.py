"""The ``vsrife`` command line: ``models list|fetch|verify|remove|clean`` and ``interpolate``.

Start-up is kept light: the parser imports nothing heavy, and each command imports what it needs
(``models`` the registry and store, ``interpolate`` the encode plumbing; torch only runs in vspipe).
Every error is one ``vsrife: ...`` line on stderr and a non-zero exit code (see ``EXIT CODES`` in
``vsrife --help``), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .encode import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    Terminated,
)

if TYPE_CHECKING:  # pragma: no cover
    from .registry import ModelSpec

EPILOG = """\
exit codes: 0 done, 1 failed (models, environment), 2 bad arguments, 3 vspipe (the script or the
filter) failed, 4 ffmpeg failed, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP)."""

SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
BACKENDS = ("torch", "openvino")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ENCODER_DEFAULTS = {"libx264": ("16", "veryfast")}
"""(crf, preset) used for an encoder when --crf/--preset are not given."""
CRF_MAX = {"libx264": 51, "libx265": 51, "libsvtav1": 63, "libaom-av1": 63, "libvpx-vp9": 63, "libvpx": 63}
"""Where ffmpeg would silently clamp a higher --crf."""
DEMO_OUTPUT = Path("out/vsrife_demo.mkv")


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as one ``vsrife: ...`` line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see `{self.prog} --help`)", EXIT_USAGE)


# ------------------------------------------------------------------------------------ argument types


def _type(fn):
    """An argparse type from a function raising ValueError with the message to show."""

    def parse(text: str):
        try:
            return fn(text)
        except (ValueError, ZeroDivisionError, ArithmeticError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = fn.__name__
    return parse


def _number(text: str) -> Fraction:
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a number") from None
    return value


@_type
def positive_rational(text: str) -> Fraction:
    value = _number(text)
    if value <= 0:
        raise ValueError(f"{text!r} must be above 0 (e.g. 60, 59.94, 60000/1001, 5/2)")
    return value


@_type
def multi_int(text: str) -> int:
    if not re.fullmatch(r"\s*\d+\s*", text) or int(text) < 2:
        raise ValueError(f"{text!r} must be an integer >= 2")
    return int(text)


@_type
def positive_int(text: str) -> int:
    if not re.fullmatch(r"\s*\d+\s*", text) or int(text) < 1:
        raise ValueError(f"{text!r} must be an integer >= 1")
    return int(text)


@_type
def demo_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not WIDTHxHEIGHT (e.g. 448x256)")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 4096 and 16 <= h <= 4096) or w % 2 or h % 2:
        raise ValueError(f"{text!r}: width and height must be even, 16 to 4096 (the demo is encoded as 4:2:0)")
    return w, h


@_type
def scale_value(text: str) -> float:
    value = float(_number(text))
    if value not in SCALES:
        raise ValueError(f"{text!r} must be one of {', '.join(f'{s:g}' for s in SCALES)}")
    return value


@_type
def unit_interval(text: str) -> float:
    value = _number(text)
    if not 0 < value < 1:
        raise ValueError(f"{text!r} must be between 0 and 1")
    return float(value)


@_type
def crf_value(text: str) -> str:
    value = _number(text)
    if value < 0:
        raise ValueError(f"{text!r} must be >= 0")
    return text.strip()


@_type
def seconds(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise ValueError(f"{text!r} must be >= 0 seconds")
    return float(value)


@_type
def device_name(text: str) -> str:
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        raise ValueError(f"{text!r} is not a device: cpu, cuda or cuda:N")
    return text


# ------------------------------------------------------------------------------------ models


def _specs(names: Sequence[str]) -> list[ModelSpec]:
    from . import registry
    from .errors import UnknownModelError

    try:
        return [registry.get_spec(n) for n in names] if names else [registry.default_spec()]
    except UnknownModelError as e:
        raise CliError(str(e), EXIT_USAGE) from None


def _emit_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    print()


def _status_word(st) -> str:
    if not st.installed:
        return "not installed"
    return "ok" if st.ok else ("unverified" if st.ok is None else "CORRUPT")


def cmd_models_list(args: argparse.Namespace) -> int:
    from . import registry, store

    rows: list[dict[str, Any]] = []
    for spec in registry.SPECS:
        st = store.verify(spec)
        rows.append(
            {
                "name": spec.name,
                "status": _status_word(st),
                "path": str(st.path),
                "pad": spec.pad,
                "any_timestep": spec.arbitrary_timestep,
                "encoder_channels": spec.encoder_channels if spec.has_encoder else None,
                "ensemble": spec.ensemble,
                "fetchable": bool(spec.sources),
                "same_network": list(spec.same_network),
            }
        )
    default = registry.DEFAULT
    default_installed = store.model_path(registry.default_spec()).is_file()
    if args.json:
        _emit_json({"model_dir": str(store.model_dir()), "default": default, "models": rows})
        return 0
    print(f"model directory: {store.model_dir()}  (set VSRIFE_MODEL_DIR to change)")
    print(
        f"{'name':<11} {'status':<14} {'pad':>4} {'timestep':<9} {'encoder':>7} {'ensemble':<8} {'source':<9} same network as"
    )
    for r in rows:
        ts = "any" if r["any_timestep"] else "0.5 only"
        enc = str(r["encoder_channels"]) if r["encoder_channels"] else "-"
        src = "fetchable" if r["fetchable"] else "copy in"
        print(
            f"{r['name']:<11} {r['status']:<14} {r['pad']:>4} {ts:<9} {enc:>7} {'yes' if r['ensemble'] else 'no':<8} "
            f"{src:<9} {', '.join(r['same_network']) or '-'}"
        )
    note = "" if default_installed else f" (not installed: vsrife models fetch {default})"
    print(f"default model (model=None): {default}{note}")
    print(
        "pad: frame sizes are padded to a multiple of max(pad, pad/scale); encoder: per-frame feature channels, cached"
    )
    return 0


@contextmanager
def _quiet_store() -> Iterator[None]:
    """store.fetch logs each failed source and then raises with all of them: show them once."""
    logger = logging.getLogger("vsrife")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from . import registry, store

    specs = list(registry.SPECS) if args.all else _specs(args.names)
    timeout = store.DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    results = []
    for spec in specs:
        st = store.verify(spec)
        if not args.force and st.installed and st.ok is not False:
            results.append({"name": spec.name, "result": "present", "path": str(st.path), "message": st.message})
        elif not spec.sources:
            results.append(
                {
                    "name": spec.name,
                    "result": "skipped",
                    "path": str(st.path),
                    "message": f"no download source; copy {spec.filename} into {st.path.parent}",
                }
            )
        else:
            try:
                with _quiet_store():
                    path = store.fetch(
                        spec, timeout=timeout, force=args.force, progress=sys.stderr.isatty() and not args.json
                    )
                results.append(
                    {"name": spec.name, "result": "fetched", "path": str(path), "message": store.verify(spec).message}
                )
            except store.ModelError as e:
                results.append({"name": spec.name, "result": "failed", "path": str(st.path), "message": str(e)})
        r = results[-1]
        if not args.json:
            line = f"{r['name']}: {r['result']}: {r['path'] if r['result'] in ('fetched', 'present') else r['message']}"
            print(line, file=sys.stderr if r["result"] == "failed" else sys.stdout, flush=True)
    counts = {k: sum(r["result"] == k for r in results) for k in ("fetched", "present", "failed", "skipped")}
    if args.json:
        _emit_json({"summary": counts, "models": results})
    elif len(results) > 1:
        print(
            f"{counts['fetched']} fetched, {counts['present']} already installed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped (no download source)"
        )
    return EXIT_FAILED if counts["failed"] else 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    from . import registry, store

    if args.names:
        statuses = [store.verify(s) for s in _specs(args.names)]
    else:
        statuses = [st for st in map(store.verify, registry.SPECS) if st.installed]
    rows = [
        {"name": st.spec.name, "path": str(st.path), "installed": st.installed, "ok": st.ok, "message": st.message}
        for st in statuses
    ]
    if args.json:
        _emit_json({"model_dir": str(store.model_dir()), "models": rows})
    elif not rows:
        print(f"no models installed in {store.model_dir()} (vsrife models fetch NAME)")
    for r in rows if not args.json else ():
        print(f"{r['name']}: {r['path']}: {r['message']}")
    bad = [r for r in rows if r["ok"] is False or not r["installed"]]
    return EXIT_FAILED if bad else 0


def cmd_models_remove(args: argparse.Namespace) -> int:
    from . import store

    rows = []
    for spec in _specs(args.names):
        removed = store.remove(spec)
        rows.append({"name": spec.name, "removed": [str(p) for p in removed]})
        if not args.json:
            print(
                f"{spec.name}: removed {removed[0]}" if removed else f"{spec.name}: not installed",
                file=sys.stdout if removed else sys.stderr,
            )
    if args.json:
        _emit_json({"models": rows})
    return EXIT_FAILED if any(not r["removed"] for r in rows) else 0


def cmd_models_clean(args: argparse.Namespace) -> int:
    from . import store

    removed = store.clean()
    total = sum(size for _, size in removed)
    if args.json:
        _emit_json({"removed": [{"path": str(p), "bytes": n} for p, n in removed], "bytes": total})
    else:
        where = store.model_dir() / "downloads"
        print(f"removed {len(removed)} file(s), {total / 2**20:.1f} MiB from {where}; installed models are kept")
    return 0


# ------------------------------------------------------------------------------------ interpolate


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg
    except ImportError:
        raise CliError("no ffmpeg found; install ffmpeg or: pip install imageio-ffmpeg", EXIT_FAILED) from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _vspipe() -> str:
    if env := os.environ.get("VSRIFE_VSPIPE"):  # a vspipe elsewhere (or a stand-in in tests)
        if not Path(env).is_file():
            raise CliError(f"VSRIFE_VSPIPE={env}: no such file", EXIT_FAILED)
        return env
    local = Path(sys.executable).with_name("vspipe")
    exe = str(local) if local.exists() else shutil.which("vspipe")
    if not exe:
        raise CliError("vspipe not found; it comes with `pip install vapoursynth`", EXIT_FAILED)
    return exe


def _model_arg(model: str | None) -> str | None:
    """Check that the model exists (a registered, installed name or a checkpoint file)."""
    from . import registry, store
    from .errors import UnknownModelError

    if model is None:
        spec = registry.default_spec()
        if not store.model_path(spec).is_file():
            raise CliError(store.missing_message(spec, store.model_path(spec)), EXIT_FAILED)
        return None
    path = Path(model).expanduser()
    if path.suffix in (".pkl", ".pth", ".pt", ".safetensors") or os.sep in model:
        if not path.is_file():
            raise CliError(f"--model {model}: no such checkpoint file")
        from . import loader
        from .errors import ModelError

        try:  # recognised once (in a child process, PyTorch kept out of this one) and remembered by its hash
            loader.resolve(path.resolve(), apart=True)
        except (ModelError, ValueError) as e:
            raise CliError(f"--model {model}: {e}") from None
        return str(path.resolve())
    try:
        spec = registry.get_spec(model)
    except UnknownModelError as e:
        raise CliError(f"--model: {e}") from None
    if not store.model_path(spec).is_file():
        raise CliError(store.missing_message(spec, store.model_path(spec)), EXIT_FAILED)
    return model


def _check_device(device: str | None, backend: str | None) -> None:
    if device is None or not device.startswith("cuda") or backend == "openvino":
        return
    import torch  # only for an explicit CUDA request

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        have = f"{count} CUDA device(s)" if count else "no CUDA device"
        raise CliError(f"--device {device}: this machine has {have} (torch {torch.__version__}); use --device cpu")


def _check_backend(backend: str | None) -> None:
    import importlib.util

    if backend == "openvino" and importlib.util.find_spec("openvino") is None:
        raise CliError("--backend openvino needs OpenVINO: pip install openvino", EXIT_FAILED)


def _rife_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    if args.fps is not None:
        rate: dict[str, Any] = {"fps_num": args.fps.numerator, "fps_den": args.fps.denominator}
    elif args.factor is not None:
        rate = {"factor_num": args.factor.numerator, "factor_den": args.factor.denominator}
    else:
        rate = {"multi": args.multi or 2}
    kw = {**rate, "model": _model_arg(args.model), "scale": args.scale}
    optional = {
        "device": args.device,
        "backend": args.backend,
        "precision": args.precision,
        "sc_threshold": args.sc_threshold,
    }
    kw |= {k: v for k, v in optional.items() if v is not None}  # only what was given: older RIFE() lacks some
    if args.no_sc:
        kw["sc"] = False
    if args.held_frames:
        kw["held_frames"] = True
    return kw


def _output_path(args: argparse.Namespace, source: Path | None) -> Path:
    if args.output:
        out = Path(args.output).expanduser()
    elif source is not None:
        out = source.with_name(f"{source.stem}.rife.mkv")
    else:
        out = DEMO_OUTPUT
    if not out.suffix:
        raise CliError(f"-o {out}: give the output a file extension (.mkv, .mp4, ...): it selects the container")
    if out.is_dir():
        raise CliError(f"-o {out}: is a directory")
    if source is not None and out.resolve() == source.resolve():
        raise CliError(f"-o {out}: the output would replace the input")
    demo = source is None and not args.output  # the demo's own file: rewritten on every demo run
    if out.exists() and not demo and not getattr(args, "overwrite", False):
        raise CliError(f"-o {out}: exists; give --overwrite (-y) to replace it, or another -o")
    return out


def _encoder_options(args: argparse.Namespace, ffmpeg: str) -> tuple[str, ...]:
    from .encode import encoder_pix_fmts

    pix_fmts = encoder_pix_fmts(ffmpeg, args.encoder)
    if args.pix_fmt and pix_fmts and args.pix_fmt not in pix_fmts:
        raise CliError(f"--pix-fmt {args.pix_fmt}: {args.encoder} takes {', '.join(pix_fmts)}")
    top = CRF_MAX.get(args.encoder)
    if args.crf is not None and top is not None and Fraction(args.crf) > top:
        raise CliError(f"--crf {args.crf}: {args.encoder} takes 0 to {top}")
    crf, preset = ENCODER_DEFAULTS.get(args.encoder, (None, None))
    crf = args.crf if args.crf is not None else crf
    preset = args.preset if args.preset is not None else preset
    opts = [*(("-crf", crf) if crf is not None else ()), *(("-preset", preset) if preset else ())]
    return tuple(opts) + (("-pix_fmt", args.pix_fmt) if args.pix_fmt else ())


def plan_interpolate(args: argparse.Namespace) -> Any:
    """Validate every argument (and ffmpeg's acceptance of the settings) before anything starts."""
    from .encode import Plan, dry_run, probe

    source = None
    if args.input is not None:
        source = Path(args.input).expanduser()
        if not source.is_file():
            raise CliError(f"input file {args.input} does not exist")
        if not os.access(source, os.R_OK):
            raise CliError(f"input file {args.input} is not readable")
        if args.size is not None:
            raise CliError("--size is for the demo clip (no input file) only")
    output = _output_path(args, source)
    _check_backend(args.backend)
    _check_device(args.device, args.backend)
    rife = _rife_kwargs(args)
    ffmpeg, vspipe = _ffmpeg(), _vspipe()
    info = probe(ffmpeg, source) if source is not None else None
    job = {
        "source": str(source.resolve()) if source else None,
        "size": list(args.size or (448, 256)),
        "frames": args.frames,
        "rife": rife,
    }
    if getattr(args, "threads", None):  # --threads: the one process's share of the machine, as a batch worker's
        job["threads"] = args.threads
    plan = Plan(
        ffmpeg=ffmpeg,
        vspipe=vspipe,
        output=output,
        script_args=job,
        source=source,
        info=info,
        encoder=args.encoder,
        encoder_options=_encoder_options(args, ffmpeg),
        ffmpeg_args=tuple(args.ffmpeg_args),
        audio=not args.no_audio,
        subtitles=not args.no_subtitles,
        chapters=not args.no_chapters,
        duration_limited=args.frames is not None,
        verbose=args.verbose,
    )
    return dry_run(plan)  # the plan ffmpeg accepts (audio the container cannot hold is re-encoded)


def cmd_interpolate(args: argparse.Namespace) -> int:
    from .encode import Progress, announce, interpolate, summary, temp_output

    plan = plan_interpolate(args)  # every argument checked before anything long starts
    if args.adapt:  # then adapt (or take the cached adaptation) and interpolate with it
        from .adaptation import model_for_interpolate

        args.model, args.adapt = model_for_interpolate(args), False
        plan = plan_interpolate(args)
    if args.workers is not None or args.address is not None:  # in chunks, on workers
        from .batch.command import interpolate_command

        return interpolate_command(args, plan_interpolate)
    tmp_out = temp_output(plan.output)  # the last check: the output's directory is writable
    announce(plan, sys.stderr)
    progress = Progress(args.progress, args.progress_interval)
    result = interpolate(plan, progress, tmp_out)
    print(summary(plan, result))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch.command import batch_command

    return batch_command(args, plan_interpolate)


def _add_encode_options(p: argparse.ArgumentParser) -> None:
    """The options of one interpolation: rate, model, scene cuts, encoding, display (interpolate and batch)."""
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--multi", type=multi_int, default=None, help="frame-rate multiplier (default 2)")
    rate.add_argument("--factor", type=positive_rational, default=None, help="rational multiplier, e.g. 5/2")
    rate.add_argument("--fps", type=positive_rational, default=None, help="target frame rate, e.g. 60000/1001")
    p.add_argument("--model", default=None, help="model name or checkpoint file (default: 4.25)")
    p.add_argument("--device", type=device_name, default=None, help="cpu, cuda, cuda:N (default: CUDA if available)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="inference backend (default: the filter's)")
    p.add_argument("--precision", choices=PRECISIONS, default=None, help="compute precision (default: the filter's)")
    p.add_argument("--scale", type=scale_value, default=1.0, help="flow resolution: 0.25, 0.5, 1, 2, 4 (0.5 for 4K)")
    p.add_argument(
        "--no-sc", action="store_true", help="no scene-change detection (marks from other tools still count)"
    )
    p.add_argument(
        "--sc-threshold", type=unit_interval, default=None, help="scene-change threshold (default: the filter's)"
    )
    p.add_argument("--held-frames", action="store_true", help="interpolate across held (repeated) frames")
    p.add_argument("--frames", type=positive_int, default=None, help="only the first N source frames")
    enc = p.add_argument_group("encoding")
    enc.add_argument("--encoder", default="libx264", help="ffmpeg video encoder (default libx264)")
    enc.add_argument("--crf", type=crf_value, default=None, help="quality (default for libx264: 16)")
    enc.add_argument("--preset", default=None, help="encoder preset (default for libx264: veryfast)")
    enc.add_argument(
        "--pix-fmt", default=None, help="output pixel format (default: the encoder's choice for the input)"
    )
    enc.add_argument("--no-audio", action="store_true", help="do not copy audio")
    enc.add_argument("--no-subtitles", action="store_true", help="do not copy subtitles and attachments")
    enc.add_argument("--no-chapters", action="store_true", help="do not copy chapters")
    show = p.add_argument_group("display")
    show.add_argument(
        "--progress",
        choices=("auto", "bar", "plain", "none"),
        default="auto",
        help="a bar on a terminal, plain lines otherwise (auto)",
    )
    show.add_argument("--progress-interval", type=seconds, default=10.0, help="seconds between plain lines (10)")
    show.add_argument("-v", "--verbose", action="store_true", help="show the commands and all vspipe output")


# ------------------------------------------------------------------------------------ entry point


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="vsrife",
        description="RIFE frame interpolation for VapourSynth (vapoursynth-rife)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"vsrife {__version__} (vapoursynth-rife)")
    sub = p.add_subparsers(dest="command", required=True, metavar="{models,interpolate,batch,adapt}")

    models = sub.add_parser("models", help="list, fetch, verify and remove model weights")
    actions = models.add_subparsers(dest="action", required=True)
    js = _Parser(add_help=False)
    js.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    actions.add_parser("list", parents=[js], help="registered models, what is installed").set_defaults(
        func=cmd_models_list
    )
    fe = actions.add_parser("fetch", parents=[js], help="download models into the model directory")
    fe.add_argument("names", nargs="*", help="model names (default: the one setup installs, see `models list`)")
    fe.add_argument("--all", action="store_true", help="every model that has a download source")
    fe.add_argument("--force", action="store_true", help="download again even if present")
    fe.add_argument("--timeout", type=seconds, default=None, help="seconds per network operation")
    fe.set_defaults(func=cmd_models_fetch)
    ve = actions.add_parser(
        "verify", parents=[js], help="check installed files (or the named ones) against their sha256"
    )
    ve.add_argument("names", nargs="*")
    ve.set_defaults(func=cmd_models_verify)
    rm = actions.add_parser("remove", parents=[js], help="delete installed models")
    rm.add_argument("names", nargs="+")
    rm.set_defaults(func=cmd_models_remove)
    actions.add_parser(
        "clean", parents=[js], help="delete kept downloads (archives models were extracted from)"
    ).set_defaults(func=cmd_models_clean)

    it = sub.add_parser(
        "interpolate",
        help="interpolate a video (or the built-in demo) through vspipe | ffmpeg",
        usage="vsrife interpolate [INPUT] [-o OUTPUT] [options] [-- FFMPEG OUTPUT OPTIONS]",
        description="Audio, subtitles, attachments, chapters and metadata are copied from INPUT; "
        "the output is written only when the whole encode succeeded. Arguments after `--` go to "
        "ffmpeg as output options (e.g. -- -tune film -movflags +faststart).",
    )
    it.add_argument(
        "input", nargs="?", help="video file (read with BestSource); omitted: a demo clip panning over real photographs"
    )
    it.add_argument(
        "-o",
        "--output",
        default=None,
        help=f"output file; its extension selects the container (default: INPUT.rife.mkv, or {DEMO_OUTPUT} for the demo)",
    )
    it.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists (default: refuse)")
    _add_encode_options(it)
    it.add_argument("--size", type=demo_size, default=None, help="demo clip size WxH (default 448x256)")
    _add_worker_options(it)
    it.set_defaults(func=cmd_interpolate)

    ba = sub.add_parser(
        "batch",
        help="interpolate many videos, in chunks, on many workers (Ray, or local processes)",
        usage="vsrife batch INPUT... -o DIR [options] [-- FFMPEG OUTPUT OPTIONS]",
        description="Every INPUT (a file or a glob pattern) is split into chunks at scene cuts where "
        "possible, the chunks are interpolated and encoded by the workers, joined, and the source's "
        "other streams copied as by `vsrife interpolate`: the frames are those of a one-process run. "
        "Finished chunks are kept, so running the same command again resumes. Arguments after `--` go "
        "to ffmpeg when it encodes each chunk and when it joins them (video filters: the encodes only).",
    )
    ba.add_argument("inputs", nargs="+", metavar="INPUT", help="video files or glob patterns (read with BestSource)")
    ba.add_argument("-o", "--output-dir", required=True, help="directory for the outputs (INPUT's name, --container)")
    ba.add_argument("--container", default="mkv", help="output file extension (default mkv)")
    ba.add_argument(
        "-y", "--overwrite", action="store_true", help="redo inputs whose output exists (default: skip them)"
    )
    _add_encode_options(ba)
    _add_worker_options(ba)
    ba.set_defaults(func=cmd_batch)

    from .adaptation import add_cli, add_interpolate_options  # torch-free: imported when used

    add_interpolate_options(it)
    add_cli(sub)
    return p


def _add_worker_options(p: argparse.ArgumentParser) -> None:
    """Batch jobs: chunks on workers (``vsrife batch``; ``vsrife interpolate`` with ``--workers``)."""
    w = p.add_argument_group("workers (batch jobs; for interpolate: used when --workers or --address is given)")
    w.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="chunks at once (batch default: this machine's cores / --threads, or the Ray cluster's CPUs)",
    )
    w.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="threads per worker (default: this machine's cores / --workers; 1 with --address); "
        "without --workers, the threads of the one process",
    )
    w.add_argument("--address", default=None, help="a Ray cluster: ray://HOST:10001 or auto (default: a local Ray)")
    w.add_argument("--no-ray", action="store_true", help="local worker processes even where Ray is installed")
    w.add_argument(
        "--chunk-seconds", type=positive_rational, default=Fraction(60), help="source seconds per chunk (60)"
    )
    w.add_argument("--retries", type=int, default=3, help="runs of a chunk whose worker died, after the first (3)")
    w.add_argument("--keep-parts", action="store_true", help="keep the encoded chunks after joining them")


def _split_ffmpeg_args(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def _terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    parser = build_parser()
    if not argv:  # `vsrife` / `python -m vsrife` alone
        parser.print_help()
        print("\nto download models (what `python -m vsrife` does in vs-rife): vsrife models fetch NAME | --all")
        return 0
    argv, ffmpeg_args = _split_ffmpeg_args(argv)
    started = time.perf_counter()
    nothing = "no output written"  # a batch says which outputs it finished (job.run)
    previous = {sig: signal.signal(sig, _terminated) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        args = parser.parse_args(argv)
        if ffmpeg_args and args.command not in ("interpolate", "batch"):
            raise CliError("arguments after `--` are ffmpeg options, for `vsrife interpolate` and `vsrife batch` only")
        args.ffmpeg_args = ffmpeg_args
        if args.command == "batch" or getattr(args, "workers", None) or getattr(args, "address", None):
            nothing = "unfinished outputs not written"
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"vsrife: {e}", file=sys.stderr)
        return e.code
    except Terminated as e:
        name = signal.Signals(e.signum).name
        print(
            f"vsrife: terminated ({name}) after {time.perf_counter() - started:.0f} s; {nothing}",
            file=sys.stderr,
        )
        return 128 + e.signum
    except KeyboardInterrupt:
        print(f"vsrife: interrupted after {time.perf_counter() - started:.0f} s; {nothing}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `vsrife models list | head`
        sys.stderr.close()
        return 0
    except Exception as e:
        if os.environ.get("VSRIFE_DEBUG"):
            raise
        print(
            f"vsrife: unexpected error: {type(e).__name__}: {e} (set VSRIFE_DEBUG=1 for the traceback)", file=sys.stderr
        )
        return EXIT_FAILED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
