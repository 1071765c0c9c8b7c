"""Mounting a stack of layers as one copy-on-write root with overlayfs."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_MNT_DETACH = 2


def mount_overlay(lowerdirs: list[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount ``lowerdirs`` (topmost first) under ``upper`` at ``target``.

    An image with no layers (FROM scratch) still needs a lower dir: overlayfs
    refuses a mount without one, so an empty dir beside ``work`` stands in.
    """
    lowers = [str(p) for p in lowerdirs]
    if not lowers:
        empty = work.parent / "empty"
        empty.mkdir(exist_ok=True)
        lowers = [str(empty)]
    for d in (upper, work, target):
        d.mkdir(parents=True, exist_ok=True)
    data = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work},index=off"
    if _libc.mount(b"overlay", bytes(target), b"overlay", 0, data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount overlay at {target}: {os.strerror(err)}")


def unmount(target: Path) -> None:
    """Detach the mount at ``target``; a target that is not mounted is left alone."""
    if _libc.umount2(bytes(target), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone already
            raise OSError(err, f"unmount {target}: {os.strerror(err)}")
