"""The host side of a rootless daemon: its namespaces, their id maps, their way out.

Like rootlesskit, the daemon forks itself into a new user namespace in which
it is root, with the user's own uid as 0 and the user's subordinate ids as
1..N (newuidmap/newgidmap, setuid helpers from Debian's uidmap, write maps an
unprivileged process may not), and into mount, network and PID namespaces
owned by it. There, mounts (overlayfs, binds, proc), bridges, veths and
nftables work as for root; what the daemon creates on the host belongs to the
user, and a container's root is the user's first subordinate uid.

The PID namespace is the daemon's own so that the runtime may switch back to
it after forking a container's init into the container's (setns needs
CAP_SYS_ADMIN over the namespace: the host's is out of reach). Its init is a
small reaper whose child is the daemon; when the daemon ends, so does the
namespace and every container in it (containers do not outlive a rootless
daemon, as with Docker's).

Processes: the host side (waits, forwards SIGTERM/SIGINT/SIGHUP, holds
slirp4netns or pasta, which gives the network namespace a route out:
rootless/network.py, and binds the published ports' sockets for the daemon:
rootless/ports.py) forks a setup process; it unshares the user namespace
("u"), the host side maps it ("m"), it unshares the others ("n"), the host side
starts the network driver on it ("g"); it forks the reaper, says its pid and
leaves; the reaper (PID 1) forks the daemon.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from dockyard import rootless
from dockyard.errors import SystemError
from dockyard.rootless import network
from dockyard.rootless.ports import PortServer
from dockyard.rootless.subids import IdRange, ranges_for
from dockyard.runtime import linux

_HELPERS = ("newuidmap", "newgidmap")
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_CGROUPS = "/sys/fs/cgroup"


def enter(exec_root: Path) -> NoReturn:
    """Run the daemon again as root in its namespaces, and wait for it on the host side.

    ``exec_root`` holds the socket of the published ports (rootless/ports.py).
    """
    uid, gid = os.getuid(), os.getgid()
    uids, gids = ranges_for(uid)
    for helper in _HELPERS:
        if shutil.which(helper) is None:
            raise SystemError(
                f"{helper} not found on PATH: rootless mode needs it (apt-get install uidmap)"
            )
    driver = network.chosen_driver()
    network.host_loopback_disabled()  # a bad value is refused before anything starts
    exec_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[rootless.PORTS_ENV] = str(exec_root / rootless.PORTS_SOCKET)
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    # The reaper, once the setup process leaves it, is ours to wait for.
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    setup = os.fork()
    if setup == 0:
        os.close(to_child_w)
        os.close(to_parent_r)
        try:
            _set_up_namespaces(to_parent_w, to_child_r)
        except BaseException as exc:
            print(f"dockyardd: entering the rootless namespaces: {exc}", file=sys.stderr)
            os._exit(1)
        _start_reaper(to_parent_w)
    os.close(to_child_r)
    os.close(to_parent_w)
    sys.exit(_host_side(setup, uid, gid, uids, gids, driver, exec_root, to_parent_r, to_child_w))


def _set_up_namespaces(to_parent: int, from_parent: int) -> None:
    try:
        linux.unshare(linux.CLONE_NEWUSER)
    except PermissionError as exc:
        raise SystemError(
            f"{exc}: this system refuses the user a user namespace (the kernel refuses them "
            "inside a chroot, and where user.max_user_namespaces is 0): rootless mode needs one"
        ) from exc
    _step(to_parent, from_parent, b"u", b"m")
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWPID)
    # Mounts made here (overlays, the containers' roots) must not reach the host's namespace.
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_SLAVE)
    linux.bring_up_interface("lo")
    _mount_own_sysfs()
    _step(to_parent, from_parent, b"n", b"g")
    os.close(from_parent)


def _mount_own_sysfs() -> None:
    """A /sys of the new network namespace, as rootlesskit mounts one: /sys/class/net
    lists the interfaces of the namespace sysfs was mounted in, and the engine finds its
    bridges there (the host's /sys would hide them, and with them the engine's nftables
    table: its NAT). The host's /sys/fs/cgroup is moved aside and back on top."""
    aside = tempfile.mkdtemp(prefix="dockyard-cgroup-")
    try:
        linux.mount(_CGROUPS, aside, None, linux.MS_BIND | linux.MS_REC)
        linux.mount("sysfs", "/sys", "sysfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
        linux.mount(aside, _CGROUPS, None, linux.MS_MOVE)
    finally:
        os.rmdir(aside)


def _start_reaper(to_parent: int) -> NoReturn:
    """Fork the namespace's init, tell the host side its pid and leave; exec the daemon."""
    reaper = os.fork()
    if reaper:
        os.write(to_parent, f"{reaper}\n".encode())
        os._exit(0)
    os.close(to_parent)
    for signum in _FORWARDED:
        signal.signal(signum, signal.SIG_IGN)
    daemon = os.fork()
    if daemon == 0:
        for signum in _FORWARDED:
            signal.signal(signum, signal.SIG_DFL)
        try:
            _exec_daemon()
        except BaseException as exc:
            print(f"dockyardd: starting in the rootless namespaces: {exc}", file=sys.stderr)
            os._exit(1)
    for signum in _FORWARDED:
        signal.signal(signum, lambda signum, _frame: _forward(daemon, signum))
    os._exit(_reap_until(daemon))


def _exec_daemon() -> NoReturn:
    """Run dockyardd again, now as root of the namespaces.

    The exec is what makes the daemon's memory the namespace's: until then it
    is the host's, and a process the namespace's root cannot ptrace is one
    whose /proc/PID/ns it cannot open (a container's init once it left root).
    """
    # Read before /proc is the namespace's: NSpid's first pid is the host's.
    os.environ[rootless.ENV_FLAG] = str(_own_host_pid())
    # /proc of this PID namespace: the runtime reads /proc/<pid> of the pids it forks.
    linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def _own_host_pid() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[1])
    return os.getpid()


def _reap_until(daemon: int) -> int:
    """PID 1's work: wait for every orphan, and end with the daemon's status."""
    while True:
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            return 1
        if pid == daemon:
            return _exit_code(status)


def _step(to_parent: int, from_parent: int, done: bytes, wanted: bytes) -> None:
    os.write(to_parent, done)
    if os.read(from_parent, 1) != wanted:
        raise SystemError("the host side of the rootless daemon gave up")


def _host_side(
    setup: int,
    uid: int,
    gid: int,
    uids: IdRange,
    gids: IdRange,
    driver: str,
    exec_root: Path,
    from_child: int,
    to_child: int,
) -> int:
    target = [setup]  # where the signals go: the setup process, then the reaper
    for signum in _FORWARDED:
        signal.signal(signum, lambda signum, _frame: _forward(target[0], signum))
    way_out: network.WayOut | None = None
    ports: PortServer | None = None
    try:
        if os.read(from_child, 1) != b"u":
            return _wait(setup)
        _map_ids("newuidmap", setup, uid, uids)
        _map_ids("newgidmap", setup, gid, gids)
        os.write(to_child, b"m")
        if os.read(from_child, 1) != b"n":
            return _wait(setup)
        way_out = network.start(driver, setup, exec_root)
        ports = PortServer(exec_root)
        os.write(to_child, b"g")
        reaper = os.read(from_child, 32).strip()
        _wait(setup)
        if not reaper:
            return 1
        target[0] = int(reaper)
        return _wait(target[0])
    except (OSError, SystemError) as exc:
        print(f"dockyardd: {exc}", file=sys.stderr)
        _forward(setup, signal.SIGKILL)
        _wait(setup)
        return 1
    finally:
        os.close(from_child)
        os.close(to_child)
        if ports is not None:
            ports.close()
        if way_out is not None:
            way_out.stop()


def _map_ids(helper: str, pid: int, own: int, subordinate: IdRange) -> None:
    command = [helper, str(pid), "0", str(own), "1", "1", str(subordinate.start)]
    command.append(str(subordinate.count))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemError(f"{helper}: {done.stderr.strip() or f'exit status {done.returncode}'}")


def _forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        return _exit_code(status)


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # as a shell reports a signal
