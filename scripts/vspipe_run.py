"""Run a .vpy through ``vspipe -c y4m | ffmpeg -f null`` and watch it: vspipe's own output time (from
the first frame request to the last frame, so the script's start-up is left out), the time each
progress line arrived (for the steady rate, without the pipeline's fill), CPU time, resident and
peak memory over the process tree, sampled every 0.1 s (Linux /proc). Shared by bench.py and
longrun.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Sample:
    time: float
    cpu: float  # seconds, user + system, whole tree
    rss_kb: int  # resident now (VmRSS), summed over the tree
    peak_kb: int  # largest VmHWM in the tree


@dataclass
class Run:
    frames: int
    seconds: float  # vspipe's "Output N frames in S seconds"
    first_frame: float  # perf_counter() when the first frame was out
    samples: list[Sample] = field(default_factory=list)
    progress: list[tuple[int, float]] = field(default_factory=list)  # (frames out, perf_counter())

    def _live(self, skip: float) -> list[tuple[int, float]]:
        """The progress lines from the first one past ``skip`` of the frames on (empty without two
        such lines)."""
        live = [(k, t) for k, t in self.progress if k >= skip * self.frames]
        return live if len(live) >= 2 and live[-1][0] > live[0][0] else []

    def steady(self, skip: float = 0.25) -> float:
        """Seconds per output frame once the pipeline is full: from the first progress line past
        ``skip`` of the frames to the last one. vspipe's own total also holds the first frames'
        latency (the first pair needs both its source frames decoded, converted and encoded before
        anything comes out), which a long film spends once; nan without two such lines."""
        live = self._live(skip)
        if not live:
            return float("nan")
        return (live[-1][1] - live[0][1]) / (live[-1][0] - live[0][0])

    def steady_cores(self, skip: float = 0.25) -> float:
        """CPU seconds per second over the window :meth:`steady` times (the samples inside it),
        what a film keeps busy once the pipeline is full; the whole run's figure (:attr:`cores`)
        also holds the first pair, decoded and converted before anything else can run, and the
        network's first call, in which OpenVINO lays out its weights. nan without two samples."""
        live = self._live(skip)
        inside = [s for s in self.samples if live and live[0][1] <= s.time <= live[-1][1]]
        if len(inside) < 2 or inside[-1].time <= inside[0].time:
            return float("nan")
        return (inside[-1].cpu - inside[0].cpu) / (inside[-1].time - inside[0].time)

    def after_first(self) -> list[Sample]:
        """The samples from the last one before the first frame came out (the start of output)."""
        before = [i for i, s in enumerate(self.samples) if s.time < self.first_frame]
        return self.samples[before[-1] if before else 0 :]

    @property
    def cores(self) -> float:
        """CPU seconds per second while frames were being produced (nan for a run too short to
        sample twice: a short clip served without PyTorch can finish in a tenth of a second)."""
        live = self.after_first()
        if len(live) < 2 or live[-1].time <= live[0].time:
            return float("nan")
        return (live[-1].cpu - live[0].cpu) / (live[-1].time - live[0].time)

    @property
    def peak_mb(self) -> float:
        return max((s.peak_kb for s in self.samples), default=0) / 1024


PROGRESS = re.compile(rb"Frame: (\d+)/\d+")
"""vspipe -p's progress line (``Frame: 12/48 (7.8 fps)``, rewritten in place with a carriage return)."""


def _tree(pid: int) -> list[int]:
    """The process and its descendants (the ``vspipe`` on PATH is a Python launcher of the real one)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            todo += [int(c) for c in task.read_text().split()]
    return out


def _sample(pid: int) -> Sample:
    cpu, rss, peak = 0.0, 0, 0
    for p in _tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        # utime + stime + the reaped children's cutime + cstime: a helper process that exits moves
        # its time into its parent's, so the tree's total never drops
        cpu += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        status = Path(f"/proc/{p}/status").read_text()
        if m := re.search(r"VmRSS:\s+(\d+) kB", status):
            rss += int(m.group(1))
        if m := re.search(r"VmHWM:\s+(\d+) kB", status):
            peak = max(peak, int(m.group(1)))
    return Sample(time.perf_counter(), cpu, rss, peak)


def run(script: str, interval: float = 0.02) -> Run:
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory() as tmp:
        vpy = Path(tmp) / "run.vpy"
        vpy.write_text(script)
        pipe = subprocess.Popen(
            [str(Path(sys.executable).with_name("vspipe")), "-p", "-c", "y4m", str(vpy), "-"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        enc = subprocess.Popen(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", "-", "-f", "null", "-"],
            stdin=pipe.stdout,
            stderr=subprocess.DEVNULL,
        )
        assert pipe.stdout is not None and pipe.stderr is not None
        pipe.stdout.close()
        samples: list[Sample] = []
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                try:
                    s = _sample(pipe.pid)
                    if s.peak_kb:
                        samples.append(s)
                except (OSError, IndexError, ValueError):
                    pass
                done.wait(interval)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        err, first, progress, seen = b"", None, [], 0
        while chunk := pipe.stderr.read1(4096):
            now = time.perf_counter()
            err += chunk
            if first is None and b"Frame: 1/" in err:
                first = now
            end = seen
            for m in PROGRESS.finditer(err, seen):  # a line split across two reads is read again whole
                progress.append((int(m.group(1)), now))
                end = m.end()
            seen = end
        enc.wait()
        pipe.wait()
        done.set()
        poller.join()
    text = err.decode(errors="replace")
    m = re.search(r"Output (\d+) frames in ([\d.]+) seconds", text)
    if pipe.returncode or first is None or m is None:
        raise SystemExit(f"vspipe failed: {text[-2000:]}")
    return Run(int(m.group(1)), float(m.group(2)), first, samples, progress)
