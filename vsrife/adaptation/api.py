"""The adaptation API (see the package docstring): settings, ``adapt``, ``adapt_clip``,
``adapted_model_for``."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs
from torch import Tensor

from .. import loader
from ..scene import DEFAULT_THRESHOLD, HELD_THRESHOLD
from . import triplets, weights
from .defaults import DEFAULT_SECONDS
from .training import SCHEDULES, TrainConfig, train
from .weights import clip_fingerprint, read_metadata

log = logging.getLogger("vsrife")


def _error(msg: str) -> vs.Error:
    return vs.Error(f"RIFE: {msg}")


@dataclass(frozen=True)
class AdaptSettings:
    """Everything that decides the adapted weights (and so names them in the cache)."""

    seconds: float = DEFAULT_SECONDS
    """Wall-clock budget for the whole adaptation (reading frames, training, validation)."""
    steps: int | None = None
    """Stop after this many optimiser steps (None: only the budget and early stopping stop it)."""
    lr: float = 1e-5
    schedule: str = "constant"
    """How the learning rate moves: "constant", or "cosine": from ``lr`` down to 0 along a half
    cosine over the training time (or over ``steps``, when they would end it first)."""
    batch: int = 4
    crop: int = 256
    """Training crop size, rounded down to the model's padding multiple (small frames: the whole frame)."""
    loss: str = "l1"
    """Reconstruction loss: "l1", or "lap" (L1 of Laplacian pyramids, the paper's form): no better
    per step in our measurement, so the plain one."""
    distill: bool = False
    """Use the checkpoint's teacher (privileged distillation) when it has one. Off by default: a
    step costs about 1.7 times as much and it gained no more per step on validation (README)."""
    precision: str = "auto"
    """"fp32", "bf16" (autocast; validation always runs in fp32) or "auto": bf16 on a CPU with native
    bf16 (AVX512-BF16), where it measured as good per step and about 10 % faster, else fp32."""
    val_every: int = 25
    patience: int = 4
    """Stop when this many validations in a row did not improve on the best."""
    min_gain_db: float = 0.02
    """Keep the adapted weights only if validation PSNR improved by at least this much."""
    max_triplets: int = 256
    memory_mb: int = 1024
    """Memory for the frames held for training."""
    val_crop: int = 512
    flips: str = "hv"
    """Augmentation besides random crops and time reversal: random left-right ("h") and upside-down
    ("v") flips."""
    scales: tuple[int, ...] = (1,)
    """Resolutions trained on, taking turns: 1 = the frames as they are, 2 = shrunk to half, where
    a triplet's motion (two frame intervals) is as large in pixels as the one interval that
    interpolation bridges. Validation covers the same resolutions. Adding 2 gained nothing on the
    real footage's odd frames (README), so by default only the frames as they are."""
    ema: float = 0.95
    """Decay (0 <= ema < 1) of a moving average of the weights that validation scores and the file
    keeps; 0: the weights as trained. 0.95 (about the last 20 steps) scored better than 0 on all
    three real videos, +0.01 to +0.03 dB (README); its smoother validation also stops early less
    often."""
    seed: int = 0
    sc_threshold: float = DEFAULT_THRESHOLD
    held_threshold: float = HELD_THRESHOLD

    def checked(self) -> AdaptSettings:
        def positive(name: str, value: object, kind: type = int) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
                raise _error(
                    f"adapt: {name} must be a positive {'number' if kind is float else 'integer'}, got {value!r}"
                )

        positive("seconds", self.seconds, float)
        if self.steps is not None and (
            isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0
        ):
            raise _error(f"adapt: steps must be None or an integer >= 0, got {self.steps!r}")
        for name in ("batch", "crop", "val_every", "patience", "max_triplets", "memory_mb", "val_crop"):
            positive(name, getattr(self, name))
        if self.schedule not in SCHEDULES:
            raise _error(f"adapt: schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or self.lr < 0:
            raise _error(f"adapt: lr must be a number >= 0, got {self.lr!r}")
        if isinstance(self.ema, bool) or not isinstance(self.ema, (int, float)) or not 0 <= self.ema < 1:
            raise _error(f"adapt: ema must be a number in [0, 1), got {self.ema!r}")
        if not self.scales or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in self.scales):
            raise _error(f"adapt: scales must be a non-empty tuple of integers >= 1, got {self.scales!r}")
        if not set(self.flips) <= set("hv"):
            raise _error(f"adapt: flips must be made of 'h' and 'v', got {self.flips!r}")
        if self.loss not in ("lap", "l1"):
            raise _error(f"adapt: loss must be 'lap' or 'l1', got {self.loss!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise _error(f"adapt: precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        return self

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class AdaptResult:
    path: Path
    base_model: str
    base_sha256: str
    kept: str
    """"adapted", or "base" when adaptation did not improve validation (the file holds the base weights)."""
    steps: int
    base_psnr: float
    best_psnr: float
    gain_db: float
    """Validation gain of the weights written (0 when the base weights were kept)."""
    seconds: float
    train_triplets: int
    val_triplets: int
    rejected_triplets: int
    stopped: str
    history: list[tuple[int, float, float]] = field(default_factory=list)
    """(step, seconds into training, validation PSNR) at every validation."""
    losses: list[float] = field(default_factory=list)
    state: dict[str, Tensor] = field(default_factory=dict, repr=False)
    """The weights written."""


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise _error(f"adapt: device must be None, 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise _error(f"adapt: device {device!r} asks for CUDA but torch sees no CUDA GPU; use device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise _error(f"adapt: device type {dev.type!r} is not supported; use 'cpu' or 'cuda[:N]'")
    return dev


def _precision(setting: str, device: torch.device) -> str:
    if setting != "auto":
        return setting
    native = device.type == "cpu" and bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
    return "bf16" if native else "fp32"


@contextmanager
def _all_cores(device: torch.device) -> Iterator[None]:
    """On the CPU, train on every core this process may use; the previous setting comes back after."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or before)
    torch.set_num_threads(max(1, cores))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class _Job:
    """One adaptation, checked and ready: the clip, the base model, the clip's fingerprint."""

    clip: vs.VideoNode
    settings: AdaptSettings
    base: weights.Base
    fingerprint: str
    device: torch.device
    progress: bool
    start: float

    @classmethod
    def prepare(
        cls,
        clip: vs.VideoNode,
        settings: AdaptSettings | None,
        model: str | os.PathLike[str] | Mapping[str, Tensor] | None,
        device: str | torch.device | None,
        progress: bool | None,
    ) -> _Job:
        start = time.perf_counter()  # the budget counts from here
        s = (settings or AdaptSettings()).checked()
        clip = triplets.check_clip(clip)
        dev = _device(device)
        base = weights.load_base(model)
        return cls(
            clip, s, base, clip_fingerprint(clip), dev, sys.stderr.isatty() if progress is None else progress, start
        )

    def cache_path(self, directory: Path | None) -> Path:
        key = weights.cache_key(self.fingerprint, self.base.sha256, self.settings.as_dict())
        return weights.cache_path(self.base.spec.name, key, directory)

    def run(self, output: Path) -> AdaptResult:
        weights.check_output(output)
        return _run(
            self.clip, output, self.base, self.fingerprint, self.settings, self.device, self.progress, self.start
        )


def _network_cuts(clip: vs.VideoNode, base: weights.Base) -> Callable[[int], bool]:
    """Whether pair (i, i + 1) is a cut by the filter's rule: the base network's evidence (the two
    frames warped to the middle disagree everywhere), so fast motion stays in the training set."""
    from ..archs.common import Warp
    from ..backends.graph import evidence
    from ..backends.torch_eager import pad_replicate
    from ..scene import CutRule

    work = triplets.rgb_clip(clip)
    multiple = base.spec.pad_multiple(1.0)
    ph, pw = -(-clip.height // multiple) * multiple, -(-clip.width // multiple) * multiple
    warp = Warp(ph, pw)

    def frame(i: int) -> Tensor:
        f = work.get_frame(i)
        planes = [np.asarray(f[0])] * 3 if f.format.num_planes == 1 else [np.asarray(f[p]) for p in range(3)]
        return pad_replicate(torch.from_numpy(np.stack(planes).astype(np.float32))[None], ph, pw)

    def cut(i: int) -> bool:
        a, b = frame(i), frame(i + 1)
        with torch.inference_mode():
            fused = base.net.fused(a, b, 0.5, warp, 1.0, base.net.encode(a), base.net.encode(b))
            return CutRule(True, tenth=base.spec.tenth_cut).confirm(evidence(fused, clip.height, clip.width))

    return cut


def _run(
    clip: vs.VideoNode,
    output: Path,
    base: weights.Base,
    fingerprint: str,
    settings: AdaptSettings,
    device: torch.device,
    progress: bool,
    start: float,
) -> AdaptResult:
    pad = base.spec.pad
    cap = triplets.max_triplets_for(clip, pad, settings.memory_mb, settings.max_triplets)
    sel = triplets.select(clip, cap, settings.sc_threshold, settings.held_threshold, _network_cuts(clip, base))
    frames = triplets.FrameStore.read(clip, triplets.needed_frames(sel.train + sel.val))
    chosen = triplets.sources(frames, settings.scales, settings.crop, settings.val_crop, pad)
    del frames
    val = [
        b
        for src, vh, vw in chosen
        for b in triplets.validation_batches(src.store, sel.val, vh, vw, settings.seed, settings.batch)
    ]
    log.info(
        "vsrife: adapting %s on %d triplets (%d for validation, %d rejected at cuts/held frames), crops %s",
        base.spec.name,
        len(sel.train),
        len(sel.val),
        sel.rejected,
        ", ".join(f"{s.crop_w}x{s.crop_h}" for s, _, _ in chosen),
    )
    cfg = TrainConfig(
        settings.lr,
        settings.batch,
        settings.flips,
        settings.loss,
        settings.distill,
        _precision(settings.precision, device),
        settings.val_every,
        settings.patience,
        settings.min_gain_db,
        settings.seed,
        settings.steps,
        deadline=start + settings.seconds,
        ema=settings.ema,
        schedule=settings.schedule,
    )
    with _all_cores(device):
        out = train(base.net, base.teacher, [src for src, _, _ in chosen], sel.train, val, cfg, device, progress)
    elapsed = time.perf_counter() - start
    summary = {
        "kept": out.kept,
        "steps": out.steps,
        "best_step": out.best_step,
        "stopped": out.stopped,
        "validation_psnr_base": round(out.base_psnr, 4),
        "validation_psnr": round(out.best_psnr, 4),
        "validation_gain_db": round(out.gain_db, 4),
        "train_triplets": len(sel.train),
        "val_triplets": len(sel.val),
        "rejected_triplets": sel.rejected,
        "seconds": round(elapsed, 1),
        "device": str(device),
    }
    path = weights.write_adapted(output, out.state, weights.metadata(base, fingerprint, settings.as_dict(), summary))
    # read back as RIFE will: a file that does not load is an error now, not at interpolation; and the
    # model it holds is remembered by its hash, so vspipe serves it without loading PyTorch
    loader.resolve(path)
    log.info(
        "vsrife: %s: %d steps, validation %.2f -> %.2f dB, kept the %s weights (%.0f s)",
        path,
        out.steps,
        out.base_psnr,
        out.best_psnr,
        out.kept,
        elapsed,
    )
    return AdaptResult(
        path,
        base.spec.name,
        base.sha256,
        out.kept,
        out.steps,
        out.base_psnr,
        out.best_psnr,
        out.gain_db,
        elapsed,
        len(sel.train),
        len(sel.val),
        sel.rejected,
        out.stopped,
        out.history,
        out.losses,
        out.state,
    )


def adapt_clip(
    clip: vs.VideoNode,
    output: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | Mapping[str, Tensor] | None = None,
    settings: AdaptSettings | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> AdaptResult:
    """Adapt ``model`` (default: 4.25) to ``clip`` and write the weights to ``output`` (default: the
    adaptation cache, named by clip fingerprint, base weights and settings). Returns what happened."""
    job = _Job.prepare(clip, settings, model, device, progress)
    return job.run(Path(output) if output is not None else job.cache_path(None))


def adapt(
    clip: vs.VideoNode,
    output: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | Mapping[str, Tensor] | None = None,
    seconds: float | None = None,
    steps: int | None = None,
    device: str | torch.device | None = None,
    settings: AdaptSettings | None = None,
    progress: bool | None = None,
) -> Path:
    """Fine-tune ``model`` on ``clip``'s own frames; returns the path of the written ``.safetensors``
    weights, for ``RIFE(clip, model=path)``. ``seconds`` and ``steps`` override ``settings``."""
    s = settings or AdaptSettings()
    if seconds is not None:
        s = replace(s, seconds=seconds)
    if steps is not None:
        s = replace(s, steps=steps)
    return adapt_clip(clip, output, model=model, settings=s, device=device, progress=progress).path


def _open(source: vs.VideoNode | str | os.PathLike[str]) -> vs.VideoNode:
    if isinstance(source, vs.VideoNode):
        return source
    path = Path(source)
    if not path.is_file():
        raise _error(f"adapt: input file {path} does not exist")
    if not hasattr(vs.core, "bs"):
        raise _error("adapt: reading video files needs BestSource: pip install vapoursynth-bestsource")
    return vs.core.bs.VideoSource(os.fspath(path))


def adapted_model_for(
    source: vs.VideoNode | str | os.PathLike[str],
    settings: AdaptSettings | None = None,
    *,
    model: str | os.PathLike[str] | Mapping[str, Tensor] | None = None,
    device: str | torch.device | None = None,
    directory: Path | None = None,
    progress: bool | None = None,
) -> Path:
    """Weights adapted to ``source`` (a clip or a video file): from the cache when this clip, base
    model and settings were adapted before, else adapted now and cached. For ``interpolate --adapt``."""
    job = _Job.prepare(_open(source), settings, model, device, progress)
    path = job.cache_path(directory)
    if path.is_file():
        try:
            meta = read_metadata(path)
        except Exception:  # noqa: BLE001 - an unreadable cache entry is simply made again
            meta = {}
        if meta.get("base_sha256") == job.base.sha256 and meta.get("clip_fingerprint") == job.fingerprint:
            log.info("vsrife: using cached adapted weights %s", path)
            return path
    return job.run(path).path
