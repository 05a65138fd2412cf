"""Fine-tuning a RIFE 4.x network on triplets, with the paper's losses and a validation guard.

Losses (RIFE, ECCV 2022, section 3):

* reconstruction: the distance between the predicted and the true middle frame, as plain L1 or as
  the L1 of their Laplacian pyramids (five levels: differences at every scale count alike);
* privileged distillation: a teacher block sees what a block after the student's last one would see
  (both frames and their features warped by the student's final flow, the timestep, the mask and the
  feedback features) plus the true middle frame, and refines the flow. The teacher is trained on its
  own reconstruction, and every student block's flow is pulled towards the teacher's (L2 distance,
  weight 0.01), but only where the teacher reconstructs better than that block (by more than 0.01
  in mean absolute error), so a student that is right is not pulled away.

Where the ground truth goes among the teacher's 31 input channels is not written in the checkpoint.
We measured it on the real 4.25 weights (six triplets of the three real sample videos, each of the 8
possible positions): with the ground truth right after the two warped frames, the teacher's
prediction of the middle frame is 5-10 dB better than the student's (e.g. 39.8 -> 46.5 dB), as a
teacher that sees the answer must be; in every other position it is 0.7-23 dB worse than the
student. Its mask replaces the student's (as in every 4.7+ block; adding to it measured 0.15-1.1 dB
worse).
The checkpoint's ``caltime.*`` (five 3 x 3 convs on both frames, the middle frame and the two
frames' features, 17 channels) estimates the timestep of the middle frame: on real triplets at
t = 1/4, 1/2, 3/4 its mean sigmoid output is 0.31, 0.53, 0.70. Triplets of a constant-rate clip
are at t = 1/2, so it is not used.

Validation guard: the network is scored (PSNR of the middle frame on fixed crops of held-out
triplets) before training and every ``val_every`` steps, with a moving average of the weights in
place when ``ema`` > 0 (the average is then what is kept); the best weights are kept, training stops
early when validation stops improving, and the base weights are returned unless the best beats
them by ``min_gain_db``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..archs import v4
from ..archs.common import IFBlock, Warp
from .triplets import Batch, Source, training_batch

log = logging.getLogger("vsrife")

DISTILL_WEIGHT = 0.01
DISTILL_MARGIN = 0.01
LAP_LEVELS = 5


# ------------------------------------------------------------------------------------ losses

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: Tensor, gain: float = 1.0) -> Tensor:
    """Separable 5-tap binomial blur per channel, edges reflected."""
    c = x.shape[1]
    k = (_BINOMIAL * gain).to(x)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def laplacian_pyramid(x: Tensor, levels: int = LAP_LEVELS) -> list[Tensor]:
    """Band-pass images, finest first, and the remaining low-pass image last."""
    bands = []
    for _ in range(levels - 1):
        if min(x.shape[-2:]) < 6:  # too small to blur with reflection
            break
        low = _blur(x)[..., ::2, ::2]
        up = torch.zeros_like(x)
        up[..., ::2, ::2] = low
        bands.append(x - _blur(up, 2.0))  # zero insertion keeps a quarter of the energy: 2 x 2 gain
        x = low
    bands.append(x)
    return bands


def reconstruction_loss(pred: Tensor, gt: Tensor, kind: str) -> Tensor:
    if kind == "l1":
        return (pred - gt).abs().mean()
    return sum((a - b).abs().mean() for a, b in zip(laplacian_pyramid(pred), laplacian_pyramid(gt), strict=True))  # type: ignore[return-value]


# ------------------------------------------------------------------------------------ traced forward


@dataclass
class Trace:
    """What the student computed: the cumulative flow and mask logit after every block, the last
    block's feedback features and the final (fused) prediction."""

    flows: list[Tensor] = field(default_factory=list)
    masks: list[Tensor] = field(default_factory=list)
    feedback: Tensor | None = None
    pred: Tensor | None = None
    feat0: Tensor | None = None
    feat1: Tensor | None = None


@contextmanager
def tracing(net: v4.IFNetV4):
    """Record every block's result during ``net``'s forward passes in the yielded :class:`Trace`.

    A block returns its flow *residual* and receives the flow so far, so the cumulative flow after a
    block is its input flow plus its output. (4.0 may restart at block 0 for large motion; the trace
    restarts with it.)

    The hook replaces a copy of the forward loop. A small addition to ``IFNetV4.forward`` (returning
    the per-block flows, masks and the last feedback when asked) would make it unnecessary.
    """
    trace = Trace()
    first = net.blocks[0]
    residual = net.cfg.mask_residual

    def record(block: nn.Module, args: tuple, out: tuple[Tensor, Tensor, Tensor]) -> None:
        flow_in = args[1]
        if block is first:
            trace.flows.clear()
            trace.masks.clear()
        fd, m, feat = out
        prev_mask = trace.masks[-1] if trace.masks else None
        trace.flows.append(fd if flow_in is None else flow_in + fd)
        trace.masks.append(m if (prev_mask is None or not residual) else prev_mask + m)
        trace.feedback = feat

    handles = [b.register_forward_hook(record) for b in net.blocks]
    try:
        yield trace
    finally:
        for h in handles:
            h.remove()


def student(net: v4.IFNetV4, img0: Tensor, img1: Tensor, warp: Warp) -> Trace:
    """The middle frame (t = 0.5) at scale 1, with the per-block flows and masks."""
    f0, f1 = net.encode(img0), net.encode(img1)
    with tracing(net) as trace:
        trace.pred = net(img0, img1, 0.5, warp, 1.0, feat0=f0, feat1=f1)
    trace.feat0, trace.feat1 = f0, f1
    return trace


def fuse(img0: Tensor, img1: Tensor, flow: Tensor, mask: Tensor, warp: Warp) -> Tensor:
    m = torch.sigmoid(mask)
    return warp(img0, flow[:, :2]) * m + warp(img1, flow[:, 2:4]) * (1 - m)


def teacher_pass(
    net: v4.IFNetV4, teacher: IFBlock, tr: Trace, img0: Tensor, img1: Tensor, gt: Tensor, warp: Warp
) -> tuple[Tensor, Tensor]:
    """(teacher flow, teacher prediction): one more block after the student's last, seeing the
    ground truth right after the two warped frames."""
    cfg = net.cfg
    flow, mask = tr.flows[-1], tr.masks[-1]
    parts = [warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4]), gt]
    f0, f1 = tr.feat0, tr.feat1
    if f0 is not None and f1 is not None:
        parts += [warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])]
    parts.append(img0.new_full((img0.shape[0], 1, *img0.shape[2:]), 0.5))
    parts.append(mask)
    if cfg.feedback:
        assert tr.feedback is not None
        parts.append(tr.feedback)
    fd, md, _ = teacher(torch.cat(parts, 1), flow, cfg.levels[-1])
    flow_t = flow + fd
    mask_t = mask + md if cfg.mask_residual else md
    return flow_t, fuse(img0, img1, flow_t, mask_t, warp)


def distillation_loss(
    tr: Trace,
    flow_t: Tensor,
    pred_t: Tensor,
    img0: Tensor,
    img1: Tensor,
    gt: Tensor,
    warp: Warp,
    valid: tuple[int, int],
) -> Tensor:
    h, w = valid
    flow_t = flow_t.detach()
    err_t = (pred_t - gt).abs().mean(1, keepdim=True).detach()
    total = img0.new_zeros(())
    for flow, mask in zip(tr.flows, tr.masks, strict=True):
        with torch.no_grad():
            err = (fuse(img0, img1, flow, mask, warp) - gt).abs().mean(1, keepdim=True)
            where = (err > err_t + DISTILL_MARGIN).float()
        dist = ((flow_t - flow) ** 2).sum(1, keepdim=True).add(1e-6).sqrt()
        total = total + (dist * where)[..., :h, :w].mean()
    return total


# ------------------------------------------------------------------------------------ the loop


@dataclass(frozen=True)
class TrainConfig:
    lr: float
    batch: int
    flips: str
    loss: str
    distill: bool
    precision: str
    val_every: int
    patience: int
    min_gain_db: float
    seed: int
    max_steps: int | None
    deadline: float
    """``time.perf_counter()`` value after which no further step starts."""
    ema: float
    """Decay of an exponential moving average of the weights, which validation scores and the guard
    keeps (0: the weights as trained); the default lives in ``AdaptSettings``."""
    schedule: str
    """The learning rate over training: "constant" or "cosine" (see :func:`learning_rate`)."""


@dataclass
class Outcome:
    state: dict[str, Tensor]
    """The network weights to keep (the base weights when adaptation did not help)."""
    kept: str  # "adapted" or "base"
    steps: int
    best_step: int
    base_psnr: float
    best_psnr: float
    history: list[tuple[int, float, float]]
    """(step, seconds since training started, validation PSNR) at every validation."""
    stopped: str
    """Why training ended: "budget", "steps", "early" (validation stopped improving) or "diverged"."""
    losses: list[float]

    @property
    def gain_db(self) -> float:
        return self.best_psnr - self.base_psnr if self.kept == "adapted" else 0.0


def _psnr(pred: Tensor, gt: Tensor) -> Tensor:
    mse = ((pred.clamp(0, 1) - gt) ** 2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


@torch.no_grad()
def validate(net: v4.IFNetV4, batches: Sequence[Batch], warps: Callable[[int, int], Warp]) -> float:
    """Mean PSNR (dB) of the predicted middle frames of the validation crops (real picture only)."""
    scores = []
    for b in batches:
        h, w = b.img0.shape[-2:]
        pred = net(b.img0, b.img1, 0.5, warps(h, w), 1.0)
        scores.append(_psnr(pred[..., : b.valid_h, : b.valid_w], b.gt[..., : b.valid_h, : b.valid_w]))
    return float(torch.cat(scores).mean())


class _Progress:
    """A progress bar on stderr (never stdout): share of the budget used, loss, validation PSNR."""

    def __init__(self, enabled: bool, budget: float, max_steps: int | None) -> None:
        from tqdm import tqdm

        self.start = time.perf_counter()
        self.budget = budget
        self.max_steps = max_steps
        self.bar = tqdm(
            total=1000,
            desc="adapting",
            file=sys.stderr,
            disable=not enabled,
            leave=False,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}",
        )

    def update(self, step: int, loss: float, val: float, base: float) -> None:
        frac = (time.perf_counter() - self.start) / self.budget if self.budget > 0 else 1.0
        if self.max_steps:
            frac = max(frac, step / self.max_steps)
        self.bar.n = min(1000, int(1000 * frac))
        self.bar.set_postfix_str(f"step {step} loss {loss:.4f} val {val:.2f} dB ({val - base:+.2f})", refresh=True)

    def close(self) -> None:
        self.bar.close()


def _warp_cache(device: torch.device) -> Callable[[int, int], Warp]:
    warps: dict[tuple[int, int], Warp] = {}

    def get(h: int, w: int) -> Warp:
        if (h, w) not in warps:
            warps[(h, w)] = Warp(h, w, device)
        return warps[(h, w)]

    return get


def _to(b: Batch, device: torch.device) -> Batch:
    return Batch(b.img0.to(device), b.img1.to(device), b.gt.to(device), b.valid_h, b.valid_w)


def _step(
    net: v4.IFNetV4,
    teacher: IFBlock | None,
    opt: torch.optim.Optimizer,
    source: Source,
    centres: Sequence[int],
    cfg: TrainConfig,
    rng: np.random.Generator,
    warps: Callable[[int, int], Warp],
    device: torch.device,
    autocast: Callable[[], AbstractContextManager],
) -> float:
    """One optimiser step on a fresh random batch; returns its loss."""
    b = _to(training_batch(source.store, centres, cfg.batch, source.crop_h, source.crop_w, rng, cfg.flips), device)
    warp = warps(source.crop_h, source.crop_w)
    h, w = b.valid_h, b.valid_w
    with autocast():
        tr = student(net, b.img0, b.img1, warp)
        assert tr.pred is not None
        loss = reconstruction_loss(tr.pred[..., :h, :w], b.gt[..., :h, :w], cfg.loss)
        if teacher is not None:
            flow_t, pred_t = teacher_pass(net, teacher, tr, b.img0, b.img1, b.gt, warp)
            loss = loss + reconstruction_loss(pred_t[..., :h, :w], b.gt[..., :h, :w], cfg.loss)
            loss = loss + DISTILL_WEIGHT * distillation_loss(tr, flow_t, pred_t, b.img0, b.img1, b.gt, warp, (h, w))
        flows = tr.flows + ([flow_t] if teacher is not None else [])
    if not all(bool(torch.isfinite(f).all()) for f in flows):
        # diverged; and grid_sample's CPU backward crashes the process on NaN sampling positions
        return math.nan
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


SCHEDULES = ("constant", "cosine")


def learning_rate(peak: float, schedule: str, progress: float) -> float:
    """The learning rate once ``progress`` (0..1) of the training is done: ``peak`` throughout
    ("constant"), or falling from ``peak`` to 0 along a half cosine ("cosine")."""
    if schedule == "constant":
        return peak
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def train(
    net: v4.IFNetV4,
    teacher_state: dict[str, Tensor] | None,
    sources: Sequence[Source],
    train_centres: Sequence[int],
    val_batches: Sequence[Batch],
    cfg: TrainConfig,
    device: torch.device,
    progress: bool,
) -> Outcome:
    """Fine-tune ``net`` (in place; the returned state is a copy) until the deadline, ``max_steps``
    or early stopping, and return the weights the validation guard keeps. Steps take turns over
    ``sources`` (the resolutions trained on)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([cfg.seed, 0])
    net.to(device).train()
    base_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    params = list(net.parameters())
    teacher = None
    if cfg.distill and teacher_state is not None:
        width = teacher_state["conv0.1.0.weight"].shape[0]
        teacher = IFBlock(net.cfg.block_inputs(False) + 3, width, net.cfg.block)
        teacher.load_state_dict(teacher_state)
        teacher.to(device).train()
        params += list(teacher.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    warps = _warp_cache(device)
    val_batches = [_to(b, device) for b in val_batches]
    trained = [p for p in net.parameters() if p.requires_grad]
    average = [p.detach().clone() for p in trained] if cfg.ema > 0 else None

    def scored() -> tuple[float, dict[str, Tensor] | None]:
        """Validation PSNR of the weights that would be kept (the average, if there is one) and,
        with an average, its weights as a state dict."""
        if average is None:
            return validate(net, val_batches, warps), None
        raw = [p.detach().clone() for p in trained]
        with torch.no_grad():
            for p, a in zip(trained, average):
                p.copy_(a)
            psnr = validate(net, val_batches, warps)
            state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            for p, r in zip(trained, raw):
                p.copy_(r)
        return psnr, state

    start = time.perf_counter()
    base_psnr = validate(net, val_batches, warps)
    val_cost = time.perf_counter() - start
    best_psnr, best_step, best_state = base_psnr, 0, base_state
    history = [(0, 0.0, base_psnr)]
    losses: list[float] = []
    bar = _Progress(progress, max(cfg.deadline - start, 1e-6), cfg.max_steps)

    def autocast() -> AbstractContextManager:
        return torch.autocast(device.type, dtype=torch.bfloat16) if cfg.precision == "bf16" else nullcontext()

    step, stale, stopped, step_cost = 0, 0, "budget", 0.0

    def out_of_time() -> bool:  # the next step and the validation that ends training would not fit
        return time.perf_counter() + step_cost + val_cost > cfg.deadline

    try:
        while not out_of_time() and cfg.max_steps != 0:
            t0 = time.perf_counter()
            done = (t0 - start) / max(cfg.deadline - start, 1e-6)
            if cfg.max_steps:
                done = max(done, step / cfg.max_steps)
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg.lr, cfg.schedule, done)
            source = sources[step % len(sources)]  # the resolutions take turns
            loss = _step(net, teacher, opt, source, train_centres, cfg, rng, warps, device, autocast)
            step += 1
            losses.append(loss)
            step_cost = time.perf_counter() - t0
            if not math.isfinite(loss):
                stopped = "diverged"
                break
            if average is not None:
                with torch.no_grad():
                    for a, p in zip(average, trained):
                        a.lerp_(p, 1.0 - cfg.ema)
            last = step == cfg.max_steps or out_of_time()
            if step % cfg.val_every == 0 or last:
                t1 = time.perf_counter()
                psnr, averaged = scored()
                val_cost = time.perf_counter() - t1
                history.append((step, time.perf_counter() - start, psnr))
                if psnr > best_psnr:
                    best_psnr, best_step, stale = psnr, step, 0
                    best_state = (
                        averaged
                        if averaged is not None
                        else {k: v.detach().clone() for k, v in net.state_dict().items()}
                    )
                else:
                    stale += 1
                if stale >= cfg.patience:
                    stopped = "early"
                    break
            bar.update(step, float(np.mean(losses[-10:])), history[-1][2], base_psnr)
            if last:
                stopped = "steps" if step == cfg.max_steps else "budget"
                break
    finally:
        bar.close()
    kept = "adapted" if best_step > 0 and best_psnr - base_psnr >= cfg.min_gain_db else "base"
    state = best_state if kept == "adapted" else base_state
    return Outcome(
        {k: v.cpu() for k, v in state.items()},
        kept,
        step,
        best_step if kept == "adapted" else 0,
        base_psnr,
        best_psnr,
        history,
        stopped,
        losses,
    )
