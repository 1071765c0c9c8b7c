"""The supervisor of one `docker exec` process (the exec's shim).

The daemon never forks: the zygote forks this shim (detached, as a container's
shim), and the shim forks the exec'd process into the container. The shim owns
the process's stdio, so a detached exec outlives the daemon, and it records
the exit code on disk.

Files (``dir`` = <exec-root>/<container-id>/execs/<exec-id>, found by startup recovery):
  dir/exec.json      {"shim_pid", "pid"} once the process runs
  dir/exit.json      {"ExitCode"} when it ended
  dir/control.sock   one JSON line per request: {"resize": [h, w]}

Over the handshake socket: the shim sends one line, {"pid": N} or
{"error": msg, "code": n}; then, unless detached, the socket carries the
process's output (stdcopy frames, or raw bytes for a start request with Tty) and its stdin, until
the shim closes it once the output ended and the process exited.

Bounded buffers: at most HIGH_WATER bytes of output wait for the client; above
that the shim stops reading the process's output, so a slow client pauses the
process instead of growing the shim (stdin likewise).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from dockyard import stdcopy
from dockyard.errors import CommandError, DockyardError
from dockyard.runtime import container as builtin
from dockyard.runtime import shim
from dockyard.runtime.linux import set_window_size
from dockyard.runtime.shim import HIGH_WATER, exit_status, set_interest, write_json_atomic
from dockyard.runtime.terminal import open_pty_in

CONTROL_SOCKET = "control.sock"
_CHUNK = 32 * 1024


@dataclass
class ExecShimConfig:
    exec_id: str
    container_id: str
    dir: Path
    init_pid: int
    process: dict  # the OCI process, terminal included
    cgroups_path: str
    seccomp: dict | None
    stdin: bool
    detach: bool
    framed: bool  # output in stdcopy frames (the start request's Tty, not the exec's)
    bundle: str = ""  # a build's RUN step: create this bundle's container instead of joining one

    @classmethod
    def build_step(cls, bundle: Path, container_id: str) -> ExecShimConfig:
        return cls(
            exec_id=container_id,
            container_id=container_id,
            dir=bundle / "shim",
            init_pid=0,
            process={},
            cgroups_path="",
            seccomp=None,
            stdin=False,
            detach=False,
            framed=False,
            bundle=str(bundle),
        )

    def encode(self) -> dict:
        return {**asdict(self), "dir": str(self.dir)}

    @classmethod
    def decode(cls, data: dict) -> ExecShimConfig:
        return cls(**{**data, "dir": Path(data["dir"])})

    @property
    def terminal(self) -> bool:
        return bool(self.process.get("terminal"))


def exec_dir(exec_root: Path, container_id: str, exec_id: str) -> Path:
    return exec_root / container_id / "execs" / exec_id


def spawn(cfg: ExecShimConfig) -> tuple[int, socket.socket]:
    """Fork a detached exec shim; return its pid and our end of its handshake socket."""
    return shim.fork_detached(
        cfg.dir, "dockyard-exec", lambda sock: ExecShim(cfg, sock).run(), "the exec's supervisor"
    )


def request(directory: Path, message: dict) -> dict:
    """Ask a running exec shim something over its control.sock, reached through an open
    directory: its full path is longer than a socket address allows."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return shim.request(Path(f"/proc/self/fd/{fd}/{CONTROL_SOCKET}"), message)
    finally:
        os.close(fd)


def read_reply(sock: socket.socket) -> tuple[dict, int | None]:
    """The shim's first line, read byte by byte: what follows it is the exec's stream.

    The line that says the process started carries the shim's pidfd: the daemon's hold
    on the shim, which may end, and be reaped, before a lookup by pid could find it.
    """
    line = bytearray()
    pidfd = None
    while not line.endswith(b"\n"):
        byte, fds, _, _ = socket.recv_fds(sock, 1, 1)
        if fds:
            pidfd = fds[0]
        if not byte:
            break
        line += byte
    reply = json.loads(line or b'{"error": "the exec\'s supervisor is gone"}')
    return reply, pidfd


def run_build_step(
    spawn: Callable[[ExecShimConfig], tuple[int, socket.socket]],
    bundle: Path,
    container_id: str,
    output: Callable[[bytes], None],
    plug: Callable[[int], Callable[[], None]] | None,
) -> int:
    """Run a build step's bundle under a shim ``spawn`` forks, its output going to
    ``output``; ``plug`` puts its namespace on a network before it runs. Blocking."""
    _, sock = spawn(ExecShimConfig.build_step(bundle, container_id))
    with sock:
        created, _ = read_reply(sock)
        if "error" in created:
            raise DockyardError(created["error"])
        unplug = plug(created["created"]) if plug else None  # on failure, our close cancels
        try:
            sock.sendall(b'{"start": true}\n')
            started, pidfd = read_reply(sock)
            if pidfd is not None:
                os.close(pidfd)  # the build waits on its stream and exit.json
            if "error" in started:
                if started.get("code") is None:
                    raise DockyardError(started["error"])
                output(f"{started['error']}\n".encode())
                return int(started["code"])
            try:
                while chunk := sock.recv(_CHUNK):
                    output(chunk)
            except BaseException:
                os.kill(started["pid"], signal.SIGKILL)
                raise
        finally:
            if unplug is not None:
                unplug()
    return int(json.loads((bundle / "shim" / "exit.json").read_text())["ExitCode"])


class ExecShim:
    def __init__(self, cfg: ExecShimConfig, sock: socket.socket) -> None:
        self.cfg = cfg
        self.sock: socket.socket | None = sock
        self.sel = selectors.DefaultSelector()
        self.outputs: dict[int, int] = {}  # our read end → stdcopy stream
        self.stdin_fd: int | None = None
        self.master: int | None = None
        self.out_buf = bytearray()
        self.in_buf = bytearray()
        self.stdin_eof = False
        self.paused = False
        self.status: int | None = None

    def run(self) -> None:
        child_fds = self._open_stdio()
        try:
            pid = self._launch(builtin.Stdio(*child_fds))
        except (DockyardError, SystemError) as e:
            code = e.exit_code if isinstance(e, CommandError) else None
            self._send({"error": str(e), "code": code})
            return
        finally:
            for fd in set(child_fds):
                os.close(fd)
        write_json_atomic(self.cfg.dir / "exec.json", {"shim_pid": os.getpid(), "pid": pid})
        control = self._listen()
        own = os.pidfd_open(os.getpid())
        self._send({"pid": pid}, own)
        os.close(own)
        if self.cfg.detach:
            self._close_client()
        self._serve(pid, control)
        write_json_atomic(self.cfg.dir / "exit.json", {"ExitCode": self.status})
        self._flush_blocking()

    def _launch(self, stdio: builtin.Stdio) -> int:
        if not self.cfg.bundle:
            return builtin.exec_process(
                self.cfg.init_pid,
                self.cfg.process,
                stdio,
                self.cfg.cgroups_path,
                container_id=self.cfg.container_id,
                seccomp=self.cfg.seccomp,
            )
        # A build step: the daemon puts the created container on its network, then says start.
        init = builtin.create(
            self.cfg.bundle, stdio, terminal=False, container_id=self.cfg.container_id
        )
        self._send({"created": init.pid})
        assert self.sock is not None
        if read_reply(self.sock)[0].get("start"):
            init.start()
            return init.pid
        init.close()  # the init, never started, exits
        os.waitpid(init.pid, 0)
        raise DockyardError("the build step was cancelled")

    def _open_stdio(self) -> tuple[int, int, int]:
        """The process's ends; ours go into outputs / stdin_fd."""
        if self.cfg.bundle:  # a build step: stdout and stderr in one pipe, in their order
            out_r, out_w = os.pipe()
            self.outputs[out_r] = stdcopy.STDOUT
            return os.open(os.devnull, os.O_RDONLY), out_w, out_w
        if self.cfg.detach:
            devnull = os.open(os.devnull, os.O_RDWR)
            return devnull, devnull, devnull
        if self.cfg.terminal:
            master, slave = open_pty_in(f"/proc/{self.cfg.init_pid}/root/dev/pts/ptmx")
            self.master = master
            self.outputs[master] = stdcopy.STDOUT
            self.stdin_fd = master if self.cfg.stdin else None
            return slave, slave, slave
        if self.cfg.stdin:
            stdin_r, self.stdin_fd = os.pipe()
        else:
            stdin_r = os.open(os.devnull, os.O_RDONLY)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.outputs = {out_r: stdcopy.STDOUT, err_r: stdcopy.STDERR}
        return stdin_r, out_w, err_w

    def _send(self, message: dict, fd: int | None = None) -> None:
        if self.sock is None:
            return
        line = json.dumps(message).encode() + b"\n"
        sent = 0 if fd is None else socket.send_fds(self.sock, [line], [fd])
        if sent < len(line):  # an empty sendall still sends, and the daemon may have gone
            self.sock.sendall(line[sent:])

    def _listen(self) -> socket.socket:
        # Bound by a relative name: the full path is longer than a socket address allows.
        os.chdir(self.cfg.dir)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(CONTROL_SOCKET)
        listener.listen()
        return listener

    def _serve(self, pid: int, control: socket.socket) -> None:
        pidfd = os.pidfd_open(pid)
        self.sel.register(pidfd, selectors.EVENT_READ, "exit")
        self.sel.register(control, selectors.EVENT_READ, "control")
        for fd in self.outputs:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, "output")
        if self.stdin_fd is not None:
            os.set_blocking(self.stdin_fd, False)
        if self.sock is not None:
            self.sock.setblocking(False)
            self.sel.register(self.sock, selectors.EVENT_READ, "client")
        while self.status is None or self.outputs:
            for key, events in self.sel.select():
                self._dispatch(key, events, pid, pidfd, control)
        os.close(pidfd)
        control.close()

    def _dispatch(
        self, key: selectors.SelectorKey, events: int, pid: int, pidfd: int, control: socket.socket
    ) -> None:
        if key.data == "exit":
            self.sel.unregister(pidfd)
            self.status = exit_status(os.waitpid(pid, 0)[1])
        elif key.data == "control":
            self._control(control)
        elif key.data == "output":
            self._read_output(key.fd)  # type: ignore[arg-type]
        elif key.data == "client":
            if events & selectors.EVENT_READ:
                self._client_input()
            if events & selectors.EVENT_WRITE:
                self._client_flush()
        elif key.data == "stdin":
            self._flush_stdin()
        self._update_interest()

    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's last slave is closed
            data = b""
        if not data:
            self.sel.unregister(fd)
            del self.outputs[fd]
            if fd != self.stdin_fd:
                os.close(fd)
            return
        if self.sock is not None:  # with no client left, output is dropped, as in Docker
            self.out_buf += stdcopy.frame(self.outputs[fd], data) if self.cfg.framed else data

    def _client_input(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.stdin_eof = True
        elif self.stdin_fd is not None:
            self.in_buf += data
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        if self.stdin_fd is None:
            self.in_buf.clear()
            return
        while self.in_buf:
            try:
                del self.in_buf[: os.write(self.stdin_fd, self.in_buf)]
            except BlockingIOError:
                break
            except OSError:  # the process closed its stdin
                self.in_buf.clear()
        if self.stdin_eof and not self.in_buf and self.stdin_fd not in self.outputs:
            # A pty master is stdin and output at once: only a pipe is closed.
            os.close(self.stdin_fd)
            self.stdin_fd = None

    def _client_flush(self) -> None:
        assert self.sock is not None
        try:
            del self.out_buf[: self.sock.send(self.out_buf)]
        except BlockingIOError:
            return
        except OSError:  # the client went away: the process goes on
            self._drop_client()

    def _drop_client(self) -> None:
        if self.sock is not None:
            self.sel.unregister(self.sock)
            self._close_client()
        self.out_buf.clear()

    def _update_interest(self) -> None:
        """Pause reading output above the high-water mark, stdin likewise."""
        paused = len(self.out_buf) >= HIGH_WATER
        if paused != self.paused:
            for fd in self.outputs:
                if paused:
                    self.sel.unregister(fd)
                else:
                    self.sel.register(fd, selectors.EVENT_READ, "output")
            self.paused = paused
        if self.sock is not None:
            events = 0
            if not self.stdin_eof and len(self.in_buf) < HIGH_WATER:
                events |= selectors.EVENT_READ
            if self.out_buf:
                events |= selectors.EVENT_WRITE
            set_interest(self.sel, self.sock, events, "client")
        if self.stdin_fd is not None and self.stdin_fd not in self.outputs:
            set_interest(
                self.sel, self.stdin_fd, selectors.EVENT_WRITE if self.in_buf else 0, "stdin"
            )

    def _control(self, control: socket.socket) -> None:
        conn, _ = control.accept()
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError, ValueError):
                message = json.loads(conn.makefile("rb").readline() or b"{}")
                if "resize" in message and self.master is not None:
                    set_window_size(self.master, *message["resize"])
                conn.sendall(b"{}\n")

    def _flush_blocking(self) -> None:
        if self.sock is None:
            return
        self.sock.setblocking(True)
        with contextlib.suppress(OSError):
            self.sock.sendall(self.out_buf)
        self._close_client()

    def _close_client(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
