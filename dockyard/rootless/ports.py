"""Published ports of a rootless engine: sockets of the host, bound by the host side.

rootlesskit's "builtin" port driver, whichever network driver there is: the
daemon asks the host side (the process left in the host's namespaces,
rootless/namespace.py) over a socket in the exec root to bind the host
address and port a container publishes; the host side binds it as the user
and hands the bound socket back (SCM_RIGHTS). The socket keeps the host's
network namespace it was made in, so the daemon listens and accepts on it from
its own namespace and relays each connection to the container
(network/proxy.py), as docker-proxy does; the container sees connections come
from its network's gateway. Any address of the host works (``0.0.0.0``,
loopback, one interface's), and a port is published or given back at any time:
the host side keeps nothing, the daemon closes what it no longer publishes.

The request is one JSON object per connection; the answer {} with the socket,
or {"errno": N}.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import logging
import os
import socket
import threading
from pathlib import Path

from dockyard import rootless
from dockyard.errors import Conflict
from dockyard.network.ports import bind_here

log = logging.getLogger(__name__)

PRIVILEGED_PORTS = 1024  # the kernel's default net.ipv4.ip_unprivileged_port_start
_TIMEOUT = 10.0  # seconds a request may take: the host side binds at once
_MAX_REQUEST = 4096  # bytes: a request is one small JSON object


def _privileged_port_refusal(port: int) -> str:
    """Why the user may not publish ``port``, as rootlesskit says it."""
    return (
        f"cannot expose privileged port {port}, you can add "
        f"'net.ipv4.ip_unprivileged_port_start={port}' to /etc/sysctl.conf, "
        f"or choose a larger port number (>= {PRIVILEGED_PORTS})"
    )


# ---------------------------------------------------------------------- in the namespace
def bind(proto: str, host_ip: str, port: int) -> socket.socket:
    """A socket of the host bound to ``host_ip:port`` (OSError with the host's errno)."""
    if proto not in ("tcp", "udp"):
        raise Conflict(f"{proto} ports cannot be published in rootless mode")
    path = os.environ[rootless.PORTS_ENV]
    request = json.dumps({"proto": proto, "host_ip": host_ip, "port": port}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(_TIMEOUT)
        conn.connect(path)
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        answer, fds, _flags, _address = socket.recv_fds(conn, _MAX_REQUEST, 1)
    if fds:
        return socket.socket(fileno=fds[0])
    code = int(json.loads(answer or b"{}").get("errno") or errno.EIO)
    if code == errno.EACCES and port < PRIVILEGED_PORTS:
        raise OSError(code, _privileged_port_refusal(port))
    raise OSError(code, os.strerror(code))


# ---------------------------------------------------------------------- on the host side
class PortServer:
    """The host side's end: binds what the daemon asks for, on a thread of its own."""

    def __init__(self, exec_root: Path) -> None:
        self.path = exec_root / rootless.PORTS_SOCKET
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen(16)
        threading.Thread(target=self._serve, name="ports", daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            with conn:
                try:
                    self._answer(conn)
                except (OSError, ValueError, KeyError, TypeError) as exc:  # serve on
                    log.warning("port request: %r", exc)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(_TIMEOUT)
        request = b""
        while chunk := conn.recv(_MAX_REQUEST):
            request += chunk
            if len(request) > _MAX_REQUEST:
                raise ValueError(f"a request of more than {_MAX_REQUEST} bytes")
        asked = json.loads(request)
        proto, host_ip, port = str(asked["proto"]), str(asked["host_ip"]), int(asked["port"])
        try:
            if proto not in ("tcp", "udp") or not 0 <= port <= 65535:
                raise OSError(errno.EINVAL, "not a port to publish")
            sock = bind_here(proto, str(ipaddress.ip_address(host_ip)), port)
        except OSError as exc:
            conn.sendall(json.dumps({"errno": exc.errno or errno.EIO}).encode())
            return
        with sock:
            socket.send_fds(conn, [b"{}"], [sock.fileno()])
