"""Waiting for a dockyardd to be ready: a ping answered, never a bare connect.

The daemon listens before its engine has started, so a connect alone says
nothing: a request sent then is answered only once the engine runs.
"""

from __future__ import annotations

import socket
from pathlib import Path


def answers_ping(path: Path | str) -> bool:
    """Whether the daemon on this Unix socket answers GET /_ping with 200."""
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
        except OSError:
            return False
