"""`python -m dockyard.runtime run [--bundle DIR] [--pid-file FILE] ID`: run a bundle like `runc run`.

The container runs in the foreground with our stdio (or, when its config asks
for a terminal, on a new pty relayed to ours); signals we get are passed to
it, and we exit with its status: its exit code, or 128+N when signal N killed
it. 125 means the runtime itself failed; 126/127 that the command could not run.

Only modules that start fast are imported here: this command's start-up is
part of every container it runs.
"""

from __future__ import annotations

import _signal  # the signal module minus its enum wrapper, which costs ~5 ms to import
import fcntl
import os
import select
import sys
import termios
import tty

from dockyard.errors import CommandError, DockyardError
from dockyard.runtime import container
from dockyard.runtime.configfile import load_config

USAGE = "usage: python -m dockyard.runtime run [--bundle DIR] [--pid-file FILE] ID"
_FORWARDED = (
    _signal.SIGHUP,
    _signal.SIGINT,
    _signal.SIGQUIT,
    _signal.SIGTERM,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
)


class UsageError(Exception):
    pass


def parse_run_args(args: list[str]) -> tuple[str, str, str]:
    """(bundle, pid file, id) from the arguments after `run`."""
    options = {"--bundle": ".", "--pid-file": ""}
    aliases = {"-b": "--bundle"}
    positional = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        name = aliases.get(name, name)
        if name in options:
            if not eq:
                if not rest:
                    raise UsageError(f"option {name} needs a value")
                value = rest.pop(0)
            options[name] = value
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg}")
        else:
            positional.append(arg)
    if len(positional) != 1:
        raise UsageError("run needs exactly one container ID")
    return options["--bundle"], options["--pid-file"], positional[0]


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def _wait_status(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def _forward_signals(pid: int) -> None:
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return

    for signum in _FORWARDED:
        _signal.signal(signum, forward)


def _relay_terminal(master: int) -> None:
    """Copy our stdin to the pty and its output to our stdout until the container closes it."""
    saved = None
    if os.isatty(0):
        fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
        saved = termios.tcgetattr(0)
        tty.setraw(0)
    inputs = [master, 0]
    try:
        while True:
            readable, _, _ = select.select(inputs, [], [])
            if 0 in readable:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    inputs.remove(0)
            if master in readable:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the container's side is closed
                    data = b""
                if not data:
                    return
                os.write(1, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def run(bundle: str, pid_file: str, container_id: str) -> int:
    """Run the container ``container_id`` of ``bundle`` to its end; return its exit status."""
    terminal = bool((load_config(bundle).get("process") or {}).get("terminal"))
    # With a terminal the init makes its pty inside the container; we relay its master.
    init = container.create(
        bundle, container.Stdio(0, 1, 2), terminal=terminal, container_id=container_id
    )
    try:
        master = init.console() if terminal else -1
        if pid_file:
            _write_pid_file(pid_file, init.pid)
        _forward_signals(init.pid)
        init.start()
        if terminal:
            _relay_terminal(master)
        return _wait_status(init.pid)
    finally:
        container.delete(bundle)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "run":
        print(USAGE, file=sys.stderr)
        return 2
    try:
        bundle, pid_file, container_id = parse_run_args(argv[2:])
        return run(bundle, pid_file, container_id)
    except UsageError as exc:
        print(f"{exc}\n{USAGE}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"dockyard-runtime: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except DockyardError as exc:
        print(f"dockyard-runtime: {exc.message}", file=sys.stderr)
        return 125


if __name__ == "__main__":
    status = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # Nothing is left to clean up: skip the interpreter's teardown (~5 ms of every run).
    os._exit(status)
