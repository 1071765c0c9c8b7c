"""Pseudo-terminal helpers shared by the shim (containers) and the engine (exec)."""

from __future__ import annotations

import fcntl
import os
import struct

_TIOCSPTLCK = 0x40045431
_TIOCGPTPEER = 0x5441


def open_pty_in(devpts_ptmx: str) -> tuple[int, int]:
    """A pty from a given devpts instance (a container's /dev/pts/ptmx): (master, slave).

    A pty from the host's devpts would not be a terminal inside the container:
    its /dev/pts has no node for it, so ttyname() fails there. TIOCGPTPEER opens
    the slave from the master without a path lookup in anyone's mount namespace.
    """
    master = os.open(devpts_ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        slave = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        os.close(master)
        raise
    return master, slave
