"""``ssh://[user@]host[:port][/socket]``: the daemon of another machine, through ssh.

As the docker CLI does (``docker system dial-stdio``), the CLI runs
``ssh ... dockyard system dial-stdio`` and speaks HTTP to its standard input
and output; on the far side ``dial-stdio`` copies them to and from the
daemon's socket. ssh's ends are one of a socket pair, so the connection is a
real socket: select(), half-close (ssh passes the end of its input on) and
everything else work unchanged. ssh runs in a session of its own, as the
docker CLI runs it, so that the terminal's ^C reaches only us.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import subprocess
import tempfile

from dockyard.errors import InvalidArgument, SystemError

REMOTE_PROGRAM = "dockyard"
CONNECT_TIMEOUT = 30
EXIT_TIMEOUT = 5.0


def ssh_command(host: str) -> list[str]:
    """The ssh command line for an ``ssh://`` address (docker's connhelper/ssh rules)."""
    rest = host.removeprefix("ssh://")
    for mark, what in (("?", "query parameters"), ("#", "fragments")):
        if mark in rest:
            raise InvalidArgument(
                f"ssh host connection is not valid: invalid SSH URL: {what} are not allowed"
            )
    authority, slash, path = rest.partition("/")
    user, at, address = authority.rpartition("@")
    if ":" in user:
        raise InvalidArgument(
            "ssh host connection is not valid: invalid SSH URL: plain-text password is not supported"
        )
    from dockyard.hosts import split_host_port

    name, port = split_host_port(address, "")
    if not name:
        raise InvalidArgument(
            "ssh host connection is not valid: invalid SSH URL: hostname is empty"
        )
    args = ["ssh", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}", "-T"]
    if at:
        args += ["-l", user]
    if port:
        args += ["-p", port]
    remote = [REMOTE_PROGRAM]
    if slash and path.strip("/"):
        remote.append(f"--host=unix:///{path}")
    remote += ["system", "dial-stdio"]
    return [*args, "--", name, shlex.join(remote)]


class CommandSocket(socket.socket):
    """Our end of a socket pair whose other end is a command's stdin and stdout."""

    def __init__(self, args: list[str]) -> None:
        ours, theirs = socket.socketpair()
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the socket
        try:
            with theirs:
                self._process = subprocess.Popen(
                    args,
                    stdin=theirs.fileno(),
                    stdout=theirs.fileno(),
                    stderr=self._errors,
                    start_new_session=True,
                )
        except OSError as exc:
            ours.close()
            self._errors.close()
            raise SystemError(f"{args[0]}: {exc.strerror}") from None
        super().__init__(fileno=ours.detach())
        self._args = args
        self._received = False

    def recv(self, size: int, flags: int = 0) -> bytes:
        try:
            data = super().recv(size, flags)
        except ConnectionResetError:  # the command died with our request unread
            self._failed()
            raise
        if not data and not self._received:
            self._failed()  # the command ended before it said a word: say why
        self._received = True
        return data

    def sendall(self, data: bytes, flags: int = 0) -> None:  # type: ignore[override]
        try:
            super().sendall(data, flags)
        except (BrokenPipeError, ConnectionResetError):
            self._failed()
            raise

    def _failed(self) -> None:
        try:
            status = self._process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            return
        if status == 0:
            return
        self._errors.seek(0)
        stderr = self._errors.read().decode("utf-8", "replace").strip()
        raise SystemError(
            f"error during connect: command [{' '.join(self._args)}] has exited with exit status "
            f"{status}, make sure the URL is valid, and dockyard is installed on the remote host: "
            f"stderr={stderr}"
        )

    def close(self) -> None:
        super().close()
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        self._process.wait()
        self._errors.close()
