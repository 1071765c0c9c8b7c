"""Every raw Linux call the runtime makes that Python's os module lacks, over ctypes.

Each wrapper raises OSError with the errno and a message naming the call and
its path, e.g. ``OSError(ENOENT, "mount /x/proc: No such file or directory")``;
``exc.strerror`` is that message, so callers can report it as it is.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import struct
import termios

# clone(2) / unshare(2) / setns(2) namespace flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000
MNT_DETACH = 0x2

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_CHILD_SUBREAPER = 36
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
_PRCTL_NAMES = {
    PR_SET_KEEPCAPS: "PR_SET_KEEPCAPS",
    PR_SET_SECCOMP: "PR_SET_SECCOMP",
    PR_CAPBSET_DROP: "PR_CAPBSET_DROP",
    PR_SET_NO_NEW_PRIVS: "PR_SET_NO_NEW_PRIVS",
    PR_CAP_AMBIENT: "PR_CAP_AMBIENT",
}

# signals, without importing the signal module (and its enum) on the start-up path
SIGKILL = 9
_SIGPIPE = 13
_SIGXFSZ = 25
_SIG_DFL = 0
_SIG_SETMASK = 2

_CLOSE_RANGE_CLOEXEC = 0x4
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_AF_INET = 2
_SOCK_DGRAM = 2
_SOCK_CLOEXEC = 0o2000000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "ppc64le": 358, "s390x": 348}
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "ppc64le": 271, "s390x": 280}
_SECCOMP_MODE_FILTER = 2
_SECCOMP_SET_MODE_FILTER = 1
_BPF_INSTRUCTION_SIZE = 8  # struct sock_filter
_KEYCTL_SETPERM = 5
_KEYCTL_DESCRIBE = 6
_KEYCTL_JOIN_SESSION_KEYRING = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
_libc.prctl.argtypes = (
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
)
_libc.close_range.argtypes = (ctypes.c_uint, ctypes.c_uint, ctypes.c_int)
_libc.sethostname.argtypes = (ctypes.c_char_p, ctypes.c_size_t)


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _fail(call: str, path: str = "") -> OSError:
    err = ctypes.get_errno()
    where = f"{call} {path}" if path else call
    return OSError(err, f"{where}: {os.strerror(err)}")


def _bytes(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    if _libc.mount(_bytes(source), os.fsencode(target), _bytes(fstype), flags, _bytes(data)) != 0:
        raise _fail("mount", target)


def is_mount_point(path: str) -> bool:
    """Whether something is mounted on ``path``, from the kernel's table.

    os.path.ismount compares devices, so it misses a bind within one filesystem.
    """
    wanted = os.fsencode(os.path.realpath(path))
    with open("/proc/self/mountinfo", "rb") as f:
        return any(_unescape_mount_field(line.split(b" ", 5)[4]) == wanted for line in f)


def mount_type(path: str) -> str:
    """The file system type of what is mounted on ``path`` last ("" for nothing)."""
    wanted = os.fsencode(os.path.realpath(path))
    found = b""
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            fields, _, after = line.partition(b" - ")
            if _unescape_mount_field(fields.split(b" ", 5)[4]) == wanted:
                found = after.split(b" ", 1)[0]
    return os.fsdecode(found)


def mount_points_under(path: str) -> list[str]:
    """Every mount point at or below ``path`` (resolved), deepest first: the order to detach them."""
    top = os.fsencode(os.path.realpath(path))
    found = set()
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = _unescape_mount_field(line.split(b" ", 5)[4])
            if point == top or point.startswith(top + b"/"):
                found.add(os.fsdecode(point))
    return sorted(found, key=lambda p: (-p.count("/"), p))


def _unescape_mount_field(field: bytes) -> bytes:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040...)."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(os.fsencode(target), flags) != 0:
        raise _fail("umount", target)


def unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        raise _fail("unshare")


def setns(fd: int, nstype: int, path: str = "") -> None:
    if _libc.setns(fd, nstype) != 0:
        raise _fail("setns", path)


def pivot_root(new_root: str, put_old: str) -> None:
    number = _SYS_PIVOT_ROOT[os.uname().machine]
    if _libc.syscall(number, os.fsencode(new_root), os.fsencode(put_old)) != 0:
        raise _fail("pivot_root", new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    if _libc.sethostname(raw, len(raw)) != 0:
        raise _fail("sethostname", name)


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    if _libc.prctl(option, arg2, arg3, 0, 0) != 0:
        raise _fail(f"prctl {_PRCTL_NAMES.get(option, option)}({arg2})")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's three capability sets (bit masks of cap numbers)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for word in (0, 1):
        shift = 32 * word
        data[word].effective = (effective >> shift) & 0xFFFFFFFF
        data[word].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[word].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise _fail("capset")


def seccomp_set_filter(program: bytes, flags: int = 0) -> None:
    """Install a seccomp BPF program (struct sock_filter[]) on the calling thread."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // _BPF_INSTRUCTION_SIZE, ctypes.addressof(buffer))
    if not flags:
        prctl(PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
        return
    number = _SYS_SECCOMP[os.uname().machine]
    if _libc.syscall(number, _SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(fprog)) != 0:
        raise _fail("seccomp SECCOMP_SET_MODE_FILTER")


def _keyctl(operation: int, *args: object) -> int:
    result = _libc.syscall(_SYS_KEYCTL[os.uname().machine], operation, *args)
    if result < 0:
        raise _fail("keyctl")
    return int(result)


def join_session_keyring(name: str) -> int:
    """Join the session keyring called ``name``, made if there is none yet; its serial."""
    return _keyctl(_KEYCTL_JOIN_SESSION_KEYRING, name.encode())


def key_permissions(serial: int) -> int:
    """A key's permission mask (the fourth field of KEYCTL_DESCRIBE's "type;uid;gid;perm;desc")."""
    buffer = ctypes.create_string_buffer(4096)
    _keyctl(_KEYCTL_DESCRIBE, serial, buffer, len(buffer))
    return int(buffer.value.split(b";")[3], 16)


def set_key_permissions(serial: int, permissions: int) -> None:
    _keyctl(_KEYCTL_SETPERM, serial, permissions)


def mark_fds_cloexec(first: int) -> None:
    """Set close-on-exec on every fd from ``first`` up, so exec leaks nothing."""
    if _libc.close_range(first, 0xFFFFFFFF, _CLOSE_RANGE_CLOEXEC) != 0:
        raise _fail("close_range")


def restore_signals() -> None:
    """Give exec'd programs default signal handling: Python ignores SIGPIPE and SIGXFSZ,
    and dispositions set to "ignore" survive execve (as CPython's subprocess restores)."""
    for number in (_SIGPIPE, _SIGXFSZ):
        _libc.signal(number, _SIG_DFL)
    empty = ctypes.create_string_buffer(128)  # sigset_t
    if _libc.sigprocmask(_SIG_SETMASK, empty, None) != 0:
        raise _fail("sigprocmask")


_SYS_PIDFD_GETFD = 438
_SYS_OPENAT2 = 437  # one number on every architecture: syscalls added since 5.x share a table

# openat2(2) resolve flags
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


SYNC_FILE_RANGE_WRITE = 0x2  # start writing the dirty pages back; do not wait


def sync_file_range(fd: int, offset: int, length: int, flags: int) -> None:
    if _libc.sync_file_range(fd, offset, length, flags) != 0:
        raise _fail("sync_file_range")


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """openat(2) with ``resolve`` flags: with RESOLVE_IN_ROOT, ``path`` (its ``..`` and
    symlinks, absolute ones too) resolves as if ``dirfd`` were ``/``, at every component,
    atomically. Raises OSError (EAGAIN when a concurrent rename made the kernel unsure)."""
    how = _OpenHow(flags, mode, resolve)
    fd = _libc.syscall(
        _SYS_OPENAT2,
        ctypes.c_int(dirfd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        raise _fail("openat2", path)
    return int(fd)


_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


def _bpf(command: int, attr: bytes, what: str) -> int:
    buffer = ctypes.create_string_buffer(attr, len(attr))
    number = _SYS_BPF[os.uname().machine]
    result = _libc.syscall(
        ctypes.c_long(number), ctypes.c_int(command), buffer, ctypes.c_uint(len(attr))
    )
    if result < 0:
        raise _fail(what)
    return int(result)


def bpf_prog_load(prog_type: int, instructions: bytes, license: str) -> int:
    """Load an eBPF program (8-byte instructions); returns its fd."""
    insns = ctypes.create_string_buffer(instructions, len(instructions))
    license_text = ctypes.create_string_buffer(license.encode())
    attr = struct.pack(
        "=IIQQIIQII",
        prog_type,
        len(instructions) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_text),
        0,  # no verifier log
        0,
        0,
        0,
        0,
    )
    return _bpf(_BPF_PROG_LOAD, attr, "bpf BPF_PROG_LOAD")


def bpf_prog_attach(target_fd: int, program_fd: int, attach_type: int, flags: int) -> None:
    """Attach a loaded program to ``target_fd`` (a cgroup directory for device programs)."""
    attr = struct.pack("=IIIII", target_fd, program_fd, attach_type, flags, 0)
    _bpf(_BPF_PROG_ATTACH, attr, "bpf BPF_PROG_ATTACH")


# The new mount API (5.2): a file system configured through a descriptor and mounted
# nowhere, reached only through the descriptor fsmount gives.
_SYS_FSOPEN = 430
_SYS_FSCONFIG = 431
_SYS_FSMOUNT = 432
_FSOPEN_CLOEXEC = 0x1
_FSCONFIG_SET_FLAG = 0
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6
_FSMOUNT_CLOEXEC = 0x1
MOUNT_ATTR_RDONLY = 0x1


def _fail_with_log(call: str, what: str, fs: int) -> OSError:
    """The error, with what the file system said about it (its context's log)."""
    error = _fail(call, what)
    try:
        said = os.read(fs, 4096).decode(errors="replace").strip()
    except OSError:
        return error
    return OSError(error.errno, f"{error.strerror} ({said})")


def detached_mount(fstype: str, options: list[tuple[str, str | None]], attributes: int = 0) -> int:
    """A new ``fstype`` mount attached to no path: a descriptor of its root. It goes
    away with the last descriptor open in it, so nothing is left behind should we die.
    ``options`` are set in order, a key possibly more than once; a value is at most
    256 bytes (fsconfig's limit); None sets a flag."""
    fs = _libc.syscall(_SYS_FSOPEN, ctypes.c_char_p(fstype.encode()), _FSOPEN_CLOEXEC)
    if fs < 0:
        raise _fail("fsopen", fstype)
    try:
        for key, value in options:
            if (
                _libc.syscall(
                    _SYS_FSCONFIG,
                    fs,
                    _FSCONFIG_SET_STRING if value is not None else _FSCONFIG_SET_FLAG,
                    ctypes.c_char_p(key.encode()),
                    ctypes.c_char_p(os.fsencode(value)) if value is not None else None,
                    0,
                )
                != 0
            ):
                raise _fail_with_log("fsconfig", f"{fstype} {key}", fs)
        if _libc.syscall(_SYS_FSCONFIG, fs, _FSCONFIG_CMD_CREATE, None, None, 0) != 0:
            raise _fail_with_log("fsconfig", f"{fstype} create", fs)
        mnt = _libc.syscall(_SYS_FSMOUNT, fs, _FSMOUNT_CLOEXEC, attributes)
        if mnt < 0:
            raise _fail("fsmount", fstype)
        return int(mnt)
    finally:
        os.close(fs)


def take_fd(pid: int, fd: int) -> int:
    """A copy of another process's fd (pidfd_getfd): how a terminal made inside a
    container reaches its supervisor without a socket."""
    pidfd = os.pidfd_open(pid)
    try:
        copy = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
        if copy < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"pidfd_getfd: {os.strerror(err)}")
        return int(copy)
    finally:
        os.close(pidfd)


def set_controlling_tty(fd: int) -> None:
    try:
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
    except OSError as exc:
        raise OSError(exc.errno, f"ioctl TIOCSCTTY: {os.strerror(exc.errno or 0)}") from None


def set_window_size(fd: int, rows: int, columns: int) -> None:
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    except OSError as exc:
        raise OSError(exc.errno, f"ioctl TIOCSWINSZ: {os.strerror(exc.errno or 0)}") from None


def running_in_user_namespace() -> bool:
    """Whether this process is in a user namespace other than the host's (moby's userns check)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except FileNotFoundError:
        return False


def bring_up_interface(name: str) -> None:
    """Set IFF_UP on a network interface of the current netns (``lo`` in a new one)."""
    sock = _libc.socket(_AF_INET, _SOCK_DGRAM | _SOCK_CLOEXEC, 0)
    if sock < 0:
        raise _fail("socket")
    try:
        request = struct.pack("16sH14x", name.encode(), 0)
        (flags,) = struct.unpack_from("16xH", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", name.encode(), flags | _IFF_UP))
    except OSError as exc:
        raise OSError(
            exc.errno, f"ioctl SIOCSIFFLAGS {name}: {os.strerror(exc.errno or 0)}"
        ) from None
    finally:
        os.close(sock)
