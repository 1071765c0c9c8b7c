"""Name resolution by /etc/hosts: a container's own address and its peers', by name.

Docker answers names on user-defined networks from an embedded DNS server at
127.0.0.11. dockyard writes the same names into each container's /etc/hosts
instead, and rewrites them whenever a container joins or leaves a network:
no server to run per container, and any libc (busybox's too) reads the file.

The engine writes the file's first part when the container starts (localhost
lines, --add-host); ours follows a marker line and is replaced on each change.
The file is bind-mounted into the container, so it is rewritten in place
(a rename would leave the container with the old file): the first part never
changes, so a reader sees at most a tail being replaced.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

MARKER = "# dockyard: containers on the same networks\n"


@dataclass(frozen=True)
class Entry:
    address: str
    names: tuple[str, ...]

    def line(self) -> str:
        return f"{self.address}\t{' '.join(self.names)}\n"


def render(entries: list[Entry]) -> str:
    return MARKER + "".join(entry.line() for entry in entries)


def update(path: str | Path, entries: list[Entry]) -> None:
    """Replace our part of the hosts file at ``path`` (nothing when the file is gone)."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        with os.fdopen(fd, "r+b") as f:
            head = f.read().split(MARKER.encode(), 1)[0]
            f.seek(len(head))
            f.write(render(entries).encode() if entries else b"")
            f.truncate()
