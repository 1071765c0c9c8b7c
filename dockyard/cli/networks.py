"""Network commands: network create, ls, inspect, rm, prune, connect, disconnect."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dockyard.cli.containers import confirm, for_each
from dockyard.cli.filters import filters_query, parse_filters
from dockyard.cli.format import render_rows
from dockyard.cli.inspect import inspect_each
from dockyard.cli.parser import StatusError, add_positionals, command, flag_type
from dockyard.client import APIError, Client
from dockyard.network.linkspec import validate_link

NETWORKS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv4": "IPV4",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
PRUNE_WARNING = "WARNING! This will remove all custom networks not used by at least one container."


def register(subparsers: Any) -> None:
    create = command(
        subparsers,
        "network-create",
        run_create,
        usage="%(prog)s [OPTIONS] NETWORK",
        description="Create a network",
        min_args=1,
        max_args=1,
    )
    create.add_argument("-d", "--driver", default="bridge")
    create.add_argument("--subnet", action="append", default=[])
    create.add_argument("--gateway", action="append", default=[])
    create.add_argument("--ip-range", action="append", default=[])
    create.add_argument("--internal", action="store_true")
    create.add_argument("--attachable", action="store_true")
    create.add_argument("--ipv6", action="store_true")
    create.add_argument("--label", action="append", default=[])
    create.add_argument("-o", "--opt", action="append", default=[])
    add_positionals(create)

    ls = command(
        subparsers,
        "network-ls",
        run_ls,
        usage="%(prog)s [OPTIONS]",
        description="List networks",
        max_args=0,
    )
    ls.add_argument("-f", "--filter", action="append", default=[])
    ls.add_argument("--format", default="")
    ls.add_argument("--no-trunc", action="store_true")
    ls.add_argument("-q", "--quiet", action="store_true")
    add_positionals(ls)

    inspect = command(
        subparsers,
        "network-inspect",
        run_inspect,
        usage="%(prog)s [OPTIONS] NETWORK [NETWORK...]",
        description="Display detailed information on one or more networks",
        min_args=1,
    )
    inspect.add_argument("-f", "--format", default="")
    inspect.add_argument("-v", "--verbose", action="store_true")
    add_positionals(inspect)

    rm = command(
        subparsers,
        "network-rm",
        run_rm,
        usage="%(prog)s NETWORK [NETWORK...]",
        description="Remove one or more networks",
        min_args=1,
    )
    rm.add_argument("-f", "--force", action="store_true")
    add_positionals(rm)

    prune = command(
        subparsers,
        "network-prune",
        run_prune,
        usage="%(prog)s [OPTIONS]",
        description="Remove all unused networks",
        max_args=0,
    )
    prune.add_argument("-f", "--force", action="store_true")
    prune.add_argument("--filter", action="append", default=[])
    add_positionals(prune)

    connect = command(
        subparsers,
        "network-connect",
        run_connect,
        usage="%(prog)s [OPTIONS] NETWORK CONTAINER",
        description="Connect a container to a network",
        min_args=2,
        max_args=2,
    )
    connect.add_argument("--alias", action="append", default=[])
    connect.add_argument("--ip", default="")
    connect.add_argument("--ip6", default="")
    connect.add_argument("--link", action="append", default=[], type=flag_type(validate_link))
    add_positionals(connect)

    disconnect = command(
        subparsers,
        "network-disconnect",
        run_disconnect,
        usage="%(prog)s [OPTIONS] NETWORK CONTAINER",
        description="Disconnect a container from a network",
        min_args=2,
        max_args=2,
    )
    disconnect.add_argument("-f", "--force", action="store_true")
    add_positionals(disconnect)


def run_create(client: Client, ns: argparse.Namespace) -> int:
    if len(ns.gateway) > len(ns.subnet) or len(ns.ip_range) > len(ns.subnet):
        raise StatusError(1, "every ip-range or gateway must have a corresponding subnet")
    config = [
        {
            "Subnet": subnet,
            **({"Gateway": ns.gateway[i]} if i < len(ns.gateway) else {}),
            **({"IPRange": ns.ip_range[i]} if i < len(ns.ip_range) else {}),
        }
        for i, subnet in enumerate(ns.subnet)
    ]
    body = {
        "Name": ns.args[0],
        "Driver": ns.driver,
        "IPAM": {"Driver": "default", "Config": config, "Options": {}},
        "Internal": ns.internal,
        "Attachable": ns.attachable,
        "Options": key_values(ns.opt),
        "Labels": key_values(ns.label),
    }
    if ns.ipv6:
        body["EnableIPv6"] = True
    created = client.request("POST", "/networks/create", None, body).json()
    if created.get("Warning"):
        print(created["Warning"], file=sys.stderr)
    print(created["Id"])
    return 0


def key_values(entries: list[str]) -> dict[str, str]:
    return dict(entry.partition("=")[::2] for entry in entries)


def run_ls(client: Client, ns: argparse.Namespace) -> int:
    found = client.request("GET", "/networks", {"filters": filters_query(ns.filter)}).json()
    rows = [network_row(n, ns.no_trunc) for n in sorted(found, key=lambda n: n["Name"])]
    spec = ns.format or "table"
    if ns.quiet and spec == "table":
        spec = "{{.ID}}"
    sys.stdout.write(render_rows(rows, spec, NETWORKS_TABLE, NETWORK_HEADERS))
    return 0


def network_row(network: dict[str, Any], no_trunc: bool) -> dict[str, str]:
    """A network as docker's network formatter shows it."""
    labels = network.get("Labels") or {}
    return {
        "ID": network["Id"] if no_trunc else network["Id"][:12],
        "Name": network["Name"],
        "Driver": network.get("Driver", ""),
        "Scope": network.get("Scope", ""),
        "IPv4": str(network.get("EnableIPv4", True)).lower(),
        "IPv6": str(bool(network.get("EnableIPv6"))).lower(),
        "Internal": str(bool(network.get("Internal"))).lower(),
        "Labels": ",".join(f"{key}={value}" for key, value in labels.items()),
        "CreatedAt": network.get("Created", ""),
    }


def run_inspect(client: Client, ns: argparse.Namespace) -> int:
    return inspect_each(client, [f"/networks/{name}" for name in ns.args], ns.format)


def run_rm(client: Client, ns: argparse.Namespace) -> int:
    def remove(name: str) -> None:
        try:
            client.request("DELETE", f"/networks/{name}").read()
        except APIError as err:
            if not (ns.force and err.status == 404):
                raise

    return for_each(ns.args, remove)


def run_prune(client: Client, ns: argparse.Namespace) -> int:
    filters = parse_filters(ns.filter)
    if not ns.force and not confirm(PRUNE_WARNING):
        return 0
    query = {"filters": json.dumps(filters, separators=(",", ":")) if filters else None}
    deleted = client.request("POST", "/networks/prune", query).json().get("NetworksDeleted")
    if deleted:
        print("Deleted Networks:\n" + "".join(f"{name}\n" for name in deleted))
    return 0


def run_connect(client: Client, ns: argparse.Namespace) -> int:
    network, container = ns.args
    endpoint: dict[str, Any] = {}
    if ns.alias:
        endpoint["Aliases"] = ns.alias
    if ns.link:
        endpoint["Links"] = ns.link
    if ns.ip or ns.ip6:
        endpoint["IPAMConfig"] = {"IPv4Address": ns.ip, "IPv6Address": ns.ip6}
    body = {"Container": container, "EndpointConfig": endpoint}
    client.request("POST", f"/networks/{network}/connect", None, body).read()
    return 0


def run_disconnect(client: Client, ns: argparse.Namespace) -> int:
    network, container = ns.args
    body = {"Container": container, "Force": ns.force}
    client.request("POST", f"/networks/{network}/disconnect", None, body).read()
    return 0
