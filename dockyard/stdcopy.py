"""The Engine API's multiplexed stream format (moby's pkg/stdcopy).

Without a TTY, attach, exec and logs output travels as frames:
an 8-byte header ``[stream, 0, 0, 0, size (uint32 big-endian)]`` then ``size``
bytes. Stream 0 is stdin, 1 stdout, 2 stderr, 3 an error from the engine.
"""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3
HEADER = struct.Struct(">BxxxL")


def frame(stream: int, data: bytes) -> bytes:
    return HEADER.pack(stream, len(data)) + data


class FrameParser:
    """Splits a byte stream into (stream, payload) frames, whatever the read sizes.

    ``header`` packs a frame's number and its payload's size: this format's by default;
    other framings of numbered payloads (dockyard.agentframes) give theirs."""

    def __init__(self, header: struct.Struct = HEADER) -> None:
        self._header = header
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames = []
        size_of_header = self._header.size
        while len(self._buf) >= size_of_header:
            stream, size = self._header.unpack_from(self._buf)
            end = size_of_header + size
            if len(self._buf) < end:
                break
            frames.append((stream, bytes(self._buf[size_of_header:end])))
            del self._buf[:end]
        return frames
