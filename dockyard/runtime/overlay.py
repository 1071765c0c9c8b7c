"""Mounting a stack of layers as one copy-on-write root with overlayfs (the kernel's, or
fuse-overlayfs: the storage driver's choice, runtime/storagedriver.py), and the host-side
tmpfs of a shareable /dev/shm."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from dockyard import rootless
from dockyard.runtime import fuseoverlay, linux

# The storage drivers: the kernel's overlayfs, or fuse-overlayfs where the kernel refuses it.
OVERLAY2 = "overlay2"
FUSE_OVERLAYFS = "fuse-overlayfs"


def mount_overlay(
    lowerdirs: list[Path], upper: Path, work: Path, target: Path, driver: str = OVERLAY2
) -> None:
    """Mount ``lowerdirs`` (topmost first) under ``upper`` at ``target`` with ``driver``.

    In a user namespace (a rootless engine) overlayfs keeps its marks (an opaque
    directory) in user.overlay.* xattrs ("userxattr"): trusted.* is the host root's alone.

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
    if driver == FUSE_OVERLAYFS:
        fuseoverlay.mount(lowers, upper, work, target)
        return
    data = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work},index=off"
    if rootless.active():
        data += ",userxattr"
    linux.mount("overlay", str(target), "overlay", 0, data)


@contextlib.contextmanager
def detached_layers(layers: list[Path], driver: str, scratch: Path) -> Iterator[int]:
    """A read-only overlay of ``layers`` (topmost first, at least two) mounted on no path:
    a descriptor of its root for the time of the ``with``, the mount gone with the last
    descriptor in it. fuse-overlayfs's is mounted for a moment on a directory of ``scratch``.

    A container's upper dir can be the top layer: its whiteouts and opaque directories
    mean there what they mean in any lower layer, and a mount without an upper dir
    takes no hold on it, so the container may start meanwhile."""
    if driver == FUSE_OVERLAYFS:
        with fuseoverlay.detached([str(layer) for layer in layers], scratch) as fd:
            yield fd
        return
    # One layer at a time ("lowerdir+", Linux 6.8): a value is limited to 256 bytes.
    options: list[tuple[str, str | None]] = [("lowerdir+", str(layer)) for layer in layers]
    if rootless.active():
        options.append(("userxattr", None))
    fd = linux.detached_mount("overlay", options, linux.MOUNT_ATTR_RDONLY)
    try:
        yield fd
    finally:
        os.close(fd)


def mount_shm(target: Path, size: int) -> None:
    """The tmpfs a shareable container and those that join its IPC bind at /dev/shm."""
    target.mkdir(mode=0o700, exist_ok=True)
    flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    linux.mount("shm", str(target), "tmpfs", flags, f"mode=1777,size={size}")


def unmount_all(top: Path) -> None:
    """Detach every mount at or below ``top`` (a tree about to be removed)."""
    for point in linux.mount_points_under(str(top)):
        unmount(Path(point))


def unmount(target: Path) -> None:
    """Detach the mount at ``target``; a target that is not mounted is left alone.
    A fuse-overlayfs this process started for it is waited for."""
    try:
        linux.umount2(str(target), linux.MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):  # not a mount point / gone already
            raise
    fuseoverlay.reap(target)
