"""Volume commands: volume create, ls, inspect, rm, prune."""

from __future__ import annotations

import argparse
import json
import re
import sys

from dockyard.cli.containers import confirm, for_each
from dockyard.cli.filters import filters_query, parse_filters
from dockyard.cli.format import render_rows
from dockyard.cli.inspect import inspect_each
from dockyard.cli.parser import StatusError, add_positionals, command, flag_type
from dockyard.client import Client
from dockyard.errors import InvalidArgument
from dockyard.units import human_size

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

VOLUMES_TABLE = "table {{.Driver}}\t{{.Name}}"
VOLUME_HEADERS = {
    "ID": "ID",
    "Name": "VOLUME NAME",
    "Group": "GROUP",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Availability": "AVAILABILITY",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
    "Status": "STATUS",
}
PRUNE_ANONYMOUS_WARNING = (
    "WARNING! This will remove anonymous local volumes not used by at least one container."
)
PRUNE_ALL_WARNING = (
    "WARNING! This will remove all local volumes not used by at least one container."
)
_DIGITS = re.compile(r"(\d+)")


def parse_label(value: str) -> str:
    """docker's opts.ValidateLabel: a key, optionally ``=value``; no blanks in the key."""
    key = value.partition("=")[0].lstrip(" \t")
    if not key:
        raise InvalidArgument(f"invalid label '{value}': empty name")
    if " " in key or "\t" in key:
        raise InvalidArgument(f"label '{key}' contains whitespaces")
    return value


def register(subparsers: Any) -> None:
    create = command(
        subparsers,
        "volume-create",
        run_create,
        usage="%(prog)s [OPTIONS] [VOLUME]",
        description="Create a volume",
        max_args=1,
    )
    create.add_argument("-d", "--driver", default="local")
    create.add_argument("--label", type=flag_type(parse_label), action="append", default=[])
    create.add_argument("-o", "--opt", action="append", default=[])
    create.add_argument("--name", default="")
    add_positionals(create)

    ls = command(
        subparsers,
        "volume-ls",
        run_ls,
        usage="%(prog)s [OPTIONS]",
        description="List volumes",
        max_args=0,
    )
    ls.add_argument("-f", "--filter", action="append", default=[])
    ls.add_argument("--format", default="")
    ls.add_argument("-q", "--quiet", action="store_true")
    add_positionals(ls)

    inspect = command(
        subparsers,
        "volume-inspect",
        run_inspect,
        usage="%(prog)s [OPTIONS] VOLUME [VOLUME...]",
        description="Display detailed information on one or more volumes",
        min_args=1,
    )
    inspect.add_argument("-f", "--format", default="")
    add_positionals(inspect)

    rm = command(
        subparsers,
        "volume-rm",
        run_rm,
        usage="%(prog)s [OPTIONS] VOLUME [VOLUME...]",
        description="Remove one or more volumes",
        min_args=1,
    )
    rm.add_argument("-f", "--force", action="store_true")
    add_positionals(rm)

    prune = command(
        subparsers,
        "volume-prune",
        run_prune,
        usage="%(prog)s [OPTIONS]",
        description="Remove unused local volumes",
        max_args=0,
    )
    prune.add_argument("-a", "--all", action="store_true")
    prune.add_argument("-f", "--force", action="store_true")
    prune.add_argument("--filter", action="append", default=[])
    add_positionals(prune)


def run_create(client: Client, ns: argparse.Namespace) -> int:
    name = ns.name
    if ns.args:
        if name:
            raise StatusError(
                1,
                "conflicting options: cannot specify a volume-name through both --name "
                "and as a positional arg",
            )
        name = ns.args[0]
    body = {
        "Name": name,
        "Driver": ns.driver,
        "DriverOpts": key_values(ns.opt),
        "Labels": key_values(ns.label),
    }
    volume = client.request("POST", "/volumes/create", None, body).json()
    print(volume["Name"])
    return 0


def key_values(entries: list[str]) -> dict[str, str]:
    return dict(entry.partition("=")[::2] for entry in entries)


def run_ls(client: Client, ns: argparse.Namespace) -> int:
    answer = client.request("GET", "/volumes", {"filters": filters_query(ns.filter)}).json()
    for warning in answer.get("Warnings") or []:
        print(warning, file=sys.stderr)
    volumes = sorted(answer.get("Volumes") or [], key=lambda v: natural_key(v["Name"]))
    rows = [volume_row(volume) for volume in volumes]
    spec = ns.format or "table"
    if ns.quiet and spec == "table":
        spec = "{{.Name}}"
    sys.stdout.write(render_rows(rows, spec, VOLUMES_TABLE, VOLUME_HEADERS))
    return 0


def natural_key(name: str) -> list[tuple[Any, ...]]:
    """sortorder.NaturalLess as a key: digit runs by value (fewer leading zeros first), before other characters."""
    key: list[tuple[Any, ...]] = []
    for index, chunk in enumerate(_DIGITS.split(name)):
        if index % 2:
            digits = chunk.lstrip("0")
            key.append((0, len(digits), digits, len(chunk) - len(digits)))
        else:
            key.extend((1, char) for char in chunk)
    return key


def volume_row(volume: dict[str, Any]) -> dict[str, str]:
    """A Volume as docker's volume formatter shows it; keys in the order `--format json` prints them."""
    labels = volume.get("Labels") or {}
    usage = volume.get("UsageData")
    return {
        "Availability": "N/A",
        "Driver": volume.get("Driver", ""),
        "Group": "N/A",
        "Labels": ",".join(f"{key}={value}" for key, value in labels.items()),
        "Links": str(usage["RefCount"]) if usage else "N/A",
        "Mountpoint": volume.get("Mountpoint", ""),
        "Name": volume["Name"],
        "Scope": volume.get("Scope", ""),
        "Size": human_size(float(usage["Size"])) if usage else "N/A",
        "Status": "N/A",
    }


def run_inspect(client: Client, ns: argparse.Namespace) -> int:
    return inspect_each(client, [f"/volumes/{name}" for name in ns.args], ns.format)


def run_rm(client: Client, ns: argparse.Namespace) -> int:
    query = {"force": ns.force or None}

    def remove(name: str) -> None:
        client.request("DELETE", f"/volumes/{name}", query).read()

    return for_each(ns.args, remove)


def run_prune(client: Client, ns: argparse.Namespace) -> int:
    filters = parse_filters(ns.filter)
    if ns.all:
        if "all" in filters:
            raise StatusError(
                1, "conflicting options: cannot specify both --all and --filter all=1"
            )
        filters["all"] = {"true": True}
    warning = PRUNE_ALL_WARNING if ns.all else PRUNE_ANONYMOUS_WARNING
    if not ns.force and not confirm(warning):
        return 0
    query = {"filters": json.dumps(filters, separators=(",", ":")) if filters else None}
    report = client.request("POST", "/volumes/prune", query).json()
    deleted = report.get("VolumesDeleted") or []
    reclaimed = 0
    if deleted:
        print("Deleted Volumes:\n" + "".join(f"{name}\n" for name in deleted))
        reclaimed = report.get("SpaceReclaimed") or 0
    print(f"Total reclaimed space: {human_size(float(reclaimed))}")
    return 0
