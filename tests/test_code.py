"""The code itself: the linter and the type checker are part of the test command, so CI (which runs
exactly that command) fails on a lint error or a type error like on any other broken test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import cache_dir

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_ruff_finds_nothing() -> None:
    r = _run("ruff", "check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_code_is_formatted() -> None:
    r = _run("ruff", "format", "--check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout + r.stderr + "\nrun: .venv/bin/ruff format ."


def test_mypy_finds_nothing() -> None:
    # files and strictness from pyproject.toml; the incremental cache lives in the test cache, so a
    # fresh clone on a machine that ran the suite before checks in seconds instead of ~45 s (mypy
    # re-checks every file whose contents or dependencies changed)
    r = _run("mypy", "--cache-dir", str(cache_dir() / "mypy"))
    assert r.returncode == 0, r.stdout + r.stderr


FRAME_PATH = ("scene.py", "formats.py", "filter.py", "engine.py", "timing.py", "backends/openvino_runtime.py")
"""Modules whose numpy code runs on VapourSynth's threads for every frame, beside OpenVINO."""

BLAS_CALLS = frozenset({"dot", "matmul", "einsum", "tensordot", "inner", "vdot", "linalg"})


def test_nothing_on_the_frame_path_wakes_blas_threads() -> None:
    # a small matrix product on a VapourSynth thread woke numpy's BLAS threads, whose spinning beside
    # OpenVINO cost vspipe 10 % at 1280x720 (the scene detector's first scale search, 2026-12-07)
    import ast

    found = []
    for name in FRAME_PATH:
        path = ROOT / "vsrife" / name
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
                found.append(f"{name}:{node.lineno} @")
            elif isinstance(node, ast.Attribute) and node.attr in BLAS_CALLS:
                found.append(f"{name}:{node.lineno} {node.attr}")
    assert not found, found
