"""fuse-overlayfs: the overlay of the ``fuse-overlayfs`` storage driver, where the kernel
refuses native overlay mounts (in a user namespace before Linux 5.11).

Each mount is served by a fuse-overlayfs process that this process starts in the
foreground, so that it stays our child: a shim's (the shim outlives the daemon, and
so does the root it serves) or the daemon's (a build step's root, a stopped
container's for ``docker cp``). Unmounting ends the process, which ``unmount`` then
waits for and reaps; one that a dead parent left (the system check's repair) exits
once its mount is detached, and its new parent reaps it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dockyard.errors import DockyardError
from dockyard.runtime import linux

log = logging.getLogger(__name__)

PROGRAM = "fuse-overlayfs"
FUSE_DEVICE = "/dev/fuse"
# How long a mount may take to appear, and a server to end once its mount is detached.
_MOUNT_TIMEOUT = 30.0
_EXIT_TIMEOUT = 10.0

# The servers this process started, by mount point: unmount waits for them.
_servers: dict[str, subprocess.Popen[bytes]] = {}
_lock = threading.Lock()


def unavailable() -> str:
    """Why this machine cannot run fuse-overlayfs ("" when it can)."""
    if shutil.which(PROGRAM) is None:
        return f'exec: "{PROGRAM}": executable file not found in $PATH'
    if not os.path.exists(FUSE_DEVICE):
        return f"open {FUSE_DEVICE}: no such file or directory"
    if not os.access(FUSE_DEVICE, os.R_OK | os.W_OK):  # 0600 without udev: root's alone
        return f"open {FUSE_DEVICE}: permission denied"
    return ""


def mount(lowerdirs: list[str], upper: Path | None, work: Path | None, target: Path) -> None:
    """Mount ``lowerdirs`` (topmost first) under ``upper`` at ``target`` with fuse-overlayfs
    (read-only without ``upper``); return once the mount is in place."""
    options = f"lowerdir={':'.join(lowerdirs)}"
    if upper is not None and work is not None:
        options += f",upperdir={upper},workdir={work}"
    # The mount table signals every change to a descriptor opened before it.
    with (
        open("/proc/self/mountinfo", "rb") as table,
        tempfile.TemporaryFile() as errors,
    ):
        server = subprocess.Popen(
            [PROGRAM, "-f", "-o", options, str(target)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            _wait_mounted(server, table, target, errors)
        except BaseException:
            _stop(server)
            raise
    with _lock:
        _servers[str(target)] = server


def _wait_mounted(
    server: subprocess.Popen[bytes], table: IO[bytes], target: Path, errors: IO[bytes]
) -> None:
    """Until ``target`` is a fuse-overlayfs mount, or its server ended (its error raised)."""
    poller = select.poll()
    poller.register(table, select.POLLPRI)
    exited = os.pidfd_open(server.pid)
    try:
        poller.register(exited, select.POLLIN)
        while not _is_fuse_mount(target):
            if server.poll() is not None:
                errors.seek(0)
                text = errors.read().decode(errors="replace")
                raise DockyardError(f"{PROGRAM} failed to mount {target}: {_last_line(text)}")
            if not poller.poll(_MOUNT_TIMEOUT * 1000):
                raise DockyardError(f"{PROGRAM} did not mount {target} in {_MOUNT_TIMEOUT:.0f}s")
    finally:
        os.close(exited)


def _is_fuse_mount(target: Path) -> bool:
    return linux.mount_type(str(target)) == f"fuse.{PROGRAM}"


def _last_line(text: str) -> str:
    """fuse-overlayfs's error: its last line (it warns first about options it ignores)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "it exited"


def reap(target: Path) -> None:
    """After ``target`` was detached: wait for the server this process started for it."""
    with _lock:
        server = _servers.pop(str(target), None)
    if server is None:
        return
    try:
        server.wait(_EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        # Something still holds the detached tree open; the server ends with it, and
        # subprocess reaps it later.
        log.warning("%s of %s still serves a detached tree", PROGRAM, target)


@contextlib.contextmanager
def detached(lowerdirs: list[str], scratch: Path) -> Iterator[int]:
    """A read-only fuse-overlayfs of ``lowerdirs`` detached from the directory of ``scratch``
    it was mounted on: a descriptor of its root for the time of the ``with``. Its server
    ends when the last descriptor in the tree is closed, and is then reaped."""
    target = Path(tempfile.mkdtemp(prefix="layers-", dir=scratch))
    try:
        mount(lowerdirs, None, None, target)
        try:
            fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        finally:
            linux.umount2(str(target), linux.MNT_DETACH)
    except BaseException:
        reap(target)
        raise
    finally:
        target.rmdir()
    try:
        yield fd
    finally:
        os.close(fd)
        reap(target)


def _stop(server: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        server.kill()
    server.wait()
