"""Pseudo-terminal helpers shared by the shim (containers) and the engine (exec)."""

from __future__ import annotations

import fcntl
import struct
import termios


def set_window_size(master_fd: int, height: int, width: int) -> None:
    fcntl.ioctl(master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
