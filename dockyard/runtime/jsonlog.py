"""Docker's json-file log format: one JSON object per line, rotated by size.

    {"log":"hello\\n","stream":"stdout","time":"2026-11-27T23:20:00.123456789Z"}

The shim writes it while the container runs; the engine reads it for
`logs`. Rotation keeps ``max_file`` files: the live one and ``NAME.1`` ... ``NAME.(max_file-1)``.
"""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from dockyard.timefmt import parse_rfc3339, rfc3339_nano

# Docker splits long lines into 16 KiB entries, so a reader never holds a huge line.
MAX_ENTRY = 16 * 1024


class JsonLogWriter:
    """Appends output to a json-file log, splitting it into lines."""

    def __init__(self, path: Path, max_size: int = 0, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self.dropped = 0  # entries the disk had no room for

    def write(self, stream: str, data: bytes) -> None:
        buf = self._pending[stream] + data
        while True:
            cut = buf.find(b"\n")
            if cut < 0 and len(buf) < MAX_ENTRY:
                break
            end = cut + 1 if 0 <= cut < MAX_ENTRY else MAX_ENTRY
            self._emit(stream, buf[:end])
            buf = buf[end:]
        self._pending[stream] = buf

    def flush(self) -> None:
        """Write out partial lines (at exit, the last line may lack its newline)."""
        for stream, buf in self._pending.items():
            if buf:
                self._emit(stream, buf)
            self._pending[stream] = b""

    def close(self) -> None:
        self.flush()
        os.close(self._fd)

    def _emit(self, stream: str, chunk: bytes) -> None:
        entry = {
            "log": chunk.decode("utf-8", "replace"),
            "stream": stream,
            "time": rfc3339_nano(time.time_ns()),
        }
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        if self.max_size and self._size + len(line) > self.max_size and self._size:
            self._rotate()
        try:
            written = os.write(self._fd, line)
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            written = 0
        if written < len(line):
            # A full disk: the entry is dropped, as Docker's json-file logger drops it,
            # and no half line is left for readers. The container goes on.
            os.ftruncate(self._fd, self._size)
            self.dropped += 1
            return
        self._size += written

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_file == 1:
            os.truncate(self.path, 0)
        else:
            for n in range(self.max_file - 1, 1, -1):
                older = self.path.with_name(f"{self.path.name}.{n - 1}")
                if older.exists():
                    older.rename(self.path.with_name(f"{self.path.name}.{n}"))
            self.path.rename(self.path.with_name(f"{self.path.name}.1"))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._size = 0


@dataclass
class LogEntry:
    stream: str
    time: str
    data: bytes

    @property
    def timestamp(self) -> float:
        return parse_rfc3339(self.time)


def log_files(path: Path) -> list[Path]:
    """The rotated files oldest first, then the live one."""
    rotated = sorted(
        (p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: -int(p.suffix[1:]),
    )
    return [*rotated, path]


def parse_line(line: bytes) -> LogEntry | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None  # a line cut short by a crash mid-write
    if not isinstance(entry, dict):
        return None
    return LogEntry(
        entry.get("stream", "stdout"), entry.get("time", ""), entry.get("log", "").encode()
    )
