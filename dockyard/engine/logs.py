"""`docker logs`: a container's json-file log (or local's), read back, filtered and followed.

The files are read in worker threads, one batch at a time, so that a large
log neither blocks the event loop nor sits in memory: the next batch is read
only once the client has taken the last one (the API awaits every write).
``--tail N`` reads the files backwards from their end and holds N lines at
most. A follower goes on from the very byte where the past ended, in the
same open file, and then into the files rotation opened after it, so that
no line is lost or repeated between the past and what follows. A compressed
rotated file (``NAME.N.gz``) is read through an unlinked decompressed copy, and
known by the inode of the file it was made from, which its gzip header records.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote_plus

from dockyard.runtime.jsonlog import LogEntry, identity, log_files, parse_line

# json-file has no change notifications: a follower polls this often.
POLL_SECONDS = 0.05
# Raw log bytes a worker thread reads and decodes in one step.
BATCH_BYTES = 256 * 1024
# Longer than any entry the shim writes (16 KiB of output, escaped as JSON):
# bytes without a newline beyond this are not a line, and are dropped.
MAX_LINE = 1024 * 1024


@dataclass
class LogReader:
    """What one `logs` request wants from a log file: (stream number, bytes) items."""

    path: Path
    stdout: bool = True
    stderr: bool = True
    since: float = 0.0
    until: float = 0.0
    timestamps: bool = False
    details: bool = False  # each line's attrs first, as moby writes them

    async def read(
        self, tail: int | None, running: Callable[[], bool] | None
    ) -> AsyncGenerator[tuple[int, bytes], None]:
        """The past (its last ``tail`` entries; all when None), then, with ``running``,
        new entries until ``running()`` turns false and the files are read out."""
        files = await asyncio.to_thread(_LogFiles, self.path)
        try:
            if tail is not None and tail >= 0:
                for item in await asyncio.to_thread(self._last_batch, files, tail):
                    yield item
            while True:
                # Asked before reading, so that what the container wrote last is still read.
                alive = running is not None and running()
                batch = await asyncio.to_thread(self._next_batch, files)
                if batch is not None:
                    for item in batch:
                        yield item
                    continue
                if not alive:
                    return
                await asyncio.sleep(POLL_SECONDS)
        finally:
            # In a worker too: a cancelled request may leave a read running there.
            asyncio.get_running_loop().run_in_executor(None, files.close)

    def _last_batch(self, files: _LogFiles, tail: int) -> list[tuple[int, bytes]]:
        return self._shape_all(files.tail(tail))

    def _next_batch(self, files: _LogFiles) -> list[tuple[int, bytes]] | None:
        lines = files.read_lines()
        return None if lines is None else self._shape_all(lines)

    def _shape_all(self, lines: list[bytes]) -> list[tuple[int, bytes]]:
        items = (self._shape(entry) for entry in map(parse_line, lines) if entry is not None)
        return [item for item in items if item is not None]

    def _shape(self, entry: LogEntry) -> tuple[int, bytes] | None:
        number = {"stdout": 1 if self.stdout else 0, "stderr": 2 if self.stderr else 0}.get(
            entry.stream, 0
        )
        if not number or not self._in_window(entry):
            return None
        data = _details(entry.attrs) + entry.data if self.details else entry.data
        return number, (entry.time.encode() + b" " if self.timestamps else b"") + data

    def _in_window(self, entry: LogEntry) -> bool:
        if not self.since and not self.until:
            return True
        try:
            ts = entry.timestamp
        except ValueError:
            return False  # no time to compare
        return not ((self.since and ts < self.since) or (self.until and ts > self.until))


def _details(attrs: dict[str, str]) -> bytes:
    """``k=v,k2=v2 `` sorted by key, each query-escaped (moby's attrsByteSlice)."""
    pairs = (f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(attrs.items()))
    return ",".join(pairs).encode() + b" "


class _LogFiles:
    """A container's log files, opened oldest first, read as one stream of lines.

    ``files`` holds the open files still to read; the last one is the file
    the shim writes, until rotation renames it and opens another.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = b""  # the start of a line whose newline is not written yet
        self.files: deque[IO[bytes]] = deque(self._open_newer_than(None))
        self._lock = threading.Lock()  # one worker thread at a time

    def close(self) -> None:
        with self._lock:
            for f in self.files:
                f.close()
            self.files.clear()

    def tail(self, count: int) -> list[bytes]:
        """The last ``count`` complete lines; reading goes on after them."""
        with self._lock:
            return self._tail(count)

    def read_lines(self) -> list[bytes] | None:
        """The next complete lines (up to about BATCH_BYTES), or None when there are none yet."""
        with self._lock:
            return self._read_lines()

    def _tail(self, count: int) -> list[bytes]:
        if not self.files:
            return []
        live = self.files.pop()
        end = os.fstat(live.fileno()).st_size
        lines, self.partial = _last_lines(live, end, count)
        live.seek(end)
        while self.files:
            older = self.files.pop()
            if len(lines) < count:
                more, _ = _last_lines(older, os.fstat(older.fileno()).st_size, count - len(lines))
                lines = more + lines
            older.close()
        self.files.append(live)
        return lines[-count:] if count else []

    def _read_lines(self) -> list[bytes] | None:
        if not self.files:
            self.files.extend(self._open_newer_than(None))  # not written when reading began
        while self.files:
            current = self.files[0]
            data = current.read(BATCH_BYTES)
            if data:
                *lines, self.partial = (self.partial + data).split(b"\n")
                if len(self.partial) > MAX_LINE:
                    self.partial = b""
                return lines
            if len(self.files) > 1:  # read out: rotation wrote on in the next file
                self.files.popleft().close()
                self.partial = b""
                continue
            if os.fstat(current.fileno()).st_size < current.tell():
                current.seek(0)  # truncated in place (max-file 1): the writer starts over
                self.partial = b""
                continue
            if not self._rotated(current):
                return None
            newer = self._open_newer_than(os.fstat(current.fileno()).st_ino)
            if not newer:
                return None  # its successor is not created yet
            # Read ``current`` out again first: it may have grown before it was renamed.
            self.files.extend(newer)
        return None

    def _rotated(self, current: IO[bytes]) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(current.fileno()).st_ino
        except FileNotFoundError:
            return True  # renamed, its successor not created yet

    def _open_newer_than(self, ours: int | None) -> list[IO[bytes]]:
        """The files written after the one with inode ``ours`` (all with None), oldest first.

        The names are listed, the files opened, and the names listed again: the
        shim may rotate meanwhile, and only two equal listings say that what
        was opened is the files in their order, nothing skipped or taken twice.
        """
        while True:
            before = _listing(self.path)
            inodes = [inode for _, inode in before]
            # The last with our identity: an older compressed file may record an inode
            # that was freed and given to ours since.
            after_ours = len(inodes) - inodes[::-1].index(ours) if ours in inodes else 0
            opened = [_open_if_same(name, inode) for name, inode in before[after_ours:]]
            if all(opened) and _listing(self.path) == before:
                return [f for f in opened if f is not None]
            for f in opened:
                if f is not None:
                    f.close()


def _listing(path: Path) -> list[tuple[Path, int]]:
    """Each log file there is, oldest first, with its identity (its inode, or the inode
    of the file a compressed one was made from)."""
    found = []
    for name in log_files(path):
        with contextlib.suppress(FileNotFoundError), open(name, "rb") as f:
            found.append((name, identity(f, name)))
    return found


def _open_if_same(name: Path, inode: int) -> IO[bytes] | None:
    """``name`` opened if it still is the file with identity ``inode``; a compressed one
    as an unlinked copy of its contents, which reads (and seeks) like the others."""
    try:
        f = open(name, "rb")  # noqa: SIM115 - kept open across calls, closed by close()
    except FileNotFoundError:
        return None
    if identity(f, name) != inode:
        f.close()
        return None
    if name.suffix != ".gz":
        return f
    with f, gzip.open(f) as compressed:
        copy = tempfile.TemporaryFile(dir=name.parent)  # noqa: SIM115 - returned open
        shutil.copyfileobj(compressed, copy)
    copy.seek(0)
    return copy


def _last_lines(f: IO[bytes], end: int, count: int) -> tuple[list[bytes], bytes]:
    """Up to ``count`` complete lines before offset ``end``, and the unfinished line after them.

    Reads backwards in blocks until ``count`` + 1 newlines (the start of the
    first wanted line) are in hand, so memory stays in proportion to ``count``.
    """
    buf, position, newlines = b"", end, 0
    while position > 0 and newlines <= count and len(buf) <= (count + 1) * MAX_LINE:
        step = min(BATCH_BYTES, position)
        position -= step
        f.seek(position)
        block = f.read(step)
        newlines += block.count(b"\n")
        buf = block + buf
    complete, newline, partial = buf.rpartition(b"\n")
    if not newline:
        return [], buf
    lines = complete.split(b"\n")
    if position > 0:
        lines = lines[1:]  # cut at its start
    return lines[-count:] if count else [], partial
