"""Bytes written by one thread and read by another: a layer unpacked while it downloads.

The download (network, sha256 of the compressed bytes) and the unpacking
(decompression, sha256 of the tar, the files written) each take one core; a
pipe lets them overlap. It holds a few chunks at most, so a slow reader slows
the writer down rather than filling memory.
"""

from __future__ import annotations

import queue

_DEPTH = 16  # chunks in flight (about 16 MB with the registry client's chunks)
_WAIT = 0.5  # seconds between two looks at whether the other side gave up


class PipeClosed(Exception):
    """The other side of the pipe gave up."""


class Pipe:
    def __init__(self) -> None:
        # Chunks, then None at the end, or PipeClosed when the writer failed.
        self._chunks: queue.Queue[bytes | PipeClosed | None] = queue.Queue(_DEPTH)
        self._pending = memoryview(b"")  # what is left of the chunk being read
        self._ended = False
        self._abandoned = False

    # ------------------------------------------------------------------ writer

    def write(self, data: bytes) -> int:
        while True:
            if self._abandoned:
                raise PipeClosed("the reader of the pipe stopped")
            try:
                self._chunks.put(bytes(data), timeout=_WAIT)
                return len(data)
            except queue.Full:
                continue

    def close(self) -> None:
        """No more bytes: the reader reads to the end of what was written."""
        self._put_end(None)

    def fail(self) -> None:
        """The writer failed: the reader raises PipeClosed once it gets there."""
        self._put_end(PipeClosed("the writer of the pipe failed"))

    def _put_end(self, marker: PipeClosed | None) -> None:
        while not self._abandoned:
            try:
                self._chunks.put(marker, timeout=_WAIT)
                return
            except queue.Full:
                continue

    # ------------------------------------------------------------------ reader

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is left, for -1); b"" at the end."""
        if size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while not self._pending and not self._ended:
            chunk = self._chunks.get()
            if isinstance(chunk, PipeClosed):
                raise chunk
            if chunk is None:
                self._ended = True
            else:
                self._pending = memoryview(chunk)
        # A view moves along the chunk: small reads copy only what they return.
        data, self._pending = self._pending[:size], self._pending[size:]
        return bytes(data)

    def abandon(self) -> None:
        """The reader stops: the writer's next write raises PipeClosed."""
        self._abandoned = True
