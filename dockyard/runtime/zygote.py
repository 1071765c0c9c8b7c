"""A small warm process that forks the shims.

Forking a shim straight from the daemon copies the daemon's whole address space
(aiohttp, the engine: ~45 MB), and every page the shim and the container's init
then touch is copied again on write: that cost ~40 ms per start and ~6 MB per
shim. The daemon forks this zygote first, before it imports anything heavy; the
zygote holds only the runtime, and forks each shim on request. The shim is as
detached as before (a double fork), so containers still outlive the daemon.

Nearly every container runs Docker's default seccomp profile with Docker's
default capabilities: the zygote builds that filter once, at its start, and
every shim inherits it ready to load (runtime.seccomp keeps what it built).

It forks the exec shims too ({"exec": ExecShimConfig}): the daemon, with its
threads, never forks a process of its own.

Protocol over a socketpair: the daemon sends a ShimConfig (or {"exec": ...}) as
one JSON line; the zygote answers {"pid": N} with the daemon's end of the shim's
handshake socket attached (SCM_RIGHTS), or {"error": "..."}.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
from dataclasses import asdict, fields
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.runtime import capabilities, execshim, linux, seccomp, seccomp_profile, shim
from dockyard.runtime.seccomp_default import default_profile

_PATH_FIELDS = {"bundle", "exec_dir", "upper", "work", "log_path", "runtime_root"}


def encode(cfg: shim.ShimConfig) -> bytes:
    data = asdict(cfg)
    for name in _PATH_FIELDS:
        if data[name] is not None:
            data[name] = str(data[name])
    data["lowerdirs"] = [str(p) for p in cfg.lowerdirs]
    return json.dumps(data).encode() + b"\n"


def encode_exec(cfg: execshim.ExecShimConfig) -> bytes:
    return json.dumps({"exec": cfg.encode()}).encode() + b"\n"


def decode(line: bytes) -> shim.ShimConfig | execshim.ExecShimConfig:
    data = json.loads(line)
    if "exec" in data:
        return execshim.ExecShimConfig.decode(data["exec"])
    for name in _PATH_FIELDS:
        if data.get(name) is not None:
            data[name] = Path(data[name])
    data["lowerdirs"] = [Path(p) for p in data["lowerdirs"]]
    known = {f.name for f in fields(shim.ShimConfig)}
    return shim.ShimConfig(**{k: v for k, v in data.items() if k in known})


class Zygote:
    """The daemon's handle on its zygote; ``spawn`` has the signature of ``shim.spawn``."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the zygote itself
            ours.close()
            _serve(theirs)
        theirs.close()
        self._sock = ours
        self._lock = threading.Lock()  # builds start containers from worker threads

    def spawn(self, cfg: shim.ShimConfig) -> tuple[int, socket.socket]:
        return self._request(encode(cfg))

    def spawn_exec(self, cfg: execshim.ExecShimConfig) -> tuple[int, socket.socket]:
        """``execshim.spawn``, forked by the zygote."""
        return self._request(encode_exec(cfg))

    def _request(self, line: bytes) -> tuple[int, socket.socket]:
        with self._lock:
            self._sock.sendall(line)
            msg, fds, _, _ = socket.recv_fds(self._sock, 4096, 1)
        reply = json.loads(msg or b'{"error": "the zygote is gone"}')
        if "error" in reply:
            for fd in fds:
                os.close(fd)
            raise DockyardError(f"could not start the container's supervisor: {reply['error']}")
        return int(reply["pid"]), socket.socket(fileno=fds[0])

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _build_default_seccomp() -> None:
    oci = seccomp_profile.to_oci(default_profile(), list(capabilities.DOCKER_DEFAULT))
    if oci is not None:
        seccomp.program(oci)


def _serve(sock: socket.socket) -> None:
    """The zygote's loop: one shim per request, until the daemon closes the socket."""
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the daemon
    code = 0
    try:
        _build_default_seccomp()
        requests = sock.makefile("rb")
        for line in requests:
            try:
                cfg = decode(line)
                if isinstance(cfg, execshim.ExecShimConfig):
                    pid, handshake = execshim.spawn(cfg)
                else:
                    pid, handshake = shim.spawn(cfg)
            except Exception as e:  # noqa: BLE001 - reported to the daemon, the zygote goes on
                sock.sendall(json.dumps({"error": str(e)}).encode())
                continue
            socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [handshake.fileno()])
            handshake.close()
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        os._exit(code)
