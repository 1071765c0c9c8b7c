"""Image commands: import, images, tag, rmi, history, image prune, save, load, pull, push."""

from __future__ import annotations

import argparse
import sys
import time

from dockyard.cli.containers import confirm, for_each
from dockyard.cli.filters import filters_query, parse_filters
from dockyard.cli.format import IMAGE_HEADERS, ellipsis, image_rows, render_rows, short_id, since
from dockyard.cli.output import ArchiveOutput
from dockyard.cli.parser import StatusError, add_positionals, command
from dockyard.cli.progress import display, drain
from dockyard.cli.pull import auth_header, pull, split_reference
from dockyard.client import APIError, Client
from dockyard.units import human_size

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DIGESTS_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}


def register(subparsers: Any) -> None:
    commit = command(
        subparsers,
        "commit",
        run_commit,
        usage="%(prog)s [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        description="Create a new image from a container's changes",
        min_args=1,
        max_args=2,
    )
    commit.add_argument("-a", "--author", default="")
    commit.add_argument("-c", "--change", action="append", default=[])
    commit.add_argument("-m", "--message", default="")
    commit.add_argument("-p", "--pause", action=argparse.BooleanOptionalAction, default=True)
    add_positionals(commit)
    imp = command(
        subparsers,
        "import",
        run_import,
        usage="%(prog)s [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        description="Import the contents from a tarball to create a filesystem image",
        min_args=1,
        max_args=2,
    )
    imp.add_argument("-c", "--change", action="append", default=[])
    imp.add_argument("-m", "--message", default="")
    imp.add_argument("--platform", default="")
    add_positionals(imp)

    images = command(
        subparsers,
        "images",
        run_images,
        usage="%(prog)s [OPTIONS] [REPOSITORY[:TAG]]",
        description="List images",
        max_args=1,
    )
    images.add_argument("-a", "--all", action="store_true")
    images.add_argument("--digests", action="store_true")
    images.add_argument("-f", "--filter", action="append", default=[])
    images.add_argument("--format", default="")
    images.add_argument("--no-trunc", action="store_true")
    images.add_argument("-q", "--quiet", action="store_true")
    add_positionals(images)

    tag = command(
        subparsers,
        "tag",
        run_tag,
        usage="%(prog)s SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        description="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        min_args=2,
        max_args=2,
    )
    add_positionals(tag)

    rmi = command(
        subparsers,
        "rmi",
        run_rmi,
        usage="%(prog)s [OPTIONS] IMAGE [IMAGE...]",
        description="Remove one or more images",
        min_args=1,
    )
    rmi.add_argument("-f", "--force", action="store_true")
    rmi.add_argument("--no-prune", action="store_true")
    add_positionals(rmi)

    history = command(
        subparsers,
        "history",
        run_history,
        usage="%(prog)s [OPTIONS] IMAGE",
        description="Show the history of an image",
        min_args=1,
        max_args=1,
    )
    history.add_argument("-H", "--human", action="store_true", default=True)
    history.add_argument("--no-trunc", action="store_true")
    history.add_argument("-q", "--quiet", action="store_true")
    history.add_argument("--format", default="")
    add_positionals(history)

    save = command(
        subparsers,
        "save",
        run_save,
        usage="%(prog)s [OPTIONS] IMAGE [IMAGE...]",
        description="Save one or more images to a tar archive (streamed to STDOUT by default)",
        min_args=1,
    )
    save.add_argument("-o", "--output", default="")
    save.add_argument("--platform", action="append", default=[])
    add_positionals(save)

    load = command(
        subparsers,
        "load",
        run_load,
        usage="%(prog)s [OPTIONS]",
        description="Load an image from a tar archive or STDIN",
        max_args=0,
    )
    load.add_argument("-i", "--input", default="")
    load.add_argument("-q", "--quiet", action="store_true")
    load.add_argument("--platform", action="append", default=[])
    add_positionals(load)

    pull_parser = command(
        subparsers,
        "pull",
        run_pull,
        usage="%(prog)s [OPTIONS] NAME[:TAG|@DIGEST]",
        description="Download an image from a registry",
        min_args=1,
        max_args=1,
    )
    pull_parser.add_argument("--platform", default="")
    pull_parser.add_argument("-q", "--quiet", action="store_true")
    add_positionals(pull_parser)

    push = command(
        subparsers,
        "push",
        run_push,
        usage="%(prog)s [OPTIONS] NAME[:TAG]",
        description="Upload an image to a registry",
        min_args=1,
        max_args=1,
    )
    push.add_argument("-q", "--quiet", action="store_true")
    # dockyard's own: how to compress layers that have no compressed form yet.
    push.add_argument("--compression", default="", choices=["gzip", "zstd"])
    add_positionals(push)

    prune = command(
        subparsers,
        "image-prune",
        run_prune,
        usage="%(prog)s [OPTIONS]",
        description="Remove unused images",
        max_args=0,
    )
    prune.add_argument("-a", "--all", action="store_true")
    prune.add_argument("-f", "--force", action="store_true")
    prune.add_argument("--filter", action="append", default=[])
    add_positionals(prune)


def run_commit(client: Client, ns: argparse.Namespace) -> int:
    repo, tag = split_reference(ns.args[1]) if len(ns.args) > 1 else (None, None)
    query: dict[str, Any] = {
        "container": ns.args[0],
        "repo": repo,
        "tag": tag if repo else None,
        "author": ns.author or None,
        "comment": ns.message or None,
        "changes": ns.change,
        "pause": ns.pause,
    }
    result = client.request("POST", "/commit", query, {}).json()
    print(result["Id"])
    return 0


def run_import(client: Client, ns: argparse.Namespace) -> int:
    source = ns.args[0]
    repo, tag = split_reference(ns.args[1]) if len(ns.args) > 1 else (None, None)
    query: dict[str, Any] = {
        "fromSrc": "-",
        "repo": repo,
        "tag": tag if repo else None,
        "message": ns.message or None,
        "changes": ns.change,
        "platform": ns.platform or None,
    }
    if source == "-":
        stream = client.request("POST", "/images/create", query, sys.stdin.buffer)
        return print_import(stream.iter_json())
    try:
        handle = open(source, "rb")  # noqa: SIM115 - closed below, after the upload
    except OSError as err:
        raise StatusError(1, f"open {source}: {(err.strerror or str(err)).lower()}") from None
    with handle:
        stream = client.request("POST", "/images/create", query, handle)
        return print_import(stream.iter_json())


def print_import(messages: Any) -> int:
    for message in messages:
        if message.get("error"):
            raise APIError(500, message["error"])
        if message.get("status"):
            print(message["status"])
    return 0


def run_save(client: Client, ns: argparse.Namespace) -> int:
    output = ArchiveOutput(ns.output, "failed to save image")
    output.write(client.request("GET", "/images/get", {"names": ns.args}).iter_chunks())
    return 0


def run_load(client: Client, ns: argparse.Namespace) -> int:
    query: dict[str, Any] = {"quiet": "1" if ns.quiet else None}
    if ns.input:
        try:
            handle = open(ns.input, "rb")  # noqa: SIM115 - closed below, after the upload
        except OSError as err:
            raise StatusError(1, f"open {ns.input}: {(err.strerror or str(err)).lower()}") from None
        with handle:
            return print_stream(client.request("POST", "/images/load", query, handle).iter_json())
    if sys.stdin.isatty():
        raise StatusError(1, "requested load from stdin, but stdin is empty")
    return print_stream(client.request("POST", "/images/load", query, sys.stdin.buffer).iter_json())


def print_stream(messages: Any) -> int:
    for message in messages:
        if message.get("error"):
            raise APIError(500, message["error"])
        sys.stdout.write(message.get("stream", ""))
    return 0


def run_pull(client: Client, ns: argparse.Namespace) -> int:
    pull(client, ns.args[0], ns.quiet, ns.platform, out=sys.stdout)
    print(canonical(ns.args[0]))
    return 0


def run_push(client: Client, ns: argparse.Namespace) -> int:
    name, tag = split_reference(ns.args[0])
    query = {"tag": tag, "compression": ns.compression or None}
    response = client.request("POST", f"/images/{name}/push", query, b"", headers=auth_header(name))
    if ns.quiet:
        drain(response.iter_json())
        print(f"{name}:{tag}")
    else:
        display(response.iter_json(), sys.stdout)
    return 0


def canonical(reference: str) -> str:
    """The full reference ``docker pull`` prints last: ``docker.io/library/busybox:latest``."""
    name, tag = split_reference(reference)
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name if '/' in name else 'library/' + name}"
    return f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"


def run_images(client: Client, ns: argparse.Namespace) -> int:
    filters = list(ns.filter)
    if ns.args:
        filters.append(f"reference={ns.args[0]}")
    query = {
        "all": ns.all or None,
        "filters": filters_query(filters),
        "digests": ns.digests or None,
    }
    images = client.request("GET", "/images/json", query).json()
    now = time.time()
    rows = [row for image in images for row in image_rows(image, not ns.no_trunc, now)]
    if ns.quiet and not ns.format:
        sys.stdout.write("".join(f"{row['ID']}\n" for row in rows))
        return 0
    table = DIGESTS_TABLE if ns.digests else IMAGES_TABLE
    sys.stdout.write(render_rows(rows, ns.format, table, IMAGE_HEADERS))
    return 0


def run_tag(client: Client, ns: argparse.Namespace) -> int:
    source, target = ns.args
    repo, tag = split_reference(target)
    client.request("POST", f"/images/{source}/tag", {"repo": repo, "tag": tag}).read()
    return 0


def run_rmi(client: Client, ns: argparse.Namespace) -> int:
    query = {"force": ns.force or None, "noprune": ns.no_prune or None}

    def remove(name: str) -> str:
        result = client.request("DELETE", f"/images/{name}", query).json() or []
        return "\n".join(deletion_lines(result))

    return for_each(ns.args, remove)


def deletion_lines(result: list[dict[str, str]]) -> list[str]:
    lines = []
    for item in result:
        if item.get("Untagged"):
            lines.append(f"Untagged: {item['Untagged']}")
        if item.get("Deleted"):
            lines.append(f"Deleted: {item['Deleted']}")
    return lines


def run_history(client: Client, ns: argparse.Namespace) -> int:
    entries = client.request("GET", f"/images/{ns.args[0]}/history").json()
    now = time.time()
    rows = [history_row(entry, not ns.no_trunc, ns.human, now) for entry in entries]
    if ns.quiet and not ns.format:
        sys.stdout.write("".join(f"{row['ID']}\n" for row in rows))
        return 0
    sys.stdout.write(render_rows(rows, ns.format, HISTORY_TABLE, HISTORY_HEADERS))
    return 0


def history_row(entry: dict[str, Any], truncate: bool, human: bool, now: float) -> dict[str, str]:
    identifier = entry.get("Id") or "<missing>"
    if identifier != "<missing>" and truncate:
        identifier = short_id(identifier)
    created = float(entry.get("Created") or 0)
    created_by = (entry.get("CreatedBy") or "").replace("\t", " ")
    size = int(entry.get("Size") or 0)
    return {
        "ID": identifier,
        "CreatedSince": since(created, now) if human else time_rfc3339(created),
        "CreatedAt": time_rfc3339(created),
        "CreatedBy": ellipsis(created_by, 45) if truncate else created_by,
        "Size": human_size(float(size)) if human else str(size),
        "Comment": entry.get("Comment") or "",
    }


def time_rfc3339(timestamp: float) -> str:
    local = time.localtime(timestamp)
    offset = time.strftime("%z", local)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f"{offset[:3]}:{offset[3:]}"


def run_prune(client: Client, ns: argparse.Namespace) -> int:
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if ns.all
        else "WARNING! This will remove all dangling images."
    )
    if not ns.force and not confirm(warning):
        return 0
    filters = parse_filters(ns.filter)
    filters.setdefault("dangling", {"false" if ns.all else "true": True})
    import json

    query = {"filters": json.dumps(filters, separators=(",", ":"))}
    result = client.request("POST", "/images/prune", query).json()
    deleted = deletion_lines(result.get("ImagesDeleted") or [])
    if deleted:
        print("Deleted Images:")
        print("\n".join(line[0].lower() + line[1:] for line in deleted))
        print()
    print(f"Total reclaimed space: {human_size(float(result.get('SpaceReclaimed') or 0))}")
    return 0
