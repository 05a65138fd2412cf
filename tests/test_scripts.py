"""The benchmark and the long-run check run (their figures go into the README and the issues, so a
script that no longer starts is a broken deliverable): tiny sizes, and what they print is checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_bench_measures_every_row(tmp_path: Path, v46_file: str) -> None:
    out = tmp_path / "bench.json"
    r = _script("bench.py", "--model", v46_file, "--size", "64x48", "--runs", "1", "--vspipe-frames", "4",
                "--json", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    row = json.loads(out.read_text())["64x48"]
    for key in ("ref", "ort f32", "ov f32", "ov bf16", "backend", "RIFE", "vspipe"):
        assert row[key] > 0, key
    assert 0 < row["vspipe cores"] <= 2.5 and row["vspipe peak RSS MB"] > 100
    assert re.search(r"vspipe\s+[\d.]+ s\s+[\d.]+x", r.stdout)


def test_longrun_reports_growth(v46_file: str) -> None:
    r = _script("longrun.py", "--frames", "60", "--size", "64x48", "--model", v46_file, "--backend", "torch")
    assert r.returncode in (0, 1), r.stderr[-3000:]  # 1: growth above the target (possible on 60 frames)
    assert re.search(r"^60 frames at 64x48 in ", r.stdout, re.M), r.stdout
    assert re.search(r"growth [+-][\d.]+%", r.stdout), r.stdout
