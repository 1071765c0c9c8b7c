"""``inspect``, ``container inspect``, ``image inspect``: the API's JSON, or a template of it."""

from __future__ import annotations

import argparse
import sys

from dockyard.cli.format import render_each
from dockyard.cli.parser import StatusError, add_positionals, command
from dockyard.client import APIError, Client

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

KINDS = {
    "inspect": (("container", "image"), "Return low-level information on Docker objects"),
    "container-inspect": (("container",), "Display detailed information on one or more containers"),
    "image-inspect": (("image",), "Display detailed information on one or more images"),
}


def register(subparsers: Any) -> None:
    for name, (kinds, description) in KINDS.items():
        parser = command(
            subparsers,
            name,
            run_inspect,
            usage="%(prog)s [OPTIONS] NAME|ID [NAME|ID...]",
            description=description,
            min_args=1,
        )
        parser.add_argument("-f", "--format", default="")
        if "container" in kinds:
            parser.add_argument("-s", "--size", action="store_true")
        if len(kinds) > 1:
            parser.add_argument("--type", default="", choices=("", "container", "image"))
        parser.set_defaults(kinds=kinds)
        add_positionals(parser)


def run_inspect(client: Client, ns: argparse.Namespace) -> int:
    kinds = (ns.type,) if getattr(ns, "type", "") else ns.kinds
    found, missing = [], []
    for name in ns.args:
        item = inspect_one(client, name, kinds, getattr(ns, "size", False))
        if item is None:
            missing.append(name)
        else:
            found.append(item)
    for text in render_each(found, ns.format):
        sys.stdout.write(text)
        sys.stdout.flush()
    for name in missing:
        kind = "object" if len(kinds) > 1 else kinds[0]
        print(f"Error: No such {kind}: {name}", file=sys.stderr)
    return 1 if missing else 0


def inspect_each(client: Client, paths: list[str], spec: str) -> int:
    """`network inspect` / `volume inspect`: GET each path, print what was found, then the errors."""
    found, errors = [], []
    for path in paths:
        try:
            found.append(client.request("GET", path).json())
        except APIError as err:
            errors.append(f"Error response from daemon: {err.message}")
    for text in render_each(found, spec):
        sys.stdout.write(text)
        sys.stdout.flush()
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def inspect_one(
    client: Client, name: str, kinds: tuple[str, ...], size: bool
) -> dict[str, Any] | None:
    """The first object of the given kinds with this name, or None."""
    for kind in kinds:
        path = f"/containers/{name}/json" if kind == "container" else f"/images/{name}/json"
        query = {"size": True} if size and kind == "container" else None
        try:
            result: dict[str, Any] = client.request("GET", path, query).json()
        except APIError as err:
            if err.status != 404:
                raise
            continue
        return result
    return None
