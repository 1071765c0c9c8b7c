"""The local volume driver: a volume is a directory, ``volumes/<name>/_data``, under the data root.

Names are checked as Docker's local driver checks them, because a name becomes a
path: nothing in it may climb out of the volumes directory.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from dockyard.errors import InvalidArgument, NotFound
from dockyard.errors import SystemError as EngineSystemError

DRIVER = "local"
SCOPE = "local"
DATA_DIR = "_data"
NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
# Docker's local driver takes these to mount a device or a filesystem (nfs, tmpfs) as the volume.
_MOUNT_OPTIONS = ("type", "device", "o", "size")


def check_driver(name: str, driver: str) -> None:
    """Only the local driver exists here; any other is a plugin Docker would fail to find."""
    if driver not in ("", DRIVER):
        raise NotFound(
            f'create {name}: error looking up volume plugin {driver}: plugin "{driver}" not found'
        )


def check_name(name: str) -> None:
    if len(name) == 1:
        raise InvalidArgument(
            f"create {name}: volume name is too short, names should be at least two "
            "alphanumeric characters"
        )
    if not _NAME.match(name):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            f'only "{NAME_CHARS}" are allowed. If you intended to pass a host directory, '
            "use absolute path"
        )


def check_options(name: str, options: dict[str, str] | None) -> None:
    """Refuse driver options: the mount options of Docker's local driver are not offered."""
    for key in options or {}:
        if key not in _MOUNT_OPTIONS:
            raise InvalidArgument(f'create {name}: invalid option key: "{key}"')
        raise InvalidArgument(
            f'create {name}: volume option "{key}" is not supported: dockyard keeps local '
            "volumes as plain directories"
        )


class LocalDriver:
    """The volumes directory of one data root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        """Where the volume's data lives (its Mountpoint)."""
        return self.root / name / DATA_DIR

    def create(self, name: str) -> Path:
        """The volume's directories; an existing volume is left as it is."""
        self.root.mkdir(mode=0o701, parents=True, exist_ok=True)
        (self.root / name).mkdir(mode=0o701, exist_ok=True)
        data = self.path(name)
        data.mkdir(mode=0o755, exist_ok=True)
        return data

    def remove(self, name: str) -> None:
        """Delete the volume and its data, refusing anything outside the volumes directory."""
        target = (self.root / name).resolve()
        if target.parent != self.root.resolve():
            raise EngineSystemError(
                f"remove {name}: unable to remove a directory outside of the local volume "
                f"root {self.root}: {target}"
            )
        try:
            shutil.rmtree(target)
        except FileNotFoundError:
            return
        except OSError as err:
            raise EngineSystemError(
                f"remove {name}: error removing volume path '{target}': {err.strerror}"
            ) from None

    def is_empty(self, name: str) -> bool:
        with os.scandir(self.path(name)) as entries:
            return next(entries, None) is None

    def size(self, name: str) -> int:
        """Bytes in the volume's files (not directories), each inode once: Docker's directory.Size."""
        inodes: set[int] = set()
        total = 0
        for top, _dirs, files in os.walk(self.path(name)):
            for entry in files:
                try:
                    st = os.lstat(os.path.join(top, entry))
                except OSError:
                    continue
                if st.st_size and st.st_ino not in inodes:
                    inodes.add(st.st_ino)
                    total += st.st_size
        return total
