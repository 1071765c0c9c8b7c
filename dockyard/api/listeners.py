"""The daemon's listening sockets, opened before it serves so that a bad ``-H`` stops it at once.

A Unix socket left by a daemon that died is replaced; one a live daemon
answers on is refused. The socket is ``0660``: root and its group.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket

from dockyard.errors import Conflict, InvalidArgument, SystemError
from dockyard.hosts import socket_path, tcp_endpoint

log = logging.getLogger(__name__)

SOCKET_MODE = 0o660
BACKLOG = 1024


class Listener:
    """A bound, listening socket and the ``-H`` address it serves."""

    def __init__(self, host: str, sock: socket.socket) -> None:
        self.host = host
        self.sock = sock

    @property
    def path(self) -> str | None:
        """The socket file of a ``unix://`` listener, to remove at exit."""
        return socket_path(self.host) if self.host.startswith("unix://") else None

    def close(self) -> None:
        self.sock.close()
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)


def open_listener(host: str) -> Listener:
    """Bind and listen on a parsed ``unix://`` or ``tcp://`` address."""
    if host.startswith("unix://"):
        return Listener(host, _unix(socket_path(host), host))
    if host.startswith("tcp://"):
        return Listener(host, _tcp(host))
    raise InvalidArgument(f"invalid bind address format: {host}")  # ssh:// is for clients


def _unix(path: str, host: str) -> socket.socket:
    _claim_socket(path, host)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, SOCKET_MODE)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise SystemError(f"can't create unix socket {path}: {exc.strerror}") from None
    return sock


def _claim_socket(path: str, host: str) -> None:
    """Remove a stale socket file; refuse when a daemon answers on it."""
    if not os.path.lexists(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            raise SystemError(f"cannot use {host}: {exc.strerror}") from None
    else:
        raise Conflict(f"a daemon is already serving on {host}; stop it first or use -H")
    finally:
        probe.close()
    log.info("removing stale socket %s", path)
    os.unlink(path)


def _tcp(host: str) -> socket.socket:
    name, port = tcp_endpoint(host)
    try:
        infos = socket.getaddrinfo(
            name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
        )
    except socket.gaierror as exc:
        raise SystemError(f"listen tcp {name}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise SystemError(
            f"listen tcp {name}:{port}: bind: {(exc.strerror or str(exc)).lower()}"
        ) from None
    return sock
