"""``dockyard system dial-stdio``: this machine's daemon on standard input and output.

What a client on another machine runs through ssh (``dockyard -H ssh://...``,
or the docker CLI with a one-line ``docker`` shim, see docs/remote.md): the
bytes of stdin go to the daemon's socket and its answers to stdout. The end
of stdin is passed on as a half-close, as docker's ``dial-stdio`` does, and
the command ends when the daemon closes its side.
"""

from __future__ import annotations

import argparse
import os
import select

from dockyard.cli.parser import add_positionals, command
from dockyard.client import Client

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

READ_SIZE = 65536


def register(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "dial-stdio",
        run_dial_stdio,
        usage="%(prog)s",
        description="Proxy the stdio stream to the daemon connection. Should not be invoked manually.",
        max_args=0,
    )
    add_positionals(parser)


def run_dial_stdio(client: Client, ns: argparse.Namespace) -> int:
    conn = client.dial()
    try:
        copy_both_ways(conn, stdin=0, stdout=1)
    finally:
        conn.close()
    return 0


def copy_both_ways(conn: Any, stdin: int, stdout: int) -> None:
    """Until the daemon's side ends: stdin to ``conn`` (then a half-close), ``conn`` to stdout."""
    import socket

    from dockyard.client.streams import write_all

    conn_fd = conn.fileno()
    reading_stdin = True
    while True:
        readers = [conn_fd, stdin] if reading_stdin else [conn_fd]
        buffered = getattr(conn, "pending", None)
        ready, _, _ = select.select(readers, [], [], 0 if buffered and buffered() else None)
        if reading_stdin and stdin in ready:
            data = os.read(stdin, READ_SIZE)
            if data:
                conn.sendall(data)
            else:
                reading_stdin = False
                conn.shutdown(socket.SHUT_WR)
        if conn_fd in ready or (buffered and buffered()):
            data = conn.recv(READ_SIZE)
            if not data:
                return
            write_all(stdout, data)
