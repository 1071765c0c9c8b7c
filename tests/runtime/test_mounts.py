"""Rootfs preparation details: OCI mount options, and the chroot fallback of pivot_root."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from dockyard.runtime import linux, mounts


def test_mount_options_split_into_flags_propagation_and_data() -> None:
    options = mounts.MountOptions(["rbind", "ro", "nosuid", "rslave", "mode=755", "size=1m", "rw"])
    assert options.flags == linux.MS_BIND | linux.MS_REC | linux.MS_NOSUID
    assert options.propagation == [linux.MS_SLAVE | linux.MS_REC]
    assert options.data == "mode=755,size=1m"
    assert options.bind


def _in_jail(jail: Path, rootfs: str) -> int:
    """In a child: chroot into ``jail`` (not a mount point), then prepare ``rootfs`` inside it."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            linux.unshare(linux.CLONE_NEWNS)
            linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
            linux.mount("/dev", str(jail / "dev"), None, linux.MS_BIND | linux.MS_REC)
            os.chroot(jail)
            os.chdir("/")
            proc = {"destination": "/proc", "type": "proc", "source": "proc", "options": []}
            mounts.prepare_rootfs(rootfs, [proc], cgroup=None, device_nodes=[], terminal=False)
            code = (
                0 if os.path.exists("/bin/busybox") and os.path.exists("/proc/self/status") else 2
            )
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_pivot_root_falls_back_to_move_and_chroot(
    root: None, tmp_path: Path, busybox_tar: Path
) -> None:
    jail = tmp_path / "jail"
    (jail / "dev").mkdir(parents=True)
    (jail / "rootfs").mkdir()
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(jail / "rootfs", numeric_owner=True)
    assert _in_jail(jail, "/rootfs") == 0
