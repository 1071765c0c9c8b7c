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

from dockyard.stdcopy import FrameParser

_HEADER = struct.Struct(">II")


def frame(channel: int, payload: bytes) -> bytes:
    return _HEADER.pack(channel, len(payload)) + payload


def frame_reader() -> FrameParser:
    """The (channel, payload) frames of a byte stream that comes in pieces."""
    return FrameParser(_HEADER)
