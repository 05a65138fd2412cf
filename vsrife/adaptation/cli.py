"""The ``vsrife adapt`` subcommand and the ``interpolate --adapt`` option, for ``vsrife/cli.py`` to
register: ``add_cli(subparsers)``, ``add_interpolate_options(parser)`` and
``model_for_interpolate(args)``. Errors are one ``vsrife: ...`` line (``SystemExit``), never a
traceback; the progress bar and log go to stderr, the one-line summary to stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .defaults import DEFAULT_MODEL, DEFAULT_SECONDS

DEFAULT_SECONDS_HELP = "time budget in seconds for the whole adaptation (default: %(default)s)"


def _budget(text: str) -> float:
    """A positive number of seconds (argparse type: a bad value is a usage error, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _steps(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of steps (0 or more)")
    return int(text)


def _settings(args: argparse.Namespace, seconds: float, steps: int | None) -> Any:
    from .api import AdaptSettings

    return AdaptSettings(seconds=seconds, steps=steps, seed=getattr(args, "seed", 0))


def _fail(e: BaseException) -> SystemExit:
    msg = str(e)
    return SystemExit("vsrife: " + msg.removeprefix("RIFE: "))


def _clip(args: argparse.Namespace) -> Any:
    from .api import _open

    clip = _open(args.input)
    frames = getattr(args, "frames", 0)
    return clip[: min(frames, clip.num_frames)] if frames else clip


def _check_output(args: argparse.Namespace) -> None:
    """Before any training: the output is a .safetensors file that does not exist (unless
    --overwrite), is not the base model's own file, and can be written (exit 2 otherwise)."""
    from pathlib import Path

    from ..encode import CliError, temp_output

    out = Path(args.output).expanduser()
    if out.suffix != ".safetensors":
        raise CliError(f"-o {args.output}: adapted weights are written as .safetensors")
    if args.model and out.resolve() == Path(args.model).expanduser().resolve():
        raise CliError(f"-o {args.output}: the output would replace the base model")
    if out.exists() and not args.overwrite:
        raise CliError(f"-o {args.output}: exists; give --overwrite (-y) to replace it, or another -o")
    temp_output(out).unlink()  # the directory takes a file (made if missing): "cannot write to DIR" otherwise


def cmd_adapt(args: argparse.Namespace) -> int:
    import vapoursynth as vs

    from .api import adapt_clip

    _check_output(args)
    try:
        r = adapt_clip(
            _clip(args),
            args.output,
            model=args.model,
            settings=_settings(args, args.seconds, args.steps),
            device=args.device,
            progress=sys.stderr.isatty(),
        )
    except vs.Error as e:
        raise _fail(e) from None
    what = "adapted weights" if r.kept == "adapted" else "the base weights (adaptation did not improve validation)"
    print(
        f"wrote {r.path}: {what}; base {r.base_model}, {r.steps} steps in {r.seconds:.0f} s, "
        f"validation {r.base_psnr:.2f} -> {r.best_psnr:.2f} dB ({r.gain_db:+.2f} dB) on {r.val_triplets} held-out triplets"
    )
    return 0


def add_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``vsrife adapt INPUT -o OUT.safetensors [--model M] [--seconds S] [--steps N]``."""
    p = subparsers.add_parser(
        "adapt", help="fine-tune a model on a video's own frames (writes .safetensors for --model)"
    )
    p.add_argument("input", help="video file (read with BestSource)")
    p.add_argument("-o", "--output", required=True, help="where to write the adapted weights (.safetensors)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists (default: refuse)")
    p.add_argument("--model", default=None, help=f"base model: a 4.x name or checkpoint (default: {DEFAULT_MODEL})")
    p.add_argument("--seconds", type=_budget, default=DEFAULT_SECONDS, help=DEFAULT_SECONDS_HELP)
    p.add_argument("--steps", type=_steps, default=None, help="stop after this many training steps")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA if available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=0, help="only the first N frames")
    p.set_defaults(func=cmd_adapt)
    return p


def add_interpolate_options(parser: argparse.ArgumentParser) -> None:
    """``--adapt`` and ``--adapt-seconds`` for ``vsrife interpolate``."""
    parser.add_argument(
        "--adapt", action="store_true", help="adapt the model to the input first (cached by clip, model and settings)"
    )
    parser.add_argument("--adapt-seconds", type=_budget, default=DEFAULT_SECONDS, help=DEFAULT_SECONDS_HELP)


def model_for_interpolate(args: argparse.Namespace) -> str | None:
    """The ``model`` that ``interpolate`` should pass on: with ``--adapt``, the path of weights
    adapted to ``args.input`` (``args.model`` as the base); otherwise ``args.model`` unchanged."""
    if not getattr(args, "adapt", False):
        return args.model
    if not args.input:
        raise SystemExit("vsrife: --adapt needs an input video")
    import vapoursynth as vs

    from .api import adapted_model_for
    from .triplets import NothingToLearn

    try:
        path = adapted_model_for(
            _clip(args),
            _settings(args, args.adapt_seconds, None),
            model=args.model or None,
            device=args.device or None,
            progress=sys.stderr.isatty(),
        )
    except NothingToLearn as e:  # nothing to adapt on: the interpolation still has a model to run
        print(f"{_fail(e).code}; interpolating with the base model", file=sys.stderr)
        return args.model
    except vs.Error as e:
        raise _fail(e) from None
    return str(path)
