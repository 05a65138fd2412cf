"""``vsrife.RIFE``: the VapourSynth filter.

``RIFE()`` reads as four steps: :func:`validate.options` checks every argument; :func:`_prepare`
loads the model and plans the output's timing (:mod:`vsrife.timing`); :func:`_engine` builds the
inference engine; :func:`_graph` builds the frame graph that serves in-between frames in the
network's float RGB and restores the input's format, properties and timing on every output frame.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real
from typing import Any

import numpy as np
import vapoursynth as vs

from . import backends, loader, validate
from .backends import Target
from .engine import Engine, cache_entries, memory_problem, padded_size, pairs_in_flight
from .errors import ModelError
from .formats import WorkFormat, interpolated_props, uncached, warn_if_interlaced
from .loader import Model
from .scene import (
    BREAK_NEAR,
    CHANGE_PROP,
    DEFAULT_THRESHOLD,
    HELD_THRESHOLD,
    SCORE_PROP,
    ZOOM_PROP,
    CutRule,
    motion_break,
    moves,
    pair_differences,
    picture_near,
    zoom_cut,
)
from .timing import Plan, TimingError, make_plan, prop_fraction
from .validate import Options, error

log = logging.getLogger("vsrife")


FUNC = validate.FUNC

CACHE_BYTES = 1 << 30
"""At least this much of the engine's cache of frames and features is kept (more for large frames)."""


def RIFE(
    clip: vs.VideoNode,
    multi: int | Fraction | None = None,
    *,
    factor_num: int | Fraction | None = None,
    factor_den: int | None = None,
    fps_num: int | Fraction | None = None,
    fps_den: int | None = None,
    model: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    scale: float = 1.0,
    device: str | None = None,
    backend: str | None = None,
    precision: str = "auto",
    sc: bool = True,
    sc_threshold: float = DEFAULT_THRESHOLD,
    bisect_depth: int | None = None,
    ensemble: bool = False,
    timecodes: str | os.PathLike[str] | Sequence[Real] | None = None,
    held_frames: bool = False,
    held_threshold: float = HELD_THRESHOLD,
) -> vs.VideoNode:
    """Interpolate ``clip`` to a higher (or any other) frame rate with RIFE.

    Output frame ``k`` shows source time ``k / factor`` (in source frames), where ``factor`` is
    ``multi``, ``factor_num / factor_den``, or ``(fps_num / fps_den) / clip.fps``. Where that time is
    a source frame, the frame is passed through bit-exact; otherwise the two source frames around
    it are interpolated at the fraction ``t`` between them. The output lasts as long as the source
    (audio stays in sync); instants after the last source frame show it, as the source does.

    :param clip:        YUV, RGB or GRAY, 8-16 bit integer or 16/32 bit float, constant format
                        and size, at least 2 frames. The output has the same format.
    :param multi:       Frame-rate multiplier > 1, an int or a Fraction (default 2).
    :param factor_num:  Rational multiplier ``factor_num / factor_den`` instead (e.g. 5/2, or 1/2).
    :param fps_num:     Target frame rate ``fps_num / fps_den`` instead (e.g. 60000/1001).
    :param model:       None (the default model, 4.25), a model name (``"hdv3"``, see ``vsrife models
                        list``), a path to a checkpoint, or a state dict.
    :param scale:       Resolution of the flow estimation relative to the frame; 0.5 suits 4K.
    :param device:      None (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    :param backend:     None (the fastest exact one: OpenVINO on the CPU, torch on CUDA),
                        ``"torch"`` or ``"openvino"``.
    :param precision:   ``"auto"`` (on the CPU: OpenVINO's mixed bf16 where the CPU computes bf16
                        natively, flow and warps kept in f32, else fp32; on CUDA fp16 for 4.x, the
                        warp in fp32), ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA only).
    :param sc:          Detect scene changes: pairs the cheap luma metric flags are confirmed by the
                        network's own evidence (can the two frames be warped onto each other?);
                        a jump to a close-up (or back) is found by a search in scale.
                        Across a cut the output shows the earlier frame, as the source displays it,
                        instead of morphing two shots. Frames already marked ``_SceneChangeNext`` /
                        ``_SceneChangePrev`` are always honoured.
    :param sc_threshold: Threshold of the cheap first stage (0..1); pairs above half of it are checked.
    :param bisect_depth: For midpoint-only models (HDv3, the paper model): timesteps are reached by
                        bisection, to the nearest multiple of ``1 / 2**bisect_depth``.
    :param ensemble:    Also run each pair in reverse order and average (4.0-4.20).
    :param timecodes:   Frame start times of a variable-rate source: a Matroska v1/v2 timecodes file
                        or a list of seconds. Without it, a clip with fps 0 is timed from its
                        frames' ``_DurationNum/_DurationDen`` (one pass over the clip first).
    :param held_frames: Leave out frames that repeat the previous one (animation on 2s/3s) and
                        interpolate across the real motion interval instead (one pass first).
    :param held_threshold: Mean absolute luma difference (0..1) below which a frame counts as a repeat.
    """
    # every parameter, by name, to the one validation layer (locals() holds nothing else yet)
    opts = validate.options(**locals())
    resolved, name, target, plan = _prepare(opts)  # refuses a frame that cannot fit in memory first
    work = WorkFormat.of(plan.source)
    engine = _engine(opts, resolved, plan, name, target)
    warn_if_interlaced(plan.source)
    return _graph(opts, plan, engine, work)


def _prepare(opts: Options) -> tuple[Model, str, Target, Plan]:
    """The model, the backend's name and the target it runs at, and the output's timing (each can
    fail on the user's input: ``RIFE:`` errors). A frame that cannot fit in memory is refused
    before any frame is read: reading frame 0 (colour props) or every frame (a variable-rate
    clip's durations) of such a clip would take that memory first."""
    try:
        model = loader.resolve(opts.model, apart=not backends.torch_certain(opts.backend, opts.device))
    except ModelError as e:
        raise error("model", str(e)) from None
    spec = model.spec
    if opts.ensemble and not spec.ensemble:
        raise error(
            "ensemble",
            f"model {spec.name!r} does not support it",
            "models that do: 4.0 to 4.20 (see `vsrife models list`)",
        )
    try:
        name = backends.choose(opts.backend, spec, opts.device)
    except ValueError as e:
        raise error("backend", str(e)) from None
    try:
        precision = backends.resolve_precision(opts.precision, spec, opts.device, name)
    except ValueError as e:
        raise error("precision", str(e)) from None
    clip = opts.clip
    ph, pw = padded_size(clip.height, clip.width, spec.pad_multiple(opts.scale))
    target = Target(spec, opts.device, precision, clip.height, clip.width, (ph, pw), opts.scale, opts.ensemble)
    problem = memory_problem(target)
    if problem:
        raise error("clip", problem)
    try:
        plan = make_plan(
            opts.clip,
            opts.rate,
            timecodes=opts.timecodes,
            held_frames=opts.held_frames,
            held_threshold=opts.held_threshold,
            arbitrary_timestep=spec.arbitrary_timestep,
            bisect_depth=opts.bisect_depth,
        )
    except TimingError as e:
        text = str(e)
        arg, _, rest = text.partition(": ")
        raise (error(arg, rest) if arg in ("timecodes", "held_frames") else error(opts.rate.arg, text)) from None
    return model, name, target, plan


def _engine(opts: Options, model: Model, plan: Plan, name: str, target: Target) -> Engine:
    """The inference engine for this clip: backend, precision, padded size, bounded caches. A graph
    converted by an earlier run is served as it is (no checkpoint read, no PyTorch); otherwise the
    network is built from the checkpoint and handed to the backend."""
    spec = model.spec
    ph, pw = target.padded
    backend = backends.cached(name, target, model.weights, model.source) or _built(opts, model, name, target)
    frame_bytes = 4 * ph * pw * (3 + spec.encoder_channels)
    entries = cache_entries(vs.core.num_threads, plan.steps, plan.results_per_pair)
    engine = Engine(backend, target, cache_entries=entries, cache_bytes=max(CACHE_BYTES, 8 * frame_bytes))
    log.info(
        "RIFE: model %s, %s backend on %s (%s), padded to %dx%d",
        spec.name,
        backend.name,
        opts.device,
        target.precision,
        pw,
        ph,
    )
    return engine


def _built(opts: Options, model: Model, name: str, target: Target) -> backends.Backend:
    from .archs.common import Warp

    try:
        ckpt = model.read()
    except ModelError as e:
        raise error("model", str(e)) from None
    warp = Warp(*target.padded, str(opts.device))
    return backends.build(name, loader.build(ckpt), target, warp, fallback=opts.backend is None, weights=model.weights)


# --------------------------------------------------------------------------------------------- the graph


def retimed(clip: vs.VideoNode, plan: Plan) -> vs.VideoNode:
    """Frame k = the source frame of output k's pair, at the output's rate."""
    cycle, offsets = plan.timing.table()
    out = uncached(
        uncached(clip.std.SelectEvery(cycle=cycle, offsets=offsets, modify_duration=False))[: plan.num_frames]
    )
    if plan.fps > 0:
        out = uncached(out.std.AssumeFPS(fpsnum=plan.fps.numerator, fpsden=plan.fps.denominator))
    elif out.fps.numerator:  # variable-rate output (timecodes= on a clip with a rate): say so, fps 0
        out = variable_rate(out)
    return out


def variable_rate(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` with fps 0 (its frames, each with its own duration): AssumeFPS takes no 0, and a
    clip that keeps a rate is played at that rate whatever its frames' durations say."""
    template = vs.core.std.BlankClip(clip, fpsnum=0, fpsden=1)
    return uncached(template.std.ModifyFrame(clip, lambda n, f: f))


def following(clip: vs.VideoNode) -> vs.VideoNode:
    """Frame i is ``clip``'s frame i + 1 (the last one repeated); frames are passed on, not cached."""
    if clip.num_frames < 2:
        return clip
    return uncached(uncached(clip[1:]) + uncached(clip[-1]))


def _frame_errors[T](fn: Callable[..., T]) -> Callable[..., T]:
    """Errors while serving a frame read ``RIFE: <what> (frame N)``."""

    @functools.wraps(fn)
    def wrapper(n: int, *args: Any, **kwargs: Any) -> T:  # VapourSynth passes f= by keyword
        try:
            return fn(n, *args, **kwargs)
        except vs.Error as e:
            text = str(e).strip().splitlines()[-1].removeprefix("vapoursynth.Error: ")
            raise vs.Error(text if text.startswith(f"{FUNC}:") else f"{FUNC}: {text} (frame {n})") from None
        except Exception as e:  # noqa: BLE001 - whatever fails inside, the user sees one clear line
            raise vs.Error(f"{FUNC}: {type(e).__name__}: {e} (frame {n})") from None

    return wrapper


@dataclass(frozen=True)
class _Clips:
    """Clips aligned with the output (frame k belongs to output frame k)."""

    this: vs.VideoNode  # source frame i of output k's pair, untouched
    first: vs.VideoNode  # the same in the work format
    second: vs.VideoNode  # source frame i + 1 in the work format
    decision: vs.VideoNode  # the cut decision of pair i
    crossed: vs.VideoNode  # RifeSceneCut: a cut lies between output frames k - 1 and k
    crosses_next: vs.VideoNode  # ... between output frames k and k + 1


def _graph(opts: Options, plan: Plan, engine: Engine, work: WorkFormat) -> vs.VideoNode:
    src = plan.source
    wsrc = work.to_work(src, keep=pairs_in_flight(vs.core.num_threads, plan.steps))
    decisions = _decisions(src, wsrc, plan, engine, work, CutRule(opts.sc, opts.sc_threshold, engine.spec.tenth_cut))
    decision = retimed(decisions, plan)
    crossed = _crossings(decisions, decision, plan)
    clips = _Clips(
        this=retimed(src, plan),
        first=retimed(wsrc, plan),
        second=retimed(following(wsrc), plan),
        decision=decision,
        crossed=crossed,
        crosses_next=following(crossed),
    )
    between = uncached(work.from_work(uncached(_between(clips, plan, engine, work))))
    shown = [clips.this, between]

    def pick(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        return between if plan.at(n).t > 0 and not f.props["RifeSceneCut"] else clips.this

    picked = uncached(clips.this.std.FrameEval(_frame_errors(pick), prop_src=clips.decision, clip_src=shown))
    stamp = _stamper(plan)
    sides = [picked, clips.this, clips.decision, clips.crossed, clips.crosses_next]
    return picked.std.ModifyFrame(sides, _frame_errors(stamp))


def _later(clip: vs.VideoNode, j: int) -> vs.VideoNode:
    """Frame i is ``clip``'s frame i - j (frame 0 before that)."""
    n = clip.num_frames
    return uncached(clip[0] * n) if j >= n else uncached(clip[0] * j + clip[: n - j])


def _crossings(decisions: vs.VideoNode, decision: vs.VideoNode, plan: Plan) -> vs.VideoNode:
    """Frame k tells (``RifeSceneCut``) whether a cut lies between output frames k - 1 and k: in any
    of the pairs from k - 1's up to the one before k's. Raising the rate that is the pair before k's
    where k starts a new pair; lowering it (5/6, 1/3), output frames step over pairs, and a cut in a
    pair stepped over is still a cut between the two frames shown. The clip that reads ``L`` pairs is
    built when a frame first needs it (one per step length)."""
    # frame 0, and frames in the pair of the one before: a blank of the decisions' shape (not their
    # frames again, whose first-stage metric would be measured a second time)
    nothing = decision.std.BlankClip(keep=True).std.SetFrameProps(RifeSceneCut=0)
    ors: dict[int, vs.VideoNode] = {}
    lock = threading.Lock()

    def reading(steps: int) -> vs.VideoNode:
        with lock:
            if steps not in ors:  # decisions of pairs p - steps .. p - 1 for output frames in pair p
                back = [retimed(_later(decisions, j), plan) for j in range(1, steps + 1)]

                def any_cut(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
                    out = f[0].copy()
                    out.props["RifeSceneCut"] = int(any(g.props["RifeSceneCut"] for g in f))
                    return out

                ors[steps] = back[0] if steps == 1 else uncached(back[0].std.ModifyFrame(back, any_cut))
            return ors[steps]

    def pick(n: int) -> vs.VideoNode:
        steps = plan.at(n).pair - plan.at(n - 1).pair if n > 0 else 0
        return reading(steps) if steps > 0 else nothing

    return uncached(decision.std.FrameEval(_frame_errors(pick)))


def _between(clips: _Clips, plan: Plan, engine: Engine, work: WorkFormat) -> vs.VideoNode:
    """In-between frames in the work format (only asked for instants inside uncut pairs)."""

    def serve(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        shown = plan.at(n)
        frames = {shown.pair: f[0], shown.pair + 1: f[1]}
        result = engine.interpolate(shown.pair, shown.t, lambda i: work.planes(frames[i]))
        out = work.new_frame(f[0])
        work.write(out, engine.planes(result, work.dtype))
        engine.served(shown.pair, plan.in_betweens(shown.pair))
        return out

    def begin(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        shown = plan.at(n)
        frames = {shown.pair: f[0], shown.pair + 1: f[1]}
        engine.begin(shown.pair, shown.t, lambda i: work.planes(frames[i]))
        return f[0]

    if not engine.pipelined:
        return clips.first.std.ModifyFrame([clips.first, clips.second], _frame_errors(serve))
    # VapourSynth serves a Python filter's frames one at a time, so in-between frames (which wait
    # for the network) are served one after another; the frames they take come through a filter of
    # their own, which runs while the pair before is inferred (vspipe asks for the next pair then)
    # and starts the next pair's work (Engine.begin): the device goes on to it with no gap
    ahead = uncached(clips.first.std.ModifyFrame([clips.first, clips.second], _frame_errors(begin)))
    return ahead.std.ModifyFrame([ahead, clips.second], _frame_errors(serve))


def _decisions(
    src: vs.VideoNode, wsrc: vs.VideoNode, plan: Plan, engine: Engine, work: WorkFormat, rule: CutRule
) -> vs.VideoNode:
    """A clip whose frame i carries the cut decision of pair (i, i + 1): ``RifeSceneCut`` and the
    scores behind it. Cheap first; the network is asked only about pairs the first stage flags."""
    nxt = following(src)
    last = src.num_frames - 1
    # a 1x1 carrier when there is no metric: the decisions clip never carries full-size frames
    scores = (
        pair_differences(src, zoom=True)
        if rule.detect
        else src.std.BlankClip(width=1, height=1, format=vs.GRAY8, keep=True)
    )

    def first_stage(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        tagged = bool(f[1].props.get("_SceneChangeNext", 0)) or bool(f[2].props.get("_SceneChangePrev", 0))
        score = float(f[0].props[SCORE_PROP]) if rule.detect else 0.0
        # a jump to a closer or farther picture needs no network run to be told from motion
        jump = rule.detect and n < last and zoom_cut(f[0].props[ZOOM_PROP])
        out.props.update(
            RifeSceneCut=int(n < last and (tagged or jump)),
            RifeSceneDiff=score,
            RifeSceneCandidate=int(n < last and not tagged and not jump and rule.candidate(score)),
        )
        return out

    staged = scores.std.ModifyFrame([scores, src, nxt], _frame_errors(first_stage))
    if not rule.detect:
        return staged
    wnext = following(wsrc)

    def confirm(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        frames = {n: f[1], n + 1: f[2]}
        t = plan.first_timestep(n) or Fraction(1, 2)
        ev = engine.evidence(n, t, lambda i: work.planes(frames[i]))
        out = f[0].copy()
        out.props.update(RifeSceneCut=int(rule.confirm(ev)), RifeSceneEvidence=[float(v) for v in ev.flatten()])
        return out

    confirmed = staged.std.ModifyFrame([staged, wsrc, wnext], _frame_errors(confirm))

    def check_break(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        # f: the metric frames n - 1 .. n + 2, each also the small luma of its source frame; the
        # pairs beside n that exist (n - 1 from frame 1 on, n + 1 up to the last pair) and move (a
        # repeat says nothing, and is not measured)
        luma = [np.asarray(g[0]) for g in f]
        beside = [
            (k, k + 1) for k, there in ((0, n > 0), (2, n + 1 < last)) if there and moves(f[k].props[CHANGE_PROP])
        ]
        nears = [
            (picture_near(luma[i], luma[j], f[i].props[SCORE_PROP], f[i].props[ZOOM_PROP]), f[i].props[CHANGE_PROP])
            for i, j in beside
        ]
        out = f[1].copy()
        if motion_break(_near(f[1]), nears):
            out.props.update(RifeSceneCut=1, RifeSceneCandidate=0)
        return out

    # a pair that no motion of the whole picture explains may be a break in the picture's motion,
    # told by the pairs beside it without a network run; only such pairs read them. Like the jump
    # in scale, the break does not hang on the first stage's threshold: the picture-wide
    # correlation does not fade with contrast (a dim brick wall's cut scores under the candidates)
    around = [_later(scores, 1), staged, following(scores), following(following(scores))]
    checked = staged.std.ModifyFrame(around, _frame_errors(check_break))

    def after_check(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        return confirmed if f.props["RifeSceneCandidate"] else checked

    unexplained = staged.std.FrameEval(_frame_errors(after_check), prop_src=checked, clip_src=[checked, confirmed])

    def route(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        if f.props["RifeSceneCut"] or n >= last:
            return staged
        if 0 <= _near(f) <= BREAK_NEAR:
            return unexplained
        return confirmed if f.props["RifeSceneCandidate"] else staged

    return staged.std.FrameEval(_frame_errors(route), prop_src=staged, clip_src=[staged, confirmed, unexplained])


def _near(f: vs.VideoFrame) -> float:
    """How well one motion of the whole picture explains a pair (``near`` of its ``RifeSceneZoom``)."""
    return float(f.props[ZOOM_PROP][2])


_SCENE_KEYS = ("RifeSceneDiff", "RifeSceneEvidence", ZOOM_PROP)


def _stamper(plan: Plan) -> Callable[[int, list[vs.VideoFrame]], vs.VideoFrame]:
    """Props of output frame n: timing from the plan (``_AbsoluteTime`` counted from the shown source
    frame's own ``_AbsoluteTime``, so a source that starts late keeps its clock and a source frame keeps
    its stamp, with no request beyond the pair), the source frame's own props on every frame (interpolated ones included), and
    scene-change props at the output's cut positions."""

    def stamp(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        shown = plan.at(n)
        out = f[0].copy()
        props = out.props
        source, decision = f[1].props, f[2].props
        cut = bool(decision["RifeSceneCut"])
        interpolated = shown.t > 0 and not cut
        if interpolated:
            interpolated_props(out, source)
        props["_SceneChangeNext"] = int(n + 1 < plan.num_frames and bool(f[4].props["RifeSceneCut"]))
        props["_SceneChangePrev"] = int(bool(f[3].props["RifeSceneCut"]))
        props["RifeSceneCut"] = int(cut and shown.t > 0)
        props["RifeTimestep"] = float(shown.t) if interpolated else 0.0
        for key in _SCENE_KEYS:
            if key in decision:
                props[key] = decision[key]
        props["_DurationNum"], props["_DurationDen"] = prop_fraction(shown.duration)
        own = source.get("_AbsoluteTime")
        since = shown.time - plan.timing.source_time(shown.pair)
        props["_AbsoluteTime"] = (
            float(own) + float(since)
            if isinstance(own, (int, float)) and not isinstance(own, bool)
            else float(shown.time)
        )
        return out

    return stamp
