"""A file written by one thread and read by another as it grows: a layer unpacked while it
downloads, and while the layers after it download too.

The download (network, sha256 of the compressed bytes) writes the blob's file;
the unpacking (decompression, the tar's sha256, the files written) reads it
behind the writer, and waits at its end for more. The file is the buffer, so a
slow reader never holds the writer back and memory stays at a chunk or two
whatever the layer's size; and the file is the compressed blob kept once both
are done. The reader sees the end of the file only once the writer closed it
(the blob verified): until then its end is only where the writer is.
"""

from __future__ import annotations

import threading
from pathlib import Path

from dockyard.writeback import WriteBehind


class SpoolClosed(Exception):
    """The other side of the spool gave up."""


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._changed = threading.Condition()
        self._written = 0
        self._state = ""  # "" while written, then "closed", "failed" or "abandoned"
        self._out = path.open("wb", buffering=0)  # each write reaches the file (the reader)
        self._in = path.open("rb", buffering=0)
        self._behind = WriteBehind(self._out.fileno())

    # ------------------------------------------------------------------ writer

    def write(self, data: bytes, /) -> int:
        if self._state == "abandoned":
            raise SpoolClosed("the reader of the spool stopped")
        view = memoryview(data)
        while view:
            view = view[self._out.write(view) or 0 :]
        self._behind.wrote(len(data))
        with self._changed:
            self._written += len(data)
            self._changed.notify_all()
        return len(data)

    def close(self) -> None:
        """No more bytes: the reader reads to the end of what was written."""
        self._end("closed")

    def fail(self) -> None:
        """The writer failed: the reader raises SpoolClosed once it gets there."""
        self._end("failed")

    def _end(self, state: str) -> None:
        self._out.close()
        with self._changed:
            if not self._state:
                self._state = state
            self._changed.notify_all()

    # ------------------------------------------------------------------ reader

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is left, for -1); b"" at the end."""
        if size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._written > self._in.tell() or self._state)
                state = self._state
            if state == "failed":
                raise SpoolClosed("the writer of the spool failed")
            data = self._in.read(size)
            if data or state:
                return data or b""

    def abandon(self) -> None:
        """The reader stops: the writer's next write raises SpoolClosed."""
        with self._changed:
            if not self._state:
                self._state = "abandoned"
            self._changed.notify_all()

    def release(self) -> None:
        """Close both ends' files (the file itself stays: it is the caller's)."""
        self._out.close()
        self._in.close()
