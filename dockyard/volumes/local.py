"""The local volume driver: a volume is a directory, ``volumes/<name>/_data``, under the data root.

Names are checked as Docker's local driver checks them, because a name becomes a
path: nothing in it may climb out of the volumes directory.

A volume created with mount options (``type``, ``device``, ``o``: a tmpfs, a
bind of a host directory, an NFS export) is that filesystem mounted on its
``_data`` while a container uses it, as Docker's local driver does. Whether it
is mounted is read from the kernel, not remembered, so a restarted daemon
agrees with the mounts its predecessor left.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
from pathlib import Path

from dockyard import treesize
from dockyard.errors import InvalidArgument, NotFound
from dockyard.errors import SystemError as EngineSystemError
from dockyard.runtime import linux
from dockyard.runtime.mounts import MountOptions
from dockyard.units import ram_in_bytes

DRIVER = "local"
SCOPE = "local"
DATA_DIR = "_data"
NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
# Docker's local driver takes these to mount a device or a filesystem (nfs, tmpfs) as the volume.
_MOUNT_OPTIONS = ("type", "device", "o", "size")
# An option → the options it cannot go without (moby's mandatoryOpts).
_REQUIRED_WITH = {"device": ("type",), "type": ("device",), "o": ("device", "type")}
_BIND_FLAGS = linux.MS_BIND | linux.MS_REC


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
    """Docker's checks of the local driver's options (moby's validateOpts)."""
    options = options or {}
    for key in options:
        if key not in _MOUNT_OPTIONS:
            raise InvalidArgument(f'create {name}: invalid option: "{key}"')
    if "size" in options:
        try:
            size = ram_in_bytes(options["size"])
        except InvalidArgument as e:
            raise InvalidArgument(f"create {name}: {e.message}") from None
        if size > 0:
            # Docker needs project quotas (xfs) under the data root for this.
            raise InvalidArgument(f"create {name}: quota size requested but no quota support")
    for key, required in _REQUIRED_WITH.items():
        missing = [r for r in required if key in options and r not in options]
        if missing:
            raise InvalidArgument(f'create {name}: missing required option: "{missing[0]}"')


def needs_mount(options: dict[str, str] | None) -> bool:
    return bool(options and (options.get("type") or options.get("device")))


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

    def is_mounted(self, name: str) -> bool:
        return linux.is_mount_point(str(self.path(name)))

    def mount(self, name: str, options: dict[str, str]) -> None:
        """Mount the volume's filesystem on its ``_data``, unless it is mounted already."""
        target = str(self.path(name))
        if self.is_mounted(name):
            return
        device = options.get("device", "")
        parsed = MountOptions([o for o in options.get("o", "").split(",") if o])
        data = (
            _resolve_address(parsed.data) if options.get("type") in ("nfs", "nfs4") else parsed.data
        )
        try:
            if parsed.bind:
                linux.mount(device, target, None, parsed.flags & _BIND_FLAGS)
                if parsed.flags & ~_BIND_FLAGS:
                    linux.mount(None, target, None, parsed.flags | linux.MS_BIND | linux.MS_REMOUNT)
            else:
                linux.mount(device, target, options.get("type"), parsed.flags, data or None)
        except OSError as e:
            detail = f", data: {_hide_password(data)}" if data else ""
            raise EngineSystemError(
                f"error while mounting volume '{target}': failed to mount local volume: "
                f"mount {device}:{target}, flags: {parsed.flags:#x}{detail}: "
                f"{(e.strerror or str(e)).lower()}"
            ) from None

    def unmount(self, name: str) -> None:
        if self.is_mounted(name):
            linux.umount2(str(self.path(name)), linux.MNT_DETACH)

    def remove(self, name: str) -> None:
        """Delete the volume and its data, refusing anything outside the volumes directory."""
        trash = self.retire(name)
        if trash is not None:
            self.purge(name, trash)

    def retire(self, name: str) -> Path | None:
        """Move the volume's directory aside, to a name no volume can have
        (``.<name>.removing``), and return where; None when it had none.

        The volume is gone at once, and a crash before ``purge`` has deleted its
        files leaves it whole or gone, never half: what is left the system check removes.
        """
        if self.is_mounted(name):
            # Deleting through a mount would delete the host directory or export it shows.
            raise EngineSystemError(f"remove {name}: the volume is still mounted")
        target = (self.root / name).resolve()
        if target.parent != self.root.resolve():
            raise EngineSystemError(
                f"remove {name}: unable to remove a directory outside of the local volume "
                f"root {self.root}: {target}"
            )
        trash = self.root / f".{name}.removing"
        try:
            os.rename(target, trash)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise _removal_error(name, target, err) from None
        return trash

    def purge(self, name: str, trash: Path) -> None:
        """Delete the files of a retired volume (a long walk for a big one)."""
        try:
            shutil.rmtree(trash)
        except FileNotFoundError:
            return
        except OSError as err:
            raise _removal_error(name, self.root / name, err) from None

    def discard(self, entry: str) -> None:
        """Remove a directory of the volumes directory that no volume owns (a crash's)."""
        path = self.root / entry
        if linux.is_mount_point(str(path / DATA_DIR)):
            linux.umount2(str(path / DATA_DIR), linux.MNT_DETACH)
        shutil.rmtree(path, ignore_errors=True)

    def is_empty(self, name: str) -> bool:
        with os.scandir(self.path(name)) as entries:
            return next(entries, None) is None

    def size(self, name: str) -> int:
        """Bytes in the volume's files (not directories), each inode once: Docker's directory.Size."""
        return treesize.tree_size(self.path(name))


def _removal_error(name: str, target: Path, err: OSError) -> EngineSystemError:
    return EngineSystemError(
        f"remove {name}: error removing volume path '{target}': {err.strerror}"
    )


def _resolve_address(data: str) -> str:
    """NFS wants ``addr=`` as an IP address; a host name there is resolved, as Docker does."""
    parts = data.split(",")
    for index, part in enumerate(parts):
        key, _, value = part.partition("=")
        if key == "addr" and value:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                try:
                    parts[index] = f"addr={socket.gethostbyname(value)}"
                except OSError as e:
                    raise EngineSystemError(
                        f"error resolving passed in network volume address: {e}"
                    ) from None
    return ",".join(parts)


def _hide_password(data: str) -> str:
    return re.sub(r"(^|,)password=[^,]*", r"\1password=********", data)
