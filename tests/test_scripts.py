"""The benchmark and the long-run check run (their figures go into the README and the issues, so a
script that no longer starts is a broken deliverable): tiny sizes, and what they print is checked."""

from __future__ import annotations

import json
import math
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
                "--vspipe-rounds", "2", "--json", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    row = json.loads(out.read_text())["64x48"]
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import CUDA_ROWS, ROWS

    for key in (k for k in ROWS if k not in CUDA_ROWS):
        assert row[key] > 0, key
    assert 0 < row["vspipe whole run cores"] <= 2.5 and row["vspipe peak RSS MB"] > 100
    steady = row["vspipe cores"]  # nan where 4 frames leave too short a full pipeline to sample
    assert steady != steady or 0 < steady <= 2.5
    assert len(row["vspipe / backend rounds"]) == 2 and row["vspipe / backend"] > 0
    assert re.search(r"vspipe\s+[\d.]+ s\s+[\d.]+x", r.stdout)
    assert re.search(r"against the tuned-allocator reference: backend [\d.]+x, vspipe [\d.]+x", r.stdout), r.stdout


@pytest.mark.unit
def test_the_steady_rate_leaves_the_pipelines_fill_out() -> None:
    """Seconds per output frame from the first progress line past a quarter of the frames to the
    last: a slow first frame (decode, convert and encode two sources) does not count."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from vspipe_run import PROGRESS, Run

    run = Run(48, 6.0, 0.0, progress=[(1, 10.0), (5, 11.0), (13, 12.0), (29, 14.0), (45, 16.0)])
    assert run.steady() == pytest.approx(4.0 / 32)  # frames 13 -> 45 in 4 s; frames 1-13 took longer
    assert run.steady(skip=0.0) == pytest.approx(6.0 / 44)
    assert math.isnan(Run(48, 6.0, 0.0, progress=[(45, 16.0)]).steady())  # one line: no rate
    text = b"Frame: 12/48 (7.8 fps)\rFrame: 13/48"
    assert [int(m.group(1)) for m in PROGRESS.finditer(text)] == [12, 13]
    assert not list(PROGRESS.finditer(b"Frame: 14")) and not list(PROGRESS.finditer(b"Frame: 14/"))


@pytest.mark.unit
def test_the_steady_cores_are_measured_over_the_steady_rates_window() -> None:
    """Cores busy over the same window as the steady rate: a first pair decoded and converted
    alone (one core) and the network's first call do not count, as they do not in a film."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from vspipe_run import Run, Sample

    # one core busy until 12 s (the pipeline filling), then two
    samples = [Sample(t, t if t <= 12 else 12 + 2 * (t - 12), 0, 1) for t in (9.0, 10.0, 11.0, 12.0, 14.0, 16.0)]
    run = Run(48, 6.0, 10.0, samples, progress=[(1, 10.0), (5, 11.0), (13, 12.0), (29, 14.0), (45, 16.0)])
    assert run.steady_cores() == pytest.approx(2.0)
    assert run.cores == pytest.approx((20 - 9) / (16 - 9))  # from the sample before the first frame
    assert math.isnan(Run(48, 6.0, 10.0, samples, progress=[(45, 16.0)]).steady_cores())


def test_longrun_reports_growth(v46_file: str) -> None:
    r = _script("longrun.py", "--frames", "60", "--size", "64x48", "--model", v46_file, "--backend", "torch")
    assert r.returncode in (0, 1), r.stderr[-3000:]  # 1: growth above the target (possible on 60 frames)
    assert re.search(r"^60 frames at 64x48 in ", r.stdout, re.M), r.stdout
    assert re.search(r"growth [+-][\d.]+%", r.stdout), r.stdout


@pytest.mark.graph
def test_bench_peers_encode_a_frame_per_call_like_the_reference(v425_random: dict) -> None:
    """The peer runtimes run what the reference and our backend run per in-between frame: the
    network with the later frame's features computed inside it (not handed in for free)."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import _PeerStep

    from vsrife import loader, registry
    from vsrife.archs.common import Warp
    from vsrife.backends import CPU, Target
    from vsrife.backends.graph import Interpolator
    from vsrife.backends.openvino_cpu import _Step

    spec = registry.get_spec("4.25")
    net = loader.build(loader.load(v425_random)).eval()
    graph = Interpolator(net, Target(spec, CPU, "fp32", 64, 64, (64, 64), 1.0, False), Warp(64, 64)).eval()
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 3, 64, 64, generator=g), torch.rand(1, 3, 64, 64, generator=g)
    t = torch.full((1, 1, 1, 1), 0.5)
    with torch.inference_mode():
        fa, fb = net.encode(a), net.encode(b)
        whole = graph(a, b, t, fa, fb)[0]
        peer = _PeerStep(_Step(graph), encodes=True)(a, b, t, fa)[0]
        given = _Step(graph)(a, b, t, fa, torch.zeros_like(fb))[0]
    assert torch.equal(peer, whole)
    assert not torch.equal(given, whole)  # the features matter: a peer handed wrong ones would differ


def test_pipeline_ab_compares_both_settings(v46_file: str) -> None:
    r = _script("pipeline_ab.py", "--model", v46_file, "--size", "64x48", "--frames", "12", "--rounds", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    rounds = re.findall(r"round \d: off ([\d.]+) s, on ([\d.]+) s per pair, on/off ([\d.]+)", r.stdout)
    assert len(rounds) == 2, r.stdout
    for off, on, ratio in rounds:
        assert float(off) > 0 and float(on) > 0 and math.isclose(float(ratio), float(on) / float(off), rel_tol=0.01)
    assert re.search(r"on / off, median of the rounds: [\d.]+ \(", r.stdout), r.stdout
