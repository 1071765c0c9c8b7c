"""`docker logs`: a container's json-file log, read back, filtered and followed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dockyard.runtime.jsonlog import LogEntry, parse_line, read_entries

# json-file has no change notifications: a follower polls this often.
POLL_SECONDS = 0.05


@dataclass
class LogReader:
    """What one `logs` request wants from a log file: (stream number, bytes) items."""

    path: Path
    stdout: bool = True
    stderr: bool = True
    since: float = 0.0
    until: float = 0.0
    timestamps: bool = False

    def past(self, tail: int | None) -> Iterator[tuple[int, bytes]]:
        entries = list(read_entries(self.path))
        if tail is not None and tail >= 0:
            entries = entries[len(entries) - tail :] if tail else []
        for entry in entries:
            item = self._shape(entry)
            if item:
                yield item

    async def follow(self, running: Callable[[], bool]) -> AsyncGenerator[tuple[int, bytes], None]:
        """New entries from now on, until ``running()`` turns false and the file is read out."""
        async for entry in _tail(self.path, running):
            item = self._shape(entry)
            if item:
                yield item

    def _shape(self, entry: LogEntry) -> tuple[int, bytes] | None:
        number = {"stdout": 1 if self.stdout else 0, "stderr": 2 if self.stderr else 0}.get(
            entry.stream, 0
        )
        if not number:
            return None
        ts = entry.timestamp
        if (self.since and ts < self.since) or (self.until and ts > self.until):
            return None
        return number, (entry.time.encode() + b" " if self.timestamps else b"") + entry.data


async def _tail(path: Path, running: Callable[[], bool]) -> AsyncGenerator[LogEntry, None]:
    try:
        f: IO[bytes] = open(path, "rb")  # noqa: SIM115 - reopened on rotation, closed below
    except FileNotFoundError:
        return
    try:
        f.seek(0, os.SEEK_END)
        partial = b""
        while True:
            # Asked before reading, so that what the container wrote last is still read.
            alive = running()
            chunk = f.read()
            if chunk:
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines:
                    entry = parse_line(line)
                    if entry:
                        yield entry
                continue
            if _rotated(path, f):
                f.close()
                f = open(path, "rb")  # noqa: SIM115
                continue
            if not alive:
                return
            await asyncio.sleep(POLL_SECONDS)
    finally:
        f.close()


def _rotated(path: Path, f: IO[bytes]) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return False
