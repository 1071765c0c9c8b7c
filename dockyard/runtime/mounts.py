"""The container's filesystem, set up inside its new mount namespace (runc's rootfs_linux.go).

``prepare_rootfs`` does everything up to and including pivot_root: it cuts
propagation to the host, binds the rootfs onto itself, performs the spec's
mounts in order, populates /dev and switches root. ``finalize_rootfs`` then
applies Docker's readonly and masked paths and, with --read-only, remounts /
read-only. Every destination is resolved inside the rootfs (securejoin), so a
symlink in the image cannot redirect a mount to the host.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import struct

from dockyard.runtime import devices, linux
from dockyard.runtime.cgroups import Cgroup
from dockyard.runtime.securejoin import secure_join
from dockyard.runtime.terminal import open_pty_in

# OCI mount options: name → (flags to set, flags to clear)
_FLAG_OPTIONS = {
    "defaults": (0, 0),
    "ro": (linux.MS_RDONLY, 0),
    "rw": (0, linux.MS_RDONLY),
    "nosuid": (linux.MS_NOSUID, 0),
    "suid": (0, linux.MS_NOSUID),
    "nodev": (linux.MS_NODEV, 0),
    "dev": (0, linux.MS_NODEV),
    "noexec": (linux.MS_NOEXEC, 0),
    "exec": (0, linux.MS_NOEXEC),
    "sync": (linux.MS_SYNCHRONOUS, 0),
    "async": (0, linux.MS_SYNCHRONOUS),
    "dirsync": (linux.MS_DIRSYNC, 0),
    "remount": (linux.MS_REMOUNT, 0),
    "mand": (linux.MS_MANDLOCK, 0),
    "nomand": (0, linux.MS_MANDLOCK),
    "atime": (0, linux.MS_NOATIME),
    "noatime": (linux.MS_NOATIME, 0),
    "diratime": (0, linux.MS_NODIRATIME),
    "nodiratime": (linux.MS_NODIRATIME, 0),
    "relatime": (linux.MS_RELATIME, 0),
    "norelatime": (0, linux.MS_RELATIME),
    "strictatime": (linux.MS_STRICTATIME, 0),
    "nostrictatime": (0, linux.MS_STRICTATIME),
    "lazytime": (linux.MS_LAZYTIME, 0),
    "nolazytime": (0, linux.MS_LAZYTIME),
    "silent": (linux.MS_SILENT, 0),
    "loud": (0, linux.MS_SILENT),
    "bind": (linux.MS_BIND, 0),
    "rbind": (linux.MS_BIND | linux.MS_REC, 0),
}
PROPAGATION = {
    "private": linux.MS_PRIVATE,
    "rprivate": linux.MS_PRIVATE | linux.MS_REC,
    "shared": linux.MS_SHARED,
    "rshared": linux.MS_SHARED | linux.MS_REC,
    "slave": linux.MS_SLAVE,
    "rslave": linux.MS_SLAVE | linux.MS_REC,
    "unbindable": linux.MS_UNBINDABLE,
    "runbindable": linux.MS_UNBINDABLE | linux.MS_REC,
}
_CGROUP_TMPFS_FLAGS = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
_DEV_LINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
)
# statvfs f_flag bits that a bind remount must keep, with their mount(2) flag
_KEPT_FLAGS = (
    (os.ST_NOSUID, linux.MS_NOSUID),
    (os.ST_NODEV, linux.MS_NODEV),
    (os.ST_NOEXEC, linux.MS_NOEXEC),
    (os.ST_NOATIME, linux.MS_NOATIME),
    (os.ST_NODIRATIME, linux.MS_NODIRATIME),
    (os.ST_RELATIME, linux.MS_RELATIME),
)


class MountOptions:
    """An OCI mount's options split into mount(2) flags, propagation changes and fs data."""

    __slots__ = ("flags", "propagation", "data")

    def __init__(self, options: list[str]) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        data = []
        for option in options:
            if option in _FLAG_OPTIONS:
                set_flags, clear_flags = _FLAG_OPTIONS[option]
                self.flags = (self.flags | set_flags) & ~clear_flags
            elif option in PROPAGATION:
                self.propagation.append(PROPAGATION[option])
            else:
                data.append(option)
        self.data = ",".join(data)

    @property
    def bind(self) -> bool:
        return bool(self.flags & linux.MS_BIND)


def _create_target(path: str, directory: bool) -> None:
    if directory:
        os.makedirs(path, mode=0o755, exist_ok=True)
        return
    if os.path.lexists(path):
        return  # opening it for writing would copy it up into the container's layer
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))
    except IsADirectoryError:
        return


def _bind(source: str, target: str, flags: int) -> None:
    """A bind mount; flags other than MS_BIND/MS_REC (ro, nosuid...) need a remount to apply."""
    linux.mount(source, target, None, flags & (linux.MS_BIND | linux.MS_REC))
    if flags & ~(linux.MS_BIND | linux.MS_REC):
        linux.mount(None, target, None, flags | linux.MS_BIND | linux.MS_REMOUNT)


def _mount_one(rootfs: str, mount: dict, cgroup: Cgroup | None) -> None:
    target = secure_join(rootfs, mount["destination"])
    options = MountOptions(mount.get("options") or [])
    kind = mount.get("type") or ""
    if kind == "cgroup":
        _mount_cgroup(rootfs, target, options.flags, cgroup)
        return
    if options.bind or kind == "bind":
        source = mount["source"]
        _create_target(target, stat.S_ISDIR(os.stat(source).st_mode))
        _bind(source, target, options.flags | linux.MS_BIND)
    else:
        _create_target(target, directory=True)
        linux.mount(mount.get("source") or kind, target, kind, options.flags, options.data or None)
    for propagation in options.propagation:
        linux.mount(None, target, None, propagation)


def _mount_cgroup(rootfs: str, target: str, flags: int, cgroup: Cgroup | None) -> None:
    """Show the container its own cgroup at /sys/fs/cgroup (read-only per the flags).

    v2: the container's directory is bound there. v1: a tmpfs holds one bind
    per hierarchy, plus links for co-mounted controllers (cpu -> cpu,cpuacct),
    as runc lays it out.
    """
    if cgroup is None:
        return
    sources = cgroup.mount_sources()
    _create_target(target, directory=True)
    if sources and sources[0][0] == "":
        _bind(sources[0][1], target, flags | linux.MS_BIND)
        return
    linux.mount("tmpfs", target, "tmpfs", _CGROUP_TMPFS_FLAGS, "mode=755")
    for name, directory in sources:
        sub = f"{target}/{name}"
        os.mkdir(sub, 0o755)
        _bind(directory, sub, flags | linux.MS_BIND)
        if "," in name:
            for controller in name.split(","):
                os.symlink(name, f"{target}/{controller}")


_TIOCGPTN = 0x80045430  # the pty's number (Python's termios lacks it)


def _open_console(dev: str) -> None:
    """The container's terminal: a pty of its own devpts on 0-2 and at /dev/console.

    From the container's devpts (not the caller's), ttyname() inside finds it as
    /dev/pts/N, as with runc. The master stays open (close-on-exec) for the
    caller to take with pidfd_getfd (Init.console); the slave becomes our
    controlling terminal (we lead a new session since _attach_stdio).
    """
    master, slave = open_pty_in(f"{dev}/pts/ptmx")
    for target in (0, 1, 2):
        os.dup2(slave, target)
    os.close(slave)
    linux.set_controlling_tty(0)
    number = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))[0]
    _create_target(f"{dev}/console", directory=False)
    linux.mount(f"{dev}/pts/{number}", f"{dev}/console", None, linux.MS_BIND)


def _setup_dev(rootfs: str, device_nodes: list[dict], terminal: bool) -> None:
    """The container's own device nodes, /dev/ptmx, the console and the usual /dev links
    (runc's createDevices, setupPtmx, setupDevSymlinks)."""
    devices.create_nodes(rootfs, device_nodes)
    dev = secure_join(rootfs, "/dev")
    os.makedirs(dev, mode=0o755, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"{dev}/ptmx")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    if terminal:
        _open_console(dev)
    links = list(_DEV_LINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "core"))
    for source, name in links:
        try:
            os.symlink(source, f"{dev}/{name}")
        except FileExistsError:
            continue


def _binds_dev(mount: dict) -> bool:
    """Whether the spec brings its own /dev (then runc leaves it as it is, and so do we)."""
    if os.path.normpath(mount.get("destination") or "") != "/dev":
        return False
    return mount.get("type") == "bind" or MountOptions(mount.get("options") or []).bind


def _cut_propagation(rootfs: str, flags: int) -> None:
    """Set the propagation of / (rslave unless the spec says otherwise) so that what we
    mount does not reach the host.

    In a chroot / is no mount point (EINVAL); the nearest ancestor of the rootfs
    that is one takes its place. When none is, the enclosing mount lies outside
    our root, where we cannot name it, and stays as it is.
    """
    candidates = ["/"]
    ancestor = os.path.dirname(rootfs)
    while ancestor != "/":
        candidates.append(ancestor)
        ancestor = os.path.dirname(ancestor)
    for candidate in candidates:
        try:
            linux.mount(None, candidate, None, flags)
            return
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise


def _pivot_root(rootfs: str) -> None:
    """Make ``rootfs`` the root and detach the old one (no put_old directory needed).

    When / is not a mount point (a chroot), pivot_root fails with EINVAL and
    the rootfs is moved over / instead, then chrooted into.
    """
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new_root)
        try:
            linux.pivot_root(".", ".")
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            linux.mount(".", "/", None, linux.MS_MOVE)
            os.chroot(".")
        else:
            os.fchdir(old_root)
            # The old root sits on top of the new one; keep its unmount from reaching the host.
            linux.mount(None, ".", None, linux.MS_SLAVE | linux.MS_REC)
            linux.umount2(".", linux.MNT_DETACH)
    finally:
        os.close(old_root)
        os.close(new_root)
    os.chdir("/")


def prepare_rootfs(
    rootfs: str,
    mounts: list[dict],
    *,
    cgroup: Cgroup | None,
    device_nodes: list[dict],
    terminal: bool,
    propagation: str = "",
    cwd: str = "/",
) -> None:
    """Mount everything the spec asks for under ``rootfs``, make /dev's nodes and pivot into it."""
    _cut_propagation(rootfs, PROPAGATION.get(propagation, linux.MS_SLAVE | linux.MS_REC))
    # Always bind: pivot_root needs a mount point, and a bind is one call where testing is two.
    linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)
    for mount in mounts:
        _mount_one(rootfs, mount, cgroup)
    if not any(_binds_dev(m) for m in mounts):
        _setup_dev(rootfs, device_nodes, terminal)
    _pivot_root(rootfs)
    os.makedirs(cwd, mode=0o755, exist_ok=True)


def _kept_flags(path: str) -> int:
    f_flag = os.statvfs(path).f_flag
    return sum(flag for st_flag, flag in _KEPT_FLAGS if f_flag & st_flag)


def _make_readonly(path: str) -> None:
    try:
        linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
    except FileNotFoundError:
        return
    flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC | _kept_flags(path)
    linux.mount(path, path, None, flags)


def _mask(path: str) -> None:
    """Hide a file under /dev/null, a directory under an empty read-only tmpfs."""
    try:
        linux.mount("/dev/null", path, None, linux.MS_BIND)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        linux.mount("tmpfs", path, "tmpfs", linux.MS_RDONLY)


def finalize_rootfs(
    readonly_paths: list[str], masked_paths: list[str], readonly_root: bool
) -> None:
    """After pivot_root: Docker's readonly and masked paths, then a read-only / if asked."""
    for path in readonly_paths:
        _make_readonly(path)
    for path in masked_paths:
        _mask(path)
    if readonly_root:
        linux.mount(
            None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | _kept_flags("/")
        )
