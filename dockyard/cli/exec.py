"""``exec``: run a command in a running container (docker's exec.go on the wire)."""

from __future__ import annotations

import argparse
import os
import sys

from dockyard.cli import envfile
from dockyard.cli.parser import StatusError, add_positionals, command
from dockyard.cli.run import Session
from dockyard.client import Client, streams

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any


def register(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "exec",
        run_exec,
        usage="%(prog)s [OPTIONS] CONTAINER COMMAND [ARG...]",
        description="Execute a command in a running container",
        min_args=2,
        intermixed=False,
    )
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("--detach-keys", default="")
    parser.add_argument("-e", "--env", action="append", default=[])
    parser.add_argument("--env-file", action="append", default=[])
    parser.add_argument("-i", "--interactive", action="store_true")
    parser.add_argument("--privileged", action="store_true")
    parser.add_argument("-t", "--tty", action="store_true")
    parser.add_argument("-u", "--user", default="")
    parser.add_argument("-w", "--workdir", default="")
    add_positionals(parser)


def exec_config(ns: argparse.Namespace, console: tuple[int, int] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "User": ns.user,
        "Privileged": ns.privileged,
        "Tty": ns.tty,
        "AttachStdin": ns.interactive and not ns.detach,
        "AttachStdout": not ns.detach,
        "AttachStderr": not ns.detach,
        "DetachKeys": ns.detach_keys,
        "Env": envfile.read_env(ns.env_file, ns.env),
        "WorkingDir": ns.workdir,
        "Cmd": ns.args[1:],
    }
    if console is not None:
        config["ConsoleSize"] = list(console)
    return config


def run_exec(client: Client, ns: argparse.Namespace) -> int:
    name = ns.args[0]
    info = client.request("GET", f"/containers/{name}/json").json()
    if ns.tty and ns.interactive and not ns.detach and not os.isatty(0):
        raise StatusError(1, "the input device is not a TTY")
    console = streams.terminal_size(1) if ns.tty else None
    body = exec_config(ns, console)
    exec_id = client.request("POST", f"/containers/{info['Id']}/exec", body=body).json()["Id"]
    start = {"Detach": ns.detach, "Tty": ns.tty}
    if ns.detach:
        client.request("POST", f"/exec/{exec_id}/start", body=start).read()
        return 0
    if console is not None:
        start["ConsoleSize"] = list(console)
    stream = client.hijack("POST", f"/exec/{exec_id}/start", body=start)
    detach_keys = streams.parse_detach_keys(ns.detach_keys or streams.DEFAULT_DETACH_KEYS)
    session = Session(
        client, info["Id"], stream, ns.tty, body["AttachStdin"], f"/exec/{exec_id}/resize"
    )
    if session.run(detach_keys, sig_proxy=False):
        return 0
    sys.stdout.flush()
    result = client.request("GET", f"/exec/{exec_id}/json").json()
    return int(result.get("ExitCode") or 0)
