"""End to end through vspipe: the y4m stream users pipe into ffmpeg (the CLI: tests/test_cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent

SCRIPT = """
import vapoursynth as vs
import vsrife
from vsrife.synthetic import clip_from_frames, photo, window
img = photo("astronaut")
src = clip_from_frames([window(img, 20 + 2.5 * k, 30 + 1.0 * k, 100, 62) for k in range(5)], 30000, 1001)
out = vsrife.RIFE(src, 3, model=MODEL)
out.resize.Point(format=vs.YUV444P16, matrix_s="709").set_output()
"""


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, timeout=600, stdin=subprocess.DEVNULL, env={**os.environ}, **kw)


def test_vspipe_y4m_stream_is_clean(tmp_path: Path, hdv3_path: str) -> None:
    vpy = tmp_path / "s.vpy"
    vpy.write_text(SCRIPT.replace("MODEL", repr(hdv3_path)))
    r = _run([str(BIN / "vspipe"), "-c", "y4m", str(vpy), "-"])
    assert r.returncode == 0, r.stderr.decode()
    data = r.stdout
    header, _, rest = data.partition(b"\n")
    fields = header.decode().split()
    assert fields[0] == "YUV4MPEG2"
    assert "W100" in fields and "H62" in fields and "F90000:1001" in fields
    assert any(f.startswith("C444p16") for f in fields)
    frame_bytes = 100 * 62 * 3 * 2
    n = 5 * 3
    # exactly n frames and nothing else: any stray print on stdout would break this
    assert len(rest) == n * (len(b"FRAME\n") + frame_bytes)
    for k in range(n):
        off = k * (6 + frame_bytes)
        assert rest[off : off + 6] == b"FRAME\n"


STOPS_EARLY = """
import sys
import vapoursynth as vs
import vsrife
from vsrife.synthetic import clip_from_frames, photo, window
vs.core.num_threads = 4
img = photo("astronaut")
src = clip_from_frames([window(img, 20 + 2.5 * k, 30 + 1.0 * k, 160, 96) for k in range(16)])
out = vsrife.RIFE(src, 2, model=MODEL, backend=BACKEND)
for i, f in enumerate(out.frames()):  # frames() keeps requests in flight ahead of the loop
    if i == 3:
        print("left at 3", flush=True)
        sys.exit(0)
"""


@pytest.mark.parametrize("backend", ["openvino", "torch"])
def test_a_script_that_stops_with_frames_in_flight_exits(tmp_path: Path, v46_file: str, backend: str) -> None:
    """At interpreter exit the inference thread was told to stop while VapourSynth still had frames
    in flight; their threads then asked it for more work and waited forever, and so did the exit
    (found by hostile testing: any script leaving a ``frames()`` loop early hung)."""
    script = tmp_path / "stops.py"
    script.write_text(STOPS_EARLY.replace("MODEL", repr(v46_file)).replace("BACKEND", repr(backend)))
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, timeout=120, stdin=subprocess.DEVNULL, check=False
    )
    assert r.returncode == 0 and r.stdout.decode().strip() == "left at 3", r.stderr.decode()[-2000:]
