"""Scene-change detection with nothing but the core (``misc.SCDetect`` is not on PyPI).

The metric is the mean absolute difference of luma between consecutive frames, measured on a
copy shrunk to at most 256 pixels wide (values normalised to 0..1). Shrinking first makes the
metric about what changed in the picture rather than about noise, grain or small motion.
"""

from __future__ import annotations

import vapoursynth as vs

DEFAULT_THRESHOLD = 0.1
"""Mean absolute luma difference (0..1) above which two frames are taken to belong to different
shots. 0.1 is the value ``misc.SCDetect`` users know; fades and flashes may need a higher one."""

METRIC_WIDTH = 256


def _luma_small(clip: vs.VideoNode) -> vs.VideoNode:
    w = min(clip.width, METRIC_WIDTH)
    h = max(1, round(clip.height * w / clip.width))
    kw = {"matrix_s": "709"} if clip.format.color_family == vs.RGB else {}
    return clip.resize.Bilinear(w, h, format=vs.GRAYS, **kw)


def pair_differences(clip: vs.VideoNode) -> vs.VideoNode:
    """A clip whose frame n carries ``PlaneStatsDiff`` = difference between frames n and n+1
    (0 for the last frame)."""
    small = _luma_small(clip)
    following = small[1:] + small[-1] if clip.num_frames > 1 else small
    return small.std.PlaneStats(following)


def scene_changes(clip: vs.VideoNode, threshold: float = DEFAULT_THRESHOLD) -> vs.VideoNode:
    """Set ``_SceneChangeNext`` / ``_SceneChangePrev`` (0/1) on every frame of ``clip``.

    Frame n gets ``_SceneChangeNext = 1`` when the difference to n+1 exceeds ``threshold``, and
    frame n+1 gets ``_SceneChangePrev = 1``. The measured difference is kept as ``SceneDiffNext``.
    """
    if not isinstance(clip, vs.VideoNode):
        raise vs.Error("scene_changes: clip must be a video clip")
    if clip.format is None or clip.width == 0 or clip.height == 0:
        raise vs.Error("scene_changes: clips of variable format or size are not supported; resize first")
    if not 0 < threshold <= 1:
        raise vs.Error(f"scene_changes: threshold must be in (0, 1], got {threshold}")
    diffs = pair_differences(clip)
    previous = diffs[0] + diffs[:-1] if clip.num_frames > 1 else diffs
    last = clip.num_frames - 1

    def mark(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        nxt = float(f[1].props["PlaneStatsDiff"]) if n < last else 0.0
        prv = float(f[2].props["PlaneStatsDiff"]) if n > 0 else 0.0
        out.props["_SceneChangeNext"] = int(nxt > threshold)
        out.props["_SceneChangePrev"] = int(prv > threshold)
        out.props["SceneDiffNext"] = nxt
        return out

    return clip.std.ModifyFrame([clip, diffs, previous], mark)
