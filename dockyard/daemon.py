"""dockyardd: the daemon that serves the Engine API.

It runs in the foreground until SIGTERM or SIGINT, then stops serving, closes
the engine and removes its socket and pid file. It never stops containers:
they outlive the daemon, and the next one finds them again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from dockyard.config import DEFAULT_HOST, EXEC_ROOT_MODE, Paths, make_dir, socket_path
from dockyard.errors import DockyardError
from dockyard.runtime.zygote import Zygote

log = logging.getLogger("dockyardd")

PID_FILE = "dockyardd.pid"


class StartupError(Exception):
    """The daemon cannot start; the message says why, on one line."""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dockyardd", description="Serve the Docker Engine API for dockyard."
    )
    parser.add_argument("--data-root", help="persistent state (default /var/lib/dockyard)")
    parser.add_argument("--exec-root", help="runtime state (default /run/dockyard)")
    parser.add_argument(
        "-H", "--host", default=DEFAULT_HOST, help=f"socket to serve on (default {DEFAULT_HOST})"
    )
    parser.add_argument("-D", "--debug", action="store_true", help="debug logging")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _pid_file(exec_root: Path) -> Iterator[None]:
    """Hold ``<exec-root>/dockyardd.pid`` locked while the daemon runs.

    The lock (not the file's existence) says a daemon owns this exec root, so
    a pid file left by a crash never blocks a start, and two daemons started
    at once cannot both win.
    """
    path = exec_root / PID_FILE
    make_dir(exec_root, EXEC_ROOT_MODE)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StartupError(
                f"another dockyardd (pid {owner}) is using the exec root {exec_root}; stop it first"
            ) from None
        # A daemon that was exiting may have unlinked the file we locked: lock the new one.
        if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


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
            raise StartupError(f"cannot use {host}: {exc.strerror}") from None
    else:
        raise StartupError(f"a daemon is already serving on {host}; stop it first or use -H")
    finally:
        probe.close()
    log.info("removing stale socket %s", path)
    os.unlink(path)


async def _run(paths: Paths, sock: str, debug: bool, zygote: Zygote) -> None:
    # Imported only now, after the zygote was forked: it must not carry them.
    from dockyard.api.server import serve
    from dockyard.engine.engine import Engine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    engine = Engine(paths, spawn_shim=zygote.spawn, spawn_exec=zygote.spawn_exec)
    try:
        await engine.start()
        await serve(engine, sock, stop, access_log=debug)
    finally:
        engine.close()
    log.info("stopped; containers keep running")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # As dockerd: what the daemon, its shims and builds create is never group- or
    # world-writable, whatever umask started it; what must be private says so itself.
    os.umask(0o022)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    paths = Paths.from_env(args.data_root, args.exec_root)
    try:
        sock = socket_path(args.host)
    except ValueError as exc:
        print(f"dockyardd: {exc}", file=sys.stderr)
        return 1
    try:
        with _pid_file(paths.exec_root):
            _claim_socket(sock, args.host)
            zygote = Zygote()
            try:
                asyncio.run(_run(paths, sock, args.debug, zygote))
            finally:
                zygote.close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(sock)
    except (StartupError, DockyardError) as exc:
        print(f"dockyardd: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
