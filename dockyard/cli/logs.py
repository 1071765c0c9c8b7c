"""``logs``: a container's output, once or followed (docker's logs.go on the wire)."""

from __future__ import annotations

import argparse

from dockyard.cli.parser import add_positionals, command, flag_type
from dockyard.client import Client, streams
from dockyard.timefmt import get_timestamp

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any


def register(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "logs",
        run_logs,
        usage="%(prog)s [OPTIONS] CONTAINER",
        description="Fetch the logs of a container",
        min_args=1,
        max_args=1,
    )
    parser.add_argument("--details", action="store_true")
    parser.add_argument("-f", "--follow", action="store_true")
    parser.add_argument("--since", type=flag_type(get_timestamp), default=None)
    parser.add_argument("--until", type=flag_type(get_timestamp), default=None)
    parser.add_argument("-n", "--tail", default="all")
    parser.add_argument("-t", "--timestamps", action="store_true")
    add_positionals(parser)


def run_logs(client: Client, ns: argparse.Namespace) -> int:
    name = ns.args[0]
    info = client.request("GET", f"/containers/{name}/json").json()
    query = {
        "stdout": True,
        "stderr": True,
        "since": ns.since,
        "until": ns.until,
        "timestamps": ns.timestamps or None,
        "follow": ns.follow or None,
        "tail": ns.tail,
        "details": ns.details or None,
    }
    response = client.request("GET", f"/containers/{name}/logs", query)
    output = streams.OutputWriter(bool((info.get("Config") or {}).get("Tty")))
    for chunk in response.iter_chunks():
        output.write(chunk)
    return 0
