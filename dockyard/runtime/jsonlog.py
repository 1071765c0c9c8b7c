"""Docker's json-file log format: one JSON object per line, rotated by size.

    {"log":"hello\\n","stream":"stdout","time":"2026-11-27T23:20:00.123456789Z"}
    {"log":"hi\\n","stream":"stdout","attrs":{"tag":"web"},"time":"..."}  (json-file's attrs)

The shim writes it while the container runs; the engine reads it for
`logs`. Rotation keeps ``max_file`` files: the live one and ``NAME.1`` ... ``NAME.(max_file-1)``,
with ``compress`` gzipped as ``NAME.N.gz`` (each made beside as ``.tmp`` and renamed, then
its source removed: a listing that shows both ``NAME.N`` and ``NAME.N.gz`` means the latter).
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard.timefmt import parse_rfc3339, rfc3339_nano

_GZIP_FEXTRA, _GZIP_FNAME = 0x04, 0x08
# Docker splits long lines into 16 KiB entries, so a reader never holds a huge line.
MAX_ENTRY = 16 * 1024


class JsonLogWriter:
    """Appends output to a json-file log, splitting it into lines."""

    def __init__(
        self,
        path: Path,
        max_size: int = 0,
        max_file: int = 1,
        compress: bool = False,
        attrs: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self.compress = compress
        self.attrs = attrs or {}
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
        entry: dict[str, object] = {"log": chunk.decode("utf-8", "replace"), "stream": stream}
        if self.attrs:
            entry["attrs"] = self.attrs
        entry["time"] = rfc3339_nano(time.time_ns())
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
                for suffix in ("", ".gz"):
                    older = self._rotated(n - 1, suffix)
                    if older.exists():
                        older.rename(self._rotated(n, suffix))
            self.path.rename(self._rotated(1))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._size = 0
        if self.compress and self.max_file > 1:
            _gzip(self._rotated(1), self._rotated(1, ".gz"))

    def _rotated(self, number: int, suffix: str = "") -> Path:
        return self.path.with_name(f"{self.path.name}.{number}{suffix}")


def _gzip(source: Path, target: Path) -> None:
    """``source`` compressed as ``target``, which appears whole (renamed into place). The
    gzip header's file name is ``source``'s inode, which stays its identity (``identity``)."""
    temp = target.with_name(target.name + ".tmp")
    with open(source, "rb") as f, open(temp, "wb") as raw:
        inode = str(os.fstat(f.fileno()).st_ino)
        with gzip.GzipFile(inode, "wb", compresslevel=1, fileobj=raw, mtime=0) as out:
            shutil.copyfileobj(f, out)
    temp.rename(target)
    source.unlink()


def identity(f: BinaryIO, name: Path) -> int:
    """What tells a log file from the others across rotation: its inode, or for a
    compressed one the inode of the file it was made from. A reader that holds a file
    open keeps its inode from being reused, so it can find that file again by it."""
    inode = os.fstat(f.fileno()).st_ino
    if name.suffix != ".gz":
        return inode
    header = os.pread(f.fileno(), 512, 0)
    if header[:3] != b"\x1f\x8b\x08" or not header[3] & _GZIP_FNAME:
        return inode
    start = 10
    if header[3] & _GZIP_FEXTRA:
        start += 2 + int.from_bytes(header[10:12], "little")
    recorded = header[start:].partition(b"\0")[0]
    return int(recorded) if recorded.isdigit() else inode


@dataclass
class LogEntry:
    stream: str
    time: str
    data: bytes
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def timestamp(self) -> float:
        return parse_rfc3339(self.time)


def log_files(path: Path) -> list[Path]:
    """The rotated files oldest first (``NAME.N.gz`` rather than ``NAME.N``), then the live one."""
    rotated: dict[int, Path] = {}
    for candidate in path.parent.glob(path.name + ".*"):
        number, _, gz = candidate.name[len(path.name) + 1 :].partition(".")
        if number.isdigit() and gz in ("", "gz") and (gz or int(number) not in rotated):
            rotated[int(number)] = candidate
    return [rotated[n] for n in sorted(rotated, reverse=True)] + [path]


def parse_line(line: bytes) -> LogEntry | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None  # a line cut short by a crash mid-write
    if not isinstance(entry, dict):
        return None
    attrs = entry.get("attrs")
    return LogEntry(
        entry.get("stream", "stdout"),
        entry.get("time", ""),
        entry.get("log", "").encode(),
        attrs if isinstance(attrs, dict) else {},
    )
