"""The built-in OCI runtime as a library: create, start, exec and delete a container.

``create`` forks the container's init straight into its new PID namespace
(the caller unshares CLONE_NEWPID for that one fork, then returns to its
own), so the init is PID 1 and the caller's own child: one fork, no
intermediate. The init makes its namespaces, mounts and pivots into the
rootfs, drops to the process's user and capabilities, tells the caller it is
ready and blocks until ``Init.start``; then it execs.

The init is in its cgroup before it runs anything of the container's. On
cgroup v1 it moves itself in first thing, which is cheap; elsewhere moving a
process makes the kernel wait out an RCU grace period (5-15 ms), so the
caller moves it, in parallel with the init's own setup, and the init waits
for that only before it creates its cgroup namespace (whose root is the
cgroup it is in at that moment). ``exec_process`` works the same way.

The caller and the child talk over two close-on-exec pipes: ``control``
(caller → child: "G" you are in your cgroup, "S" start) and ``report``
(child → caller: "R" ready, "E<text>" setup failed, "C<code> <text>" the
command could not be executed; end-of-file once the execve succeeded).
"""

from __future__ import annotations

import contextlib
import os

from dockyard.errors import CommandError, SystemError
from dockyard.runtime import devices, linux, mounts, process, sysctls
from dockyard.runtime.cgroups import Cgroup, open_cgroup
from dockyard.runtime.configfile import load_config

# typing costs ~10 ms of start-up for `python -m dockyard.runtime`; annotations only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from dockyard.runtime.seccomp import Program

_NAMESPACE_FLAGS = {
    "pid": linux.CLONE_NEWPID,
    "network": linux.CLONE_NEWNET,
    "mount": linux.CLONE_NEWNS,
    "ipc": linux.CLONE_NEWIPC,
    "uts": linux.CLONE_NEWUTS,
    "cgroup": linux.CLONE_NEWCGROUP,
}
# The namespaces an exec joins, mount last: once in it, /proc/<pid> is the container's.
_EXEC_NAMESPACES = (
    ("ipc", linux.CLONE_NEWIPC),
    ("uts", linux.CLONE_NEWUTS),
    ("net", linux.CLONE_NEWNET),
    ("cgroup", linux.CLONE_NEWCGROUP),
    ("mnt", linux.CLONE_NEWNS),
)
_IN_CGROUP = b"G"
_START = b"S"
_READY = b"R"
_SETUP_FAILED = b"E"
_COMMAND_FAILED = b"C"
_MAX_MESSAGE = 4000  # below PIPE_BUF, so each report is one atomic write


class Stdio:
    """File descriptors in the calling process that become the container's 0, 1 and 2.

    With a terminal all three are the pty's slave, which the init makes its
    controlling terminal.
    """

    __slots__ = ("stdin", "stdout", "stderr")

    def __init__(self, stdin: int, stdout: int, stderr: int) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr


class _Channel:
    """The control and report pipes between the caller and one child."""

    def __init__(self) -> None:
        self.report_r, self.report_w = os.pipe2(os.O_CLOEXEC)
        self.control_r, self.control_w = os.pipe2(os.O_CLOEXEC)

    def _close(self, *names: str) -> None:
        for name in names:
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def close(self) -> None:
        self._close("report_r", "report_w", "control_r", "control_w")

    # ---- the caller's side
    def keep_parent_side(self) -> None:
        self._close("report_w", "control_r")

    def send(self, message: bytes) -> None:
        """Tell the child; a child that already died will have reported why."""
        try:
            os.write(self.control_w, message)
        except BrokenPipeError:
            return

    def first_report(self) -> bytes:
        return os.read(self.report_r, _MAX_MESSAGE + 16)

    def final_report(self) -> bytes:
        """Everything the child reports until its execve closes the pipe (b"" on success)."""
        chunks = []
        while chunk := os.read(self.report_r, _MAX_MESSAGE + 16):
            chunks.append(chunk)
        return b"".join(chunks)

    # ---- the child's side
    def keep_child_side(self) -> None:
        self._close("report_r", "control_w")

    def wait_for(self, message: bytes) -> None:
        if os.read(self.control_r, 1) != message:
            os._exit(1)  # the caller went away: nobody wants this container any more

    def report(self, kind: bytes, text: str = "") -> None:
        try:
            os.write(self.report_w, kind + text.encode(errors="replace")[:_MAX_MESSAGE])
        except BrokenPipeError:
            return  # the caller is gone; nobody is left to tell


class Init:
    """A container's PID 1, created and waiting for ``start`` to exec its program."""

    def __init__(self, pid: int, channel: _Channel) -> None:
        self.pid = pid
        self._channel = channel

    def start(self) -> None:
        """Let the init execve; raises CommandError (126/127) after reaping it if that fails."""
        channel = self._channel
        if channel.control_w < 0:
            raise SystemError("the container was already started")
        try:
            channel.send(_START)
            message = channel.final_report()
        finally:
            channel.close()
        if message:
            os.waitpid(self.pid, 0)
            raise _failure(message)

    def close(self) -> None:
        """Release the pipes of an init the caller kills instead of starting."""
        self._channel.close()

    def console(self) -> int:
        """The master of the pty the init made for itself (created with terminal=True)."""
        for name in os.listdir(f"/proc/{self.pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{self.pid}/fd/{name}").endswith("/ptmx"):
                    return linux.take_fd(self.pid, int(name))
        raise SystemError("the container's terminal is missing")


def _seccomp_program(config: dict | None) -> Program | None:
    """The filter of an OCI ``linux.seccomp``, built before the fork (see runtime.seccomp)."""
    if not config:
        return None
    from dockyard.runtime import seccomp  # libseccomp: only for containers that have a filter

    return seccomp.program(config)


class _Plan:
    """What the init needs from config.json, worked out before the fork."""

    def __init__(self, bundle: str | os.PathLike[str], config: dict, container_id: str) -> None:
        linux_config = config.get("linux") or {}
        self.container_id = container_id
        self.seccomp = _seccomp_program(linux_config.get("seccomp"))
        root = config.get("root") or {}
        self.rootfs = os.path.abspath(os.path.join(bundle, root.get("path") or "rootfs"))
        self.readonly_root = bool(root.get("readonly"))
        self.hostname = config.get("hostname") or ""
        self.mounts: list[dict] = config.get("mounts") or []
        self.process: dict = config.get("process") or {}
        self.terminal = bool(self.process.get("terminal"))
        self.propagation = linux_config.get("rootfsPropagation") or ""
        self.sysctl: dict[str, str] = linux_config.get("sysctl") or {}
        self.masked_paths: list[str] = linux_config.get("maskedPaths") or []
        self.readonly_paths: list[str] = linux_config.get("readonlyPaths") or []
        spec_devices: list[dict] = linux_config.get("devices") or []
        self.device_nodes = devices.runtime_nodes(spec_devices)
        resources: dict = linux_config.get("resources") or {}
        self.resources = {
            **resources,
            "devices": devices.runtime_rules(resources.get("devices") or [], spec_devices),
        }
        path = linux_config.get("cgroupsPath") or ""
        self.cgroup: Cgroup | None = open_cgroup(path) if path else None
        self.new_namespaces = 0  # CLONE_* flags to unshare, but CLONE_NEWCGROUP (below)
        self.joined: list[tuple[int, str]] = []  # (CLONE_* flag, namespace file) to setns
        self.pid_namespace: str | None = None  # "" new, a path to join, None to share ours
        self.cgroup_namespace: str | None = None  # the same, entered once in the cgroup
        namespaces: list[dict] = linux_config.get("namespaces") or []
        for namespace in namespaces:
            self._add_namespace(namespace["type"], namespace.get("path") or "")
        if not self.new_namespaces & linux.CLONE_NEWNS:
            raise SystemError("the built-in runtime needs a new mount namespace (linux.namespaces)")
        sysctls.check(self.sysctl, namespaces)

    def _add_namespace(self, kind: str, path: str) -> None:
        flag = _NAMESPACE_FLAGS.get(kind)
        if flag is None:
            raise SystemError(f"the built-in runtime does not support {kind} namespaces")
        if kind == "pid":
            self.pid_namespace = path
        elif kind == "cgroup":
            self.cgroup_namespace = path
        elif path:
            self.joined.append((flag, path))
        else:
            self.new_namespaces |= flag


def create(
    bundle: str | os.PathLike[str], stdio: Stdio, *, terminal: bool, container_id: str
) -> Init:
    """Create the container ``container_id`` of ``bundle``, stopped just before it execs
    its program.

    Setup failures raise SystemError naming the step, with nothing left behind.
    """
    plan = _Plan(bundle, load_config(bundle), container_id)
    plan.terminal = terminal
    if plan.cgroup is not None:
        try:
            plan.cgroup.create(plan.resources)
        except OSError as exc:
            raise SystemError(f"creating the cgroup: {exc.strerror}") from None
    channel = _Channel()
    try:
        pid = _fork_in_pid_namespace(plan.pid_namespace, lambda: _init_main(plan, stdio, channel))
        channel.keep_parent_side()
        _admit(pid, plan.cgroup, channel)
        message = channel.first_report()
    except BaseException:
        channel.close()
        _destroy_cgroup(plan.cgroup)
        raise
    if message == _READY:
        return Init(pid, channel)
    channel.close()
    os.waitpid(pid, 0)
    _destroy_cgroup(plan.cgroup)
    raise _failure(message)


def exec_process(
    init_pid: int,
    process_config: dict,
    stdio: Stdio,
    cgroups_path: str,
    *,
    container_id: str,
    seccomp: dict | None = None,
) -> int:
    """Run ``process_config`` (an OCI process) inside the running container ``container_id``
    of ``init_pid``, under the container's ``seccomp`` (its OCI ``linux.seccomp``).

    Returns the pid of the exec'd program, a child of the caller; raises
    CommandError (126/127) when it cannot be executed.
    """
    cgroup = open_cgroup(cgroups_path) if cgroups_path else None
    program = _seccomp_program(seccomp)
    channel = _Channel()
    try:
        pid = _fork_in_pid_namespace(
            f"/proc/{init_pid}/ns/pid",
            lambda: _exec_main(
                init_pid, process_config, stdio, cgroup, channel, container_id, program
            ),
        )
        channel.keep_parent_side()
        _admit(pid, cgroup, channel)
        message = channel.final_report()
    finally:
        channel.close()
    if message:
        os.waitpid(pid, 0)
        raise _failure(message)
    return pid


def delete(bundle: str | os.PathLike[str]) -> None:
    """Remove what the container left on the host (its cgroup), killing any stragglers."""
    path = (load_config(bundle).get("linux") or {}).get("cgroupsPath")
    if not path:
        return
    cgroup = open_cgroup(path)
    if cgroup.pids():
        cgroup.kill_all()
    cgroup.destroy()


def _admit(pid: int, cgroup: Cgroup | None, channel: _Channel) -> None:
    """Move the child into its cgroup unless it enters by itself, and tell it so.

    A child that cannot be moved is killed.
    """
    try:
        if cgroup is not None and not cgroup.enter_is_cheap:
            cgroup.add_process(pid)
    except ProcessLookupError:
        return  # it died during setup; its report says why
    except OSError as exc:
        os.kill(pid, linux.SIGKILL)
        os.waitpid(pid, 0)
        raise SystemError(f"joining the cgroup: {exc.strerror}") from None
    channel.send(_IN_CGROUP)


def _destroy_cgroup(cgroup: Cgroup | None) -> None:
    if cgroup is not None:
        cgroup.destroy()


def _same_file(a: str, b: str) -> bool:
    first, second = os.stat(a), os.stat(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _fork_in_pid_namespace(namespace: str | None, child: Callable[[], NoReturn]) -> int:
    """Fork ``child`` into a new ("") or given PID namespace, or ours (None).

    Only children enter a PID namespace, so ours is switched for the one fork
    and switched back at once.
    """
    if namespace is None:
        pid = os.fork()
        if pid == 0:
            child()
        return pid
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _enter_pid_namespace(namespace)
        pid = os.fork()
        if pid == 0:
            child()
    finally:
        linux.setns(own, linux.CLONE_NEWPID, "/proc/self/ns/pid")
        os.close(own)
    return pid


def _enter_pid_namespace(namespace: str) -> None:
    try:
        if namespace:
            _setns_path(namespace, linux.CLONE_NEWPID)
        else:
            linux.unshare(linux.CLONE_NEWPID)
    except OSError as exc:
        raise SystemError(f"entering the pid namespace: {_describe(exc)}") from None


def _setns_path(path: str, flag: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns(fd, flag, path)
    finally:
        os.close(fd)


def _failure(message: bytes) -> SystemError:
    """The caller's exception for what the init (or exec) child reported."""
    kind, text = message[:1], message[1:].decode(errors="replace")
    if kind == _COMMAND_FAILED:
        code, _, detail = text.partition(" ")
        return CommandError(detail, int(code))
    if kind == _SETUP_FAILED:
        return SystemError(text)
    return SystemError("the container's init exited during setup without a report")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _attach_stdio(stdio: Stdio, terminal: bool, console_size: dict | None) -> None:
    """Make the given fds our 0, 1 and 2, in a new session (with the tty as its terminal).

    An init with a terminal gets placeholders here: it makes its own pty once its
    devpts is mounted (mounts._open_console).
    """
    os.setsid()
    sources = [stdio.stdin, stdio.stdout, stdio.stderr]
    # A source already among 0-2 could be overwritten by an earlier dup2; copy it out first.
    sources = [os.dup(fd) if fd < 3 and fd != target else fd for target, fd in enumerate(sources)]
    for target, fd in enumerate(sources):
        if fd == target:
            os.set_inheritable(fd, True)
        else:
            os.dup2(fd, target)
    if terminal:
        linux.set_controlling_tty(0)
        _apply_console_size(console_size)


def _apply_console_size(console_size: dict | None) -> None:
    if console_size:
        linux.set_window_size(0, console_size.get("height", 0), console_size.get("width", 0))


def _write_file(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _init_main(plan: _Plan, stdio: Stdio, channel: _Channel) -> NoReturn:
    """The container's PID 1 from fork to execve (or to its report of what failed)."""
    code = 1
    step = "setting up stdio"
    try:
        channel.keep_child_side()
        _attach_stdio(stdio, False, None)
        step = "joining the session keyring"
        process.join_session_keyring(plan.container_id)
        if plan.cgroup is not None and plan.cgroup.enter_is_cheap:
            step = "joining the cgroup"
            plan.cgroup.enter()
        if "oomScoreAdj" in plan.process:
            step = "setting oom_score_adj"
            _write_file("/proc/self/oom_score_adj", str(plan.process["oomScoreAdj"]))
        step = "entering namespaces"
        for flag, path in plan.joined:
            _setns_path(path, flag)
        linux.unshare(plan.new_namespaces)
        if plan.new_namespaces & linux.CLONE_NEWNET:
            step = "bringing up the loopback interface"
            linux.bring_up_interface("lo")
        if plan.hostname and plan.new_namespaces & linux.CLONE_NEWUTS:
            step = "setting the hostname"
            linux.sethostname(plan.hostname)
        step = "preparing the rootfs"
        mounts.prepare_rootfs(
            plan.rootfs,
            plan.mounts,
            cgroup=plan.cgroup,
            device_nodes=plan.device_nodes,
            terminal=plan.terminal,
            propagation=plan.propagation,
            cwd=plan.process.get("cwd") or "/",
        )
        if plan.terminal:
            _apply_console_size(plan.process.get("consoleSize"))
        step = "writing sysctls"
        for key, value in plan.sysctl.items():  # our own /proc/sys: checked in _Plan
            _write_file(sysctls.proc_path(key), value)
        step = "finalizing the rootfs"
        mounts.finalize_rootfs(plan.readonly_paths, plan.masked_paths, plan.readonly_root)
        step = "entering the cgroup namespace"
        channel.wait_for(_IN_CGROUP)
        if plan.cgroup_namespace:
            _setns_path(plan.cgroup_namespace, linux.CLONE_NEWCGROUP)
        elif plan.cgroup_namespace is not None:
            linux.unshare(linux.CLONE_NEWCGROUP)
        step = "setting up the process"
        executable = process.prepare(plan.process, plan.seccomp)
        channel.report(_READY)
        channel.wait_for(_START)
        step = "starting the process"
        code = _execute(executable, channel)
    except BaseException as exc:  # noqa: BLE001 - anything that stops the init is reported
        channel.report(_SETUP_FAILED, f"{step}: {_describe(exc)}")
    os._exit(code)


def _execute(executable: process.Executable, channel: _Channel) -> int:
    """execve the process; returns only if that failed, having reported why (126/127)."""
    linux.mark_fds_cloexec(3)
    error = process.execute(executable)
    channel.report(_COMMAND_FAILED, f"{error.exit_code} {error.message}")
    return error.exit_code


def _exec_main(
    init_pid: int,
    process_config: dict,
    stdio: Stdio,
    cgroup: Cgroup | None,
    channel: _Channel,
    container_id: str,
    program: Program | None,
) -> NoReturn:
    """A `docker exec` child: join the container, become its process, execve."""
    code = 1
    step = "setting up stdio"
    try:
        channel.keep_child_side()
        _attach_stdio(
            stdio, bool(process_config.get("terminal")), process_config.get("consoleSize")
        )
        step = "joining the session keyring"
        process.join_session_keyring(container_id)
        if cgroup is not None and cgroup.enter_is_cheap:
            step = "joining the cgroup"
            cgroup.enter()  # while the host's /sys/fs/cgroup is still ours to see
        step = "joining the container's namespaces"
        # Only those not ours already: joining one of the host's, even the one we are in,
        # needs privileges over it that a rootless engine lacks (cgroup v1's host cgroupns).
        paths = [
            (f"/proc/{init_pid}/ns/{name}", flag)
            for name, flag in _EXEC_NAMESPACES
            if not _same_file(f"/proc/{init_pid}/ns/{name}", f"/proc/self/ns/{name}")
        ]
        fds = [(os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag, path) for path, flag in paths]
        # The init's root, opened before setns: joining a mount namespace moves us to the
        # namespace's root, which is not the container's when it was entered by MS_MOVE +
        # chroot (no pivot_root under a chroot, as on a build machine).
        root = os.open(f"/proc/{init_pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for fd, flag, path in fds:
            linux.setns(fd, flag, path)
            os.close(fd)
        os.fchdir(root)
        os.chroot(".")
        os.close(root)
        step = "setting up the process"
        executable = process.prepare(process_config, program)
        step = "waiting for the cgroup"
        channel.wait_for(_IN_CGROUP)
        step = "starting the process"
        code = _execute(executable, channel)
    except BaseException as exc:  # noqa: BLE001 - anything that stops the exec is reported
        channel.report(_SETUP_FAILED, f"{step}: {_describe(exc)}")
    os._exit(code)
