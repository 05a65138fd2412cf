"""End to end through vspipe (and ffmpeg): what users actually run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_cli_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo.mkv"
    r = _run([str(BIN / "vsrife"), "interpolate", "--frames", "4", "--size", "128x96", "-o", str(out)], text=True)
    assert r.returncode == 0, r.stderr
    m = re.search(r"wrote .*: (\d+) frames in ([\d.]+) s", r.stdout)
    assert m and int(m.group(1)) == 8, r.stdout
    assert out.stat().st_size > 1000


def test_cli_user_video_file(tmp_path: Path) -> None:
    import imageio_ffmpeg

    src = tmp_path / "in.mkv"
    mk = _run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
               "testsrc2=size=160x96:rate=25:duration=0.24", "-pix_fmt", "yuv420p", "-c:v", "ffv1", str(src)])
    assert mk.returncode == 0, mk.stderr
    out = tmp_path / "out.mkv"
    r = _run([str(BIN / "vsrife"), "interpolate", str(src), "--multi", "3", "-o", str(out)], text=True)
    assert r.returncode == 0, r.stderr
    assert re.search(r": 18 frames in", r.stdout), r.stdout


def test_cli_models_list_and_verify(hdv3_path: str) -> None:
    r = _run([str(BIN / "vsrife"), "models", "list"], text=True)
    assert r.returncode == 0 and re.search(r"^hdv3\s+ok\s+32\s+0.5 only\s+-\s+no\s+fetchable", r.stdout, re.M), r.stdout
    assert re.search(r"^4\.26\s+(not installed|ok)\s+64\s+any\s+4\s+no\s+fetchable\s+4\.25$", r.stdout, re.M), r.stdout
    assert re.search(r"^4\.25\.lite\s+.*\s128\s", r.stdout, re.M), r.stdout
    assert "default model (model=None): " in r.stdout
    r = _run([str(BIN / "vsrife"), "models", "verify", "hdv3"], text=True)
    assert r.returncode == 0 and "hdv3: " in r.stdout and r.stdout.strip().endswith("ok")


def test_cli_missing_model(tmp_path: Path) -> None:
    env = {**os.environ, "VSRIFE_MODEL_DIR": str(tmp_path)}
    r = subprocess.run([str(BIN / "vsrife"), "models", "verify", "hdv3"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and "not installed" in r.stdout
    r = subprocess.run([str(BIN / "vsrife"), "models", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert "none installed (vsrife models fetch hdv3)" in r.stdout


def test_python_m_vsrife_delegates() -> None:
    r = _run([sys.executable, "-m", "vsrife", "--help"], text=True)
    assert r.returncode == 0 and "models" in r.stdout and "interpolate" in r.stdout


@pytest.mark.parametrize("bad", [["models", "fetch", "nope"], ["interpolate", "/no/such/file.mkv"]])
def test_cli_errors_are_one_line(bad: list[str]) -> None:
    r = _run([str(BIN / "vsrife"), *bad], text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "vsrife:" in (r.stderr + r.stdout)
