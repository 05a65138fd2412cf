"""The record of a file's finished chunks, beside its parts, so that a re-run computes only what is
missing. Written by the driver alone, atomically, after every chunk.

A part counts as done only while the manifest's settings key matches the job's (source file,
frames, RIFE arguments, encoder settings, threads, chunk plan) and the file still has the size and
sha256 recorded for it; anything else is computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .chunks import Chunk
from .worker import ChunkResult, sha256_file

VERSION = 1
NAME = "manifest.json"


def settings_key(settings: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:32]


def part_name(chunk: Chunk) -> str:
    return f"part-{chunk.index:05d}.nut"


@dataclass
class Manifest:
    directory: Path
    key: str
    chunks: tuple[Chunk, ...]
    done: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.directory / NAME

    @classmethod
    def open(cls, directory: Path, key: str, chunks: Sequence[Chunk]) -> tuple[Manifest, str | None]:
        """The manifest in ``directory`` with the chunks still valid for ``key``, and a note on what
        was found (None: nothing there)."""
        fresh = cls(directory, key, tuple(chunks))
        try:
            data = json.loads(fresh.path.read_text())
        except FileNotFoundError:
            return fresh, None
        except (OSError, ValueError):
            return fresh, "its manifest is unreadable; starting over"
        if data.get("version") != VERSION or data.get("key") != key:
            return fresh, "the settings or the source changed since those parts were made; starting over"
        for entry in data.get("done", []):
            index = int(entry["index"])
            part = directory / str(entry["file"])
            if (
                index < len(chunks)
                and part.is_file()
                and part.stat().st_size == entry["size"]
                and sha256_file(part) == entry["sha256"]
            ):
                fresh.done[index] = entry
        return fresh, f"{len(fresh.done)} of {len(chunks)} chunks already done"

    def record(self, chunk: Chunk, result: ChunkResult, run: str, attempts: int) -> None:
        entry = {k: v for k, v in asdict(result).items() if k not in ("data", "file")}
        self.done[chunk.index] = {**entry, "file": part_name(chunk), "run": run, "attempts": attempts}
        self.save()

    def missing(self) -> list[Chunk]:
        return [c for c in self.chunks if c.index not in self.done]

    def save(self) -> None:
        data = {
            "version": VERSION,
            "key": self.key,
            "chunks": [asdict(c) for c in self.chunks],
            "done": [self.done[i] for i in sorted(self.done)],
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1)
            os.replace(tmp, self.path)
        finally:
            Path(tmp).unlink(missing_ok=True)
