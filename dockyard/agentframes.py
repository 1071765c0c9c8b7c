"""The frames of an ssh agent forwarded over a hijacked connection (``dockyard build --ssh``
to a daemon elsewhere).

The daemon listens on a socket a RUN step's ``--mount=type=ssh`` binds; each
connection a step makes is a channel, numbered by the daemon from 1 and never
reused. Both ways a frame is the channel (4 bytes, big-endian), the payload's
length (4 bytes) and the payload; an empty payload ends the channel. The client
connects a channel to its agent when the channel's first frame arrives.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

_HEADER = struct.Struct(">II")


def frame(channel: int, payload: bytes) -> bytes:
    return _HEADER.pack(channel, len(payload)) + payload


class FrameReader:
    """The frames in a byte stream that comes in pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """The (channel, payload) frames ``data`` completes."""
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            channel, size = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            yield channel, payload
