"""dockyardd: the daemon that serves the Engine API.

It runs in the foreground until SIGTERM or SIGINT, then stops serving, closes
the engine and removes its socket and pid file. It never stops containers:
they outlive the daemon, and the next one finds them again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from dockyard import daemonconfig, daemonflags, rootless, tlsconfig
from dockyard.config import EXEC_ROOT_MODE, Paths, local_host, make_dir
from dockyard.errors import DockyardError
from dockyard.hosts import parse_host
from dockyard.runtime import storagedriver
from dockyard.runtime.zygote import Zygote

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    from dockyard.api.listeners import Listener
    from dockyard.engine.engine import Engine

log = logging.getLogger("dockyardd")

PID_FILE = "dockyardd.pid"


class StartupError(Exception):
    """The daemon cannot start; the message says why, on one line."""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dockyardd", description="Serve the Docker Engine API for dockyard."
    )
    parser.add_argument(
        "--config-file",
        help=f"daemon configuration file (default {daemonconfig.DEFAULT_CONFIG_FILE})",
    )
    parser.add_argument("--data-root", help="persistent state (default /var/lib/dockyard)")
    parser.add_argument("--exec-root", help="runtime state (default /run/dockyard)")
    parser.add_argument(
        "-H",
        "--host",
        action="append",
        default=[],
        help=f"daemon socket(s) to serve on: unix://PATH or tcp://ADDR:PORT (default {local_host()})",
    )
    parser.add_argument(
        "-s", "--storage-driver", help="storage driver to use: overlay2 or fuse-overlayfs"
    )
    parser.add_argument("-D", "--debug", action="store_true", default=None, help="debug logging")
    parser.add_argument(
        "--tls", nargs="?", const=True, type=_bool, help="use TLS; implied by --tlsverify"
    )
    parser.add_argument(
        "--tlsverify",
        nargs="?",
        const=True,
        type=_bool,
        help="use TLS and verify the remote (DOCKYARD_TLS_VERIFY)",
    )
    directory = tlsconfig.default_cert_dir()
    for flag, name, what in (
        ("--tlscacert", tlsconfig.CA_FILE, "trust certs signed only by this CA"),
        ("--tlscert", tlsconfig.CERT_FILE, "path to TLS certificate file"),
        ("--tlskey", tlsconfig.KEY_FILE, "path to TLS key file"),
    ):
        parser.add_argument(flag, help=f"{what} (default {os.path.join(directory, name)})")
    daemonflags.add_to(parser)
    return parser.parse_args(argv)


# The flags that have a key in the configuration file: argparse's name → the file's.
_FLAG_KEYS = {
    "data_root": "data-root",
    "exec_root": "exec-root",
    "host": "hosts",
    "debug": "debug",
    "storage_driver": "storage-driver",
    "tls": "tls",
    "tlsverify": "tlsverify",
    "tlscacert": "tlscacert",
    "tlscert": "tlscert",
    "tlskey": "tlskey",
}


def _flags(args: argparse.Namespace) -> dict[str, object]:
    """The file's keys given as flags (None: not given)."""
    try:
        given = daemonflags.given(args)
    except daemonflags.FlagError as e:
        raise StartupError(str(e)) from None
    return {**{key: getattr(args, name) for name, key in _FLAG_KEYS.items()}, **given}


def _options(args: argparse.Namespace, flags: dict[str, object]) -> dict[str, object]:
    """The configuration file's directives merged with the flags, all checked."""
    path = args.config_file or daemonconfig.DEFAULT_CONFIG_FILE
    try:
        directives = daemonconfig.read_file(path, required=args.config_file is not None)
        options = daemonconfig.merge(directives, flags)
    except daemonconfig.ConfigError as e:
        raise StartupError(f"unable to configure the Docker daemon with file {path}: {e}") from None
    try:
        # Each flag was checked alone; what holds only together (log-opts and
        # the file's log-driver) is checked here.
        daemonconfig.check_values(options)
    except daemonconfig.ConfigError as e:
        raise StartupError(
            f"unable to configure the Docker daemon with file {path}: merged configuration "
            f"validation from file and command line flags failed: {e}"
        ) from None
    return options


def _configure(args: argparse.Namespace, flags: dict[str, object]) -> dict[str, object]:
    """The flags merged with the configuration file; ``args`` then holds the merged values."""
    options = _options(args, flags)
    for name, key in _FLAG_KEYS.items():
        setattr(args, name, options.get(key))
    return options


def _reload(engine: Engine, args: argparse.Namespace, flags: dict[str, object]) -> None:
    """SIGHUP: read the file again and apply what dockerd reloads; a bad file changes nothing."""
    try:
        options = _options(args, flags)
    except StartupError as e:
        log.error("Error reconfiguring the daemon: %s", e)
        return
    settings = daemonconfig.engine_settings(options)
    engine.reload(settings)
    logging.getLogger().setLevel(logging.DEBUG if settings.debug else logging.INFO)
    reloaded = {key: options[key] for key in daemonconfig.RELOADABLE if key in options}
    log.info("Reloaded configuration: %s", json.dumps(reloaded))


def _bool(value: str) -> bool:
    """Go's strconv.ParseBool, which reads ``--tls=false``."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def _tls_files(args: argparse.Namespace) -> tlsconfig.TLSFiles | None:
    return tlsconfig.resolve(
        args.tls,
        args.tlsverify,
        args.tlscacert,
        args.tlscert,
        args.tlskey,
        tls_env=False,
        verify_when_tls=True,
    )


def _check_tcp_auth(hosts: list[str], tls: tlsconfig.TLSFiles | None, explicit: bool) -> None:
    """TCP without client certificates: a loud warning, and only when asked for by name.

    dockerd warns and slows its start down, announcing that this will become a
    hard failure; here it is one unless ``--tls=false`` or ``--tlsverify=false``
    says that this is meant.
    """
    for host in hosts:
        if not host.startswith("tcp://") or (tls is not None and tls.verify):
            continue
        if not explicit:
            raise StartupError(
                f"refusing to listen on {host} without --tlsverify: anyone who can reach it "
                "gets root on this machine. Use --tlsverify with --tlscacert, --tlscert and "
                "--tlskey, or pass --tls=false (or --tlsverify=false) to do it anyway"
            )
        log.warning(
            "Binding to IP address without --tlsverify is insecure and gives root access on "
            "this machine to everyone who has access to your network. host=%s",
            host,
        )
        log.warning(
            "Binding to an IP address, even on localhost, can also give access to scripts run "
            "in a browser. Be safe out there! host=%s",
            host,
        )


@contextlib.contextmanager
def _pid_file(exec_root: Path, pid: int) -> Iterator[None]:
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
        os.write(fd, f"{pid}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


async def _run(
    paths: Paths,
    listeners: list[Listener],
    tls: ssl.SSLContext | None,
    debug: bool,
    zygote: Zygote,
    settings: daemonconfig.EngineSettings,
    reload: Callable[[Engine], None],
) -> None:
    # Imported only now, after the zygote was forked: it must not carry them.
    from dockyard.api.server import serve
    from dockyard.engine.engine import Engine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    engine = Engine(paths, spawn_shim=zygote.spawn, spawn_exec=zygote.spawn_exec, settings=settings)
    # Reading the file is the only blocking part, in a thread: the loop goes on serving.
    loop.add_signal_handler(
        signal.SIGHUP, lambda: loop.create_task(asyncio.to_thread(reload, engine))
    )
    try:
        await engine.start()
        await serve(engine, listeners, tls, stop, access_log=debug)
        if rootless.active():  # its containers end with its namespaces: stopped first
            await engine.containers.stop_all()
    finally:
        engine.close()
    log.info(
        "stopped; %s", "containers stopped" if rootless.active() else "containers keep running"
    )


def _with_storage_driver(
    settings: daemonconfig.EngineSettings, requested: str | None, paths: Paths
) -> daemonconfig.EngineSettings:
    """The settings with the storage driver chosen here (in the user's namespaces when
    rootless: native overlay mounts there are what the probe must try)."""
    paths.prepare()
    try:
        driver = storagedriver.choose(requested, paths.tmp)
    except storagedriver.DriverError as e:
        raise StartupError(e.message) from None
    log.info("storage driver: %s", driver)
    return dataclasses.replace(settings, storage_driver=driver)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        flags = _flags(args)
        options = _configure(args, flags)
    except StartupError as exc:
        print(f"dockyardd: {exc}", file=sys.stderr)
        return 1
    # As dockerd: what the daemon, its shims and builds create is never group- or
    # world-writable, whatever umask started it; what must be private says so itself.
    os.umask(0o022)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    paths = Paths.from_env(args.data_root, args.exec_root)
    settings = daemonconfig.engine_settings(options)
    try:
        tls = _tls_files(args)
        hosts = [parse_host(host, local_host(), tls is not None) for host in args.host or [""]]
        _check_tcp_auth(hosts, tls, explicit=args.tls is not None or args.tlsverify is not None)
        if os.geteuid() != 0:
            from dockyard.rootless import namespace

            namespace.enter(paths.exec_root)  # runs dockyardd again, as root in its namespaces
        with _pid_file(paths.exec_root, rootless.host_pid()):
            settings = _with_storage_driver(settings, args.storage_driver, paths)
            zygote = Zygote()
            listeners: list[Listener] = []
            try:
                # After the zygote is forked: it must hold neither ssl nor our listening sockets.
                context = tlsconfig.server_context(tls) if tls is not None else None
                from dockyard.api.listeners import open_listener

                for host in hosts:
                    listeners.append(open_listener(host))
                asyncio.run(
                    _run(
                        paths,
                        listeners,
                        context,
                        bool(args.debug),
                        zygote,
                        settings,
                        lambda engine: _reload(engine, args, flags),
                    )
                )
            finally:
                zygote.close()
                for listener in listeners:
                    listener.close()
    except (StartupError, DockyardError) as exc:
        print(f"dockyardd: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
