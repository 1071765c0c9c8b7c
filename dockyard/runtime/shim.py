"""The per-container supervisor (dockyard's containerd-shim / conmon).

The daemon forks one shim per running container, detached in its own
session, so the container does not depend on the daemon: the shim mounts the
container's root, creates the container with the runtime, copies its output
to the json-file log and to attached clients, feeds it stdin, and when the
container exits records the exit status on disk, unmounts and exits.

Files (``bundle`` = containers/<id>, ``exec_dir`` = <exec-root>/<id>):
  bundle/config.json      the OCI runtime spec, written once the user is resolved
  bundle/shim.json        {"shim_pid", "shim_start", "pid"}: found again after a daemon restart
  bundle/exit.json        {"ExitCode", "FinishedAt", "OOMKilled", "Error"} when it ended
  exec_dir/attach.sock    output out (framed without a TTY), stdin in
  exec_dir/control.sock   one JSON line per request: {"resize": [h, w]}

Start-up handshake with the daemon over a socketpair, one JSON line each:
  shim → {"created": pid}        or {"error": msg, "code": n}
  daemon → {"start": true}       (after connecting any attach clients)
  shim → {"started": pid}        or {"error": msg, "code": n}
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import stdcopy
from dockyard.config import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE
from dockyard.errors import CommandError, DockyardError
from dockyard.runtime import container as builtin
from dockyard.runtime import linux
from dockyard.runtime.cgroups import open_cgroup
from dockyard.runtime.jsonlog import JsonLogWriter
from dockyard.runtime.linux import set_window_size
from dockyard.runtime.overlay import OVERLAY2, mount_overlay, mount_shm, unmount
from dockyard.runtime.users import resolve_user
from dockyard.timefmt import rfc3339_nano

# How long output may keep flowing after the init exited (orphans holding the pipes).
_DRAIN_SECONDS = 2.0
_CHUNK = 32 * 1024
# Bounded buffers (as containerd's shims and conmon): at most this much output waits for
# an attached client, and this much input for the container's stdin. Above it the shim
# stops reading the container's output (a client that does not read pauses the container,
# as a stalled `docker attach` does with Docker), or stops reading its clients.
HIGH_WATER = 64 * 1024
_STREAMS = {"stdout": stdcopy.STDOUT, "stderr": stdcopy.STDERR}


SHM_DIR = "shm"  # a shareable container's /dev/shm tmpfs, in its bundle (ShimConfig.shm_dir)


@dataclass
class ShimConfig:
    id: str
    bundle: Path
    exec_dir: Path
    spec: dict
    user: str
    lowerdirs: list[Path]
    upper: Path
    work: Path
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    log_path: Path | None = None
    log_max_size: int = 0
    log_max_file: int = 1
    log_compress: bool = False  # gzip the rotated files
    log_attrs: dict[str, str] = field(default_factory=dict)  # on every line of the log
    runtime: str = "builtin"  # or the path of an OCI runtime binary (runc, crun)
    runtime_root: Path | None = None
    group_add: list[str] = field(default_factory=list)  # --group-add: names or gids
    shm_size: int = 0  # above 0: mount a tmpfs of this size at shm_dir (--ipc shareable)
    storage_driver: str = OVERLAY2  # what mounts the root: the kernel's overlay or fuse-overlayfs

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    @property
    def shm_dir(self) -> Path:
        return self.bundle / SHM_DIR


def process_start_time(pid: int) -> int:
    """The start time (clock ticks since boot) that tells a pid from its reuse."""
    return _state_and_start(pid)[1]


def process_running(pid: int, start_time: int) -> bool:
    """Whether the process that started at ``start_time`` is alive (a zombie, awaiting
    its reaper, has ended)."""
    try:
        state, started = _state_and_start(pid)
    except (FileNotFoundError, ProcessLookupError):
        return False
    return started == start_time and state not in (b"Z", b"X")


def _state_and_start(pid: int) -> tuple[bytes, int]:
    """The state letter and the start time of /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[0], int(fields[19])


def exit_status(wait_status: int) -> int:
    """A wait status as `docker run` reports it: the exit code, or 128+N for signal N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write-then-rename: readers see the old file or the new, never half of one.

    No fsync: these files describe processes, which a machine crash ends anyway;
    they only have to survive the daemon's crash, and the page cache does that.
    The temporary file is written over, then cut to length: one that
    ``reserve_json`` made needs no new space, even on a full disk.
    """
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(data).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        os.write(fd, text)
        os.ftruncate(fd, len(text))
    finally:
        os.close(fd)
    os.rename(tmp, path)


def reserve_json(path: Path, size: int = 4096) -> None:
    """Set aside the space of a later ``write_json_atomic(path, ...)``."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        os.posix_fallocate(fd, 0, size)
    finally:
        os.close(fd)


def request(control_socket: Path, message: dict) -> dict:
    """Ask a running shim something over its control.sock (one JSON line each way)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(control_socket))
        sock.sendall(json.dumps(message).encode() + b"\n")
        reply = sock.makefile("rb").readline()
    return json.loads(reply or b"{}")  # type: ignore[no-any-return]


def set_interest(
    sel: selectors.BaseSelector, fileobj: socket.socket | int, events: int, data: object
) -> None:
    """Watch ``fileobj`` for ``events`` (none: not at all), registering it as needed."""
    try:
        key = sel.get_key(fileobj)
    except KeyError:
        if events:
            sel.register(fileobj, events, data)
        return
    if not events:
        sel.unregister(fileobj)
    elif key.events != events:
        sel.modify(fileobj, events, data)


def spawn(cfg: ShimConfig) -> tuple[int, socket.socket]:
    """Fork a detached shim for ``cfg``; return its pid and the daemon's end of the handshake."""

    def serve(control: socket.socket) -> None:
        # Orphans of a runtime that double-forks (runc) become our children, to wait for.
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        Shim(cfg, control).run()

    return fork_detached(cfg.bundle, "dockyard-shim", serve, "the container's supervisor")


def fork_detached(
    log_dir: Path, name: str, serve: Callable[[socket.socket], None], what: str
) -> tuple[int, socket.socket]:
    """Fork a supervisor detached twice (nobody's child but init's, in its own session),
    logging to ``log_dir``/shim.log and named ``name``, which runs ``serve`` on its end of
    a socket pair; return its pid and our end."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid_r, pid_w = os.pipe()
    # Keep the collector away from the parent's objects in the child: scanning them
    # would copy every page it touches, and a supervisor's memory is per container.
    gc.freeze()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        _become_detached(theirs, pid_w, log_dir, name, serve)
    theirs.close()
    os.close(pid_w)
    os.waitpid(child, 0)
    with os.fdopen(pid_r, "rb") as f:
        pid = int(f.read() or b"0")
    if not pid:
        ours.close()
        raise DockyardError(f"could not start {what}")
    return pid, ours


def _become_detached(
    sock: socket.socket,
    pid_w: int,
    log_dir: Path,
    name: str,
    serve: Callable[[socket.socket], None],
) -> None:
    """In the first child: detach twice, report the supervisor's pid, then serve."""
    code = 1
    try:
        gc.disable()
        os.setsid()
        if os.fork():
            os._exit(0)
        os.write(pid_w, str(os.getpid()).encode())
        os.close(pid_w)
        keep = sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 16)
        _reset_process(log_dir, name)
        serve(sock)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def _reset_process(log_dir: Path, name: str) -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    log_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    devnull = os.open(os.devnull, os.O_RDWR)
    log = os.open(log_dir / "shim.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    os.chdir("/")
    # The name `ps` shows (its cmdline is still the parent's: a supervisor is a fork of it).
    Path("/proc/self/comm").write_text(name)


@dataclass
class _Client:
    sock: socket.socket
    out: bytearray = field(default_factory=bytearray)
    reading: bool = True


class Shim:
    """Runs one container from creation to exit."""

    def __init__(self, cfg: ShimConfig, control: socket.socket) -> None:
        self.cfg = cfg
        self.control = control
        self.control_file = control.makefile("rwb", buffering=0)
        self.sel = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        self.outputs: dict[int, str] = {}  # fd → "stdout" / "stderr"
        self.stdin_fd: int | None = None
        self.stdin_buf = bytearray()
        self._stdin_closing = False
        self.master: int | None = None
        self.init_pid = 0
        self.exit_code: int | None = None
        self.mounted = False
        self.log: JsonLogWriter | None = None

    # ---------------------------------------------------------------- lifecycle
    def run(self) -> None:
        try:
            self._setup()
        except DockyardError as e:
            self._reply({"error": e.message, "code": getattr(e, "exit_code", 0)})
            self._cleanup()
            return
        except Exception as e:  # noqa: BLE001 - reported to the daemon, then we clean up
            traceback.print_exc()
            self._reply({"error": f"{type(e).__name__}: {e}", "code": 0})
            self._cleanup()
            return
        try:
            self._serve()
        finally:
            self._finish()

    def _setup(self) -> None:
        cfg = self.cfg
        cfg.exec_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        mount_overlay(cfg.lowerdirs, cfg.upper, cfg.work, cfg.rootfs, cfg.storage_driver)
        self.mounted = True
        if cfg.shm_size:
            mount_shm(cfg.shm_dir, cfg.shm_size)
        uid, gid, groups = resolve_user(cfg.rootfs, cfg.user, cfg.group_add)
        user = cfg.spec["process"].setdefault("user", {})
        user.update(uid=uid, gid=gid)
        if groups:
            user["additionalGids"] = groups
        write_json_atomic(cfg.bundle / "config.json", cfg.spec)
        reserve_json(cfg.bundle / "exit.json")  # written when the disk may be full
        if cfg.log_path is not None:
            self.log = JsonLogWriter(
                cfg.log_path, cfg.log_max_size, cfg.log_max_file, cfg.log_compress, cfg.log_attrs
            )
        self.attach_listener = self._listen(cfg.exec_dir / "attach.sock")
        self.control_listener = self._listen(cfg.exec_dir / "control.sock")
        start = self._create()
        self._reply({"created": self.init_pid})
        message = self._read_request()
        if not message.get("start"):
            raise DockyardError("the daemon went away before the container started")
        self._accept_pending()
        start()
        write_json_atomic(
            cfg.bundle / "shim.json",
            {
                "shim_pid": os.getpid(),
                "shim_start": process_start_time(os.getpid()),
                "pid": self.init_pid,
            },
        )
        self._reply({"started": self.init_pid})
        self.control_file.close()
        self.control.close()

    def _create(self) -> Callable[[], None]:
        """Create the container stopped before its execve; return what starts it."""
        # Both runtimes make the container's terminal inside it; we get the master.
        child_fds = self._open_stdio()
        try:
            if self.cfg.runtime == "builtin":
                init = builtin.create(
                    self.cfg.bundle,
                    builtin.Stdio(*child_fds),
                    terminal=self.cfg.tty,
                    container_id=self.cfg.id,
                )
                self.init_pid = init.pid
                if self.cfg.tty:
                    self._use_master(init.console())
                return init.start
            return self._create_with_binary(child_fds)
        finally:
            for fd in set(child_fds):
                os.close(fd)

    def _open_stdio(self) -> tuple[int, int, int]:
        """Our ends of the container's stdio go to the selector; return the child's ends.

        With a TTY the runtime makes the pty inside the container and we take its
        master afterwards (_use_master), so the child gets placeholders.
        """
        if self.cfg.tty:
            devnull = os.open(os.devnull, os.O_RDWR)
            return devnull, os.dup(devnull), os.dup(devnull)
        fds: list[int] = []
        if self.cfg.open_stdin:
            r, w = os.pipe()
            os.set_blocking(w, False)
            self.stdin_fd = w
            fds.append(r)
        else:
            fds.append(os.open(os.devnull, os.O_RDONLY))
        for name in ("stdout", "stderr"):
            r, w = os.pipe()
            os.set_blocking(r, False)
            self.outputs[r] = name
            fds.append(w)
        return fds[0], fds[1], fds[2]

    def _use_master(self, master: int) -> None:
        os.set_blocking(master, False)
        self.master = master
        self.outputs[master] = "stdout"
        if self.cfg.open_stdin:
            self.stdin_fd = master

    def _create_with_binary(self, child_fds: tuple[int, int, int]) -> Callable[[], None]:
        """`runc create` then `runc start`: the same bundle under another OCI runtime."""
        cfg = self.cfg
        pid_file = cfg.bundle / "init.pid"
        log = cfg.bundle / "runtime.log"
        base = self._binary_command()
        cmd = [*base, "create", "--bundle", str(cfg.bundle), "--pid-file", str(pid_file)]
        console_path = cfg.exec_dir / "console.sock"
        listener = self._listen(console_path) if cfg.tty else None
        if listener is not None:
            cmd += ["--console-socket", str(console_path)]
        proc = subprocess.Popen(
            [*cmd, cfg.id], stdin=child_fds[0], stdout=child_fds[1], stderr=child_fds[2]
        )
        if listener is not None:
            self._receive_console(listener, proc)
        if proc.wait():
            raise _runtime_failure(_last_runtime_error(log))
        self.init_pid = int(pid_file.read_text())

        def start() -> None:
            if subprocess.run([*base, "start", cfg.id], check=False).returncode:
                raise _runtime_failure(_last_runtime_error(log))

        return start

    def _receive_console(self, listener: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        """Take the pty master that the runtime sends over --console-socket."""
        listener.settimeout(0.1)
        try:
            while True:
                try:
                    conn, _ = listener.accept()
                    break
                except TimeoutError:
                    if proc.poll() is not None:
                        return  # it failed before sending one; its log says why
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
            if fds:
                self._use_master(fds[0])
        finally:
            listener.close()

    # ---------------------------------------------------------------- serving
    def _serve(self) -> None:
        pidfd = os.pidfd_open(self.init_pid)
        self.sel.register(pidfd, selectors.EVENT_READ, "exit")
        self.sel.register(self.attach_listener, selectors.EVENT_READ, "accept")
        self.sel.register(self.control_listener, selectors.EVENT_READ, "control")
        self._update_interest()
        deadline: float | None = None
        while self.outputs or self.exit_code is None:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if deadline is not None and timeout == 0:
                break
            for key, events in self.sel.select(timeout):
                self._dispatch(key, events)
            self._update_interest()
            if self.exit_code is not None and deadline is None:
                deadline = time.monotonic() + _DRAIN_SECONDS
        self.sel.unregister(pidfd)
        os.close(pidfd)

    def _dispatch(self, key: selectors.SelectorKey, events: int) -> None:
        kind = key.data
        if kind == "exit":
            self._reap()
        elif kind == "output":
            if events & selectors.EVENT_WRITE:  # a pty master is the stdin too
                self._flush_stdin()
            if events & selectors.EVENT_READ and key.fd in self.outputs:
                self._read_output(key.fd)
        elif kind == "accept":
            self._accept(self.attach_listener)
        elif kind == "control":
            self._control()
        elif kind == "stdin":
            self._flush_stdin()
        elif isinstance(kind, _Client):
            if events & selectors.EVENT_READ:
                self._client_input(kind)
            if events & selectors.EVENT_WRITE and kind.sock.fileno() in self.clients:
                self._client_flush(kind)

    def _update_interest(self) -> None:
        """Watch each descriptor for what it needs now, within the high-water marks."""
        paused = any(len(client.out) >= HIGH_WATER for client in self.clients.values())
        stdin_full = len(self.stdin_buf) >= HIGH_WATER
        for fd in self.outputs:
            events = 0 if paused else selectors.EVENT_READ
            if fd == self.stdin_fd and self.stdin_buf:
                events |= selectors.EVENT_WRITE
            set_interest(self.sel, fd, events, "output")
        if self.stdin_fd is not None and self.stdin_fd not in self.outputs:
            set_interest(
                self.sel, self.stdin_fd, selectors.EVENT_WRITE if self.stdin_buf else 0, "stdin"
            )
        for client in self.clients.values():
            events = selectors.EVENT_READ if client.reading and not stdin_full else 0
            if client.out:
                events |= selectors.EVENT_WRITE
            set_interest(self.sel, client.sock, events, client)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.init_pid:
                self.exit_code = exit_status(status)

    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's last slave closed
            data = b""
        if not data:
            self.sel.unregister(fd)
            del self.outputs[fd]
            if fd != self.master:
                os.close(fd)
            return
        stream = self.outputs[fd]
        if self.log is not None:
            self.log.write(stream, data)
        frame = data if self.cfg.tty else stdcopy.frame(_STREAMS[stream], data)
        for client in list(self.clients.values()):
            client.out += frame
            self._client_flush(client)

    def _accept_pending(self) -> None:
        """Take the attach clients the daemon connected before start, before any output."""
        self.attach_listener.setblocking(False)
        while self._accept(self.attach_listener):
            pass

    def _accept(self, listener: socket.socket) -> bool:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return False
        conn.setblocking(False)
        self.clients[conn.fileno()] = _Client(conn)
        return True

    def _client_input(self, client: _Client) -> None:
        try:
            data = client.sock.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            if self.stdin_fd is not None:
                self.stdin_buf += data
                self._flush_stdin()
            return
        client.reading = False
        if self.cfg.stdin_once and self.stdin_fd is not None and not self.cfg.tty:
            self._close_stdin_when_flushed()

    def _client_flush(self, client: _Client) -> None:
        if not client.out:
            return
        try:
            sent = client.sock.send(client.out)
            del client.out[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._drop_client(client)

    def _drop_client(self, client: _Client) -> None:
        fd = client.sock.fileno()
        if self.clients.pop(fd, None) is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(client.sock)
            client.sock.close()

    def _flush_stdin(self) -> None:
        fd = self.stdin_fd
        if fd is None:
            return
        try:
            while self.stdin_buf:
                n = os.write(fd, self.stdin_buf)
                del self.stdin_buf[:n]
        except BlockingIOError:
            pass
        except OSError:  # the container closed its stdin
            self.stdin_buf.clear()
        if not self.stdin_buf and self._stdin_closing:
            self._close_stdin()

    def _close_stdin_when_flushed(self) -> None:
        self._stdin_closing = True
        if not self.stdin_buf:
            self._close_stdin()

    def _close_stdin(self) -> None:
        fd = self.stdin_fd
        if fd is not None and fd != self.master:
            with contextlib.suppress(KeyError):
                self.sel.unregister(fd)
            os.close(fd)
        self.stdin_fd = None

    def _control(self) -> None:
        try:
            conn, _ = self.control_listener.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(1)
            request = json.loads(conn.makefile("rb").readline() or b"{}")
            if "resize" in request and self.master is not None:
                set_window_size(self.master, *request["resize"])
            conn.sendall(b"{}\n")

    # ---------------------------------------------------------------- the end
    def _finish(self) -> None:
        """Record the exit and undo the setup, whatever fails on the way (a full disk)."""
        try:
            if self.log is not None:
                self.log.close()
                self.log = None
            for client in list(self.clients.values()):
                self._flush_blocking(client)
                self._drop_client(client)
            write_json_atomic(
                self.cfg.bundle / "exit.json",
                {
                    "ExitCode": self.exit_code if self.exit_code is not None else 255,
                    "FinishedAt": rfc3339_nano(time.time_ns()),
                    "OOMKilled": self._oom_killed(),
                    "Error": "",
                },
            )
        finally:
            self._cleanup()

    def _oom_killed(self) -> bool:
        """Whether the kernel killed one of the container's processes for want of memory.

        Asked before _cleanup removes the cgroup, and the kernel's record with it.
        """
        path = (self.cfg.spec.get("linux") or {}).get("cgroupsPath")
        if not path:
            return False
        try:
            return open_cgroup(path).oom_kills() > 0
        except OSError:
            return False

    @staticmethod
    def _flush_blocking(client: _Client) -> None:
        client.sock.setblocking(True)
        client.sock.settimeout(2)
        with contextlib.suppress(OSError):
            client.sock.sendall(client.out)
            client.sock.shutdown(socket.SHUT_WR)

    def _cleanup(self) -> None:
        cfg = self.cfg
        if self.init_pid and self.exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.init_pid, 0)
        if cfg.runtime == "builtin":
            with contextlib.suppress(OSError, DockyardError):
                builtin.delete(cfg.bundle)
        else:
            subprocess.run([*self._binary_command(), "delete", "--force", cfg.id], check=False)
        if self.mounted:
            unmount(cfg.rootfs)
        if cfg.shm_size:
            unmount(cfg.shm_dir)
            with contextlib.suppress(OSError):
                cfg.shm_dir.rmdir()  # gone, so no container can join this IPC any more
        for name in ("attach.sock", "control.sock", "console.sock"):
            with contextlib.suppress(FileNotFoundError):
                (cfg.exec_dir / name).unlink()
        with contextlib.suppress(OSError):
            cfg.exec_dir.rmdir()

    # ---------------------------------------------------------------- helpers
    def _binary_command(self) -> list[str]:
        cfg = self.cfg
        cmd = [cfg.runtime, "--log", str(cfg.bundle / "runtime.log"), "--log-format", "json"]
        if cfg.runtime_root is not None:
            cmd += ["--root", str(cfg.runtime_root)]
        return cmd

    def _listen(self, path: Path) -> socket.socket:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.listen(64)
        return sock

    def _reply(self, message: dict) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.control_file.write(json.dumps(message).encode() + b"\n")

    def _read_request(self) -> dict:
        line = self.control_file.readline()
        return json.loads(line) if line else {}


def _last_runtime_error(log: Path) -> str:
    """The last error an OCI runtime wrote to its --log (JSON lines, runc's format)."""
    message = ""
    with contextlib.suppress(OSError):
        for line in log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") == "error":
                    message = entry.get("msg", "")
    return message


def _runtime_failure(stderr: str) -> DockyardError:
    """An OCI runtime's error, with Docker's exit code for a command that cannot run."""
    message = stderr.strip() or "the OCI runtime failed"
    if "executable file not found" in message or "no such file or directory" in message:
        return CommandError(message, 127)
    if "permission denied" in message:
        return CommandError(message, 126)
    return DockyardError(message)
