"""Where a daemon is and how to reach it: a Unix socket, TCP (with TLS or not), or ssh.

``dial`` returns a connected socket-like object (``recv``, ``sendall``,
``shutdown``, ``fileno``, ``close``); for TLS it also has ``pending``. What
only TLS or ssh needs (``ssl``, ``subprocess``) is imported when such a host
is dialled, so a command on the local socket does not pay for it.
"""

from __future__ import annotations

import socket

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from dockyard.tlsconfig import TLSFiles


class Endpoint:
    __slots__ = ("host", "tls")

    def __init__(self, host: str, tls: TLSFiles | None = None) -> None:
        self.host = host  # in its full form (dockyard.hosts.parse_host)
        self.tls = tls

    def __repr__(self) -> str:
        return f"Endpoint({self.host!r}, {self.tls!r})"

    @property
    def local(self) -> bool:
        """Whether the daemon shares this machine's files (it can read a build context in place)."""
        return self.host.startswith("unix://")

    def dial(self, timeout: float | None = None) -> Any:
        """A connected stream to the daemon; OSError (ConnectionRefusedError...) when there is none."""
        if self.host.startswith("unix://"):
            from dockyard.hosts import socket_path

            return connect_unix(socket_path(self.host), timeout)
        if self.host.startswith("tcp://"):
            return self._dial_tcp(timeout)
        from dockyard.client.ssh import CommandSocket, ssh_command

        return CommandSocket(ssh_command(self.host))

    def _dial_tcp(self, timeout: float | None) -> Any:
        from dockyard.hosts import tcp_endpoint

        name, port = tcp_endpoint(self.host)
        sock = socket.create_connection((name, port), timeout)
        if self.tls is None:
            return sock
        from dockyard.client.tls import TLSSocket
        from dockyard.tlsconfig import client_context

        try:
            return TLSSocket(sock, client_context(self.tls), name)
        except BaseException:
            sock.close()
            raise


def connect_unix(path: str, timeout: float | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock
