"""``cp``: files between a container and here, as tar over the API; ``export``: a
container's whole file system as one tar.

From a container: ``GET /containers/{id}/archive?path=`` gives a tar whose top
entry is the source's base name; it lands in DEST when DEST is a directory that
exists, or becomes DEST otherwise (docker's archive.CopyTo). To a container: the
source is tarred under the name it must have and ``PUT`` into the directory
that receives it. ``-`` means a tar on stdin or stdout.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import posixpath
import sys
import tarfile
import tempfile

from dockyard.cli.output import ArchiveOutput
from dockyard.cli.parser import StatusError, add_positionals, command
from dockyard.client import APIError, Client
from dockyard.units import human_size

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, BinaryIO

GO_MODE_DIR = 1 << 31
GO_MODE_SYMLINK = 1 << 27


def register(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "cp",
        run_cp,
        usage="%(prog)s [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\t%(prog)s [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        description="Copy files/folders between a container and the local filesystem",
        min_args=2,
        max_args=2,
    )
    parser.add_argument("-a", "--archive", action="store_true")
    parser.add_argument("-L", "--follow-link", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true", default=None)
    add_positionals(parser)

    export = command(
        subparsers,
        "export",
        run_export,
        usage="%(prog)s [OPTIONS] CONTAINER",
        description="Export a container's filesystem as a tar archive",
        min_args=1,
        max_args=1,
    )
    export.add_argument("-o", "--output", default="")
    add_positionals(export)


def run_export(client: Client, ns: argparse.Namespace) -> int:
    output = ArchiveOutput(ns.output, "failed to export container")
    output.write(client.request("GET", f"/containers/{ns.args[0]}/export").iter_chunks())
    return 0


def split_container_path(arg: str) -> tuple[str, str]:
    """``name:/path`` → (name, /path); a local path (absolute, or ./x) has no container."""
    if arg.startswith((".", "/")):
        return "", arg
    container, colon, path = arg.partition(":")
    return (container, path) if colon else ("", arg)


def run_cp(client: Client, ns: argparse.Namespace) -> int:
    source, destination = ns.args
    if not source:
        raise StatusError(1, "source can not be empty")
    if not destination:
        raise StatusError(1, "destination can not be empty")
    src_container, src_path = split_container_path(source)
    dst_container, dst_path = split_container_path(destination)
    quiet = ns.quiet if ns.quiet is not None else not sys.stdout.isatty()
    if src_container and dst_container:
        raise StatusError(1, "copying between containers is not supported")
    if src_container:
        copied = copy_from_container(client, src_container, src_path, dst_path, ns.follow_link)
        shown = dst_path if dst_path == "-" else os.path.abspath(dst_path)
    elif dst_container:
        copied = copy_to_container(client, dst_container, src_path, dst_path, ns)
        shown = f"{dst_container}:{dst_path}"
    else:
        raise StatusError(1, "must specify at least one container source")
    if not quiet and dst_path != "-":
        print(f"Successfully copied {human_size(copied)} to {shown}", file=sys.stderr)
    return 0


def path_stat(client: Client, container: str, path: str) -> dict[str, Any] | None:
    """The container path's stat (name, size, mode, mtime, linkTarget), None when absent."""
    try:
        response = client.request("HEAD", f"/containers/{container}/archive", {"path": path})
    except APIError as err:
        if err.status == 404 and "no such container" not in err.message.lower():
            return None
        raise
    encoded = response.headers.get("x-docker-container-path-stat", "")
    return json.loads(base64.b64decode(encoded)) if encoded else {}


# -- from a container ----------------------------------------------------------


def copy_from_container(client: Client, container: str, src: str, dst: str, follow: bool) -> int:
    """``-L``: a symlink's target (resolved in the container) is copied, under the link's name."""
    name = "." if src.endswith("/.") else os.path.basename(src.rstrip("/")) or "/"
    if follow:
        target = path_stat(client, container, src)
        if target is not None and target.get("mode", 0) & GO_MODE_SYMLINK:
            src = target["linkTarget"]
    response = client.request("GET", f"/containers/{container}/archive", {"path": src})
    if dst == "-":
        total = 0
        for chunk in response.iter_chunks():
            sys.stdout.buffer.write(chunk)
            total += len(chunk)
        sys.stdout.buffer.flush()
        return total
    encoded = response.headers.get("x-docker-container-path-stat", "")
    stat = json.loads(base64.b64decode(encoded)) if encoded else {}
    with tempfile.TemporaryFile() as spool:
        for chunk in response.iter_chunks():
            spool.write(chunk)
        size = spool.tell()
        spool.seek(0)
        extract(spool, stat, dst, name)
    return size


def extract(archive: BinaryIO, stat: dict[str, Any], dst: str, name: str) -> None:
    """Docker's archive.CopyTo: into ``dst`` when it is a directory (the top entry
    renamed to ``name``, what was asked for), else as ``dst``; never outside the
    directory it lands in."""
    from dockyard.tarfs.extract import Extractor
    from dockyard.tarfs.root import Root

    source_is_dir = bool(stat.get("mode", 0) & GO_MODE_DIR)
    top = stat.get("name") or name  # the archive's top entry, as the daemon named it
    if os.path.isdir(dst):
        target_dir, new_top = dst, name
    else:
        if os.path.exists(dst) and source_is_dir:
            raise StatusError(1, "cannot copy directory to file")
        if dst.endswith("/") and not source_is_dir:
            raise StatusError(1, f'destination "{dst}" does not exist')
        target_dir = os.path.dirname(os.path.abspath(dst)) or "/"
        new_top = os.path.basename(os.path.abspath(dst))
        if not os.path.isdir(target_dir):
            raise StatusError(1, f"no such directory: {target_dir}")
    with Root(target_dir) as root:
        extractor = Extractor(
            root,
            keep_owner=False,  # like docker's CLI (NoLchown): the files are the caller's
            no_overwrite_dir_non_dir=True,
            rename=lambda entry: rebase(entry, top, new_top),
        )
        extractor.extract(archive)


def rebase(name: str, old_top: str, new_top: str) -> str:
    """An entry named under ``old_top`` renamed under ``new_top``."""
    name = name.strip("/")
    old_top = old_top.strip("/")
    if not old_top:
        return posixpath.join(new_top, name)
    if name == old_top:
        return new_top
    if name.startswith(old_top + "/"):
        return posixpath.join(new_top, name[len(old_top) + 1 :])
    return name


# -- to a container ------------------------------------------------------------


def copy_to_container(
    client: Client, container: str, src: str, dst: str, ns: argparse.Namespace
) -> int:
    query = {"path": dst, "noOverwriteDirNonDir": True, "copyUIDGID": ns.archive or None}
    target = path_stat(client, container, dst)
    target_is_dir = target is not None and bool(target.get("mode", 0) & GO_MODE_DIR)
    if src == "-":
        if not target_is_dir:
            raise StatusError(1, f'destination "{container}:{dst}" must be a directory')
        client.request("PUT", f"/containers/{container}/archive", query, sys.stdin.buffer).read()
        return 0
    if not os.path.lexists(src):
        raise StatusError(1, f"lstat {os.path.abspath(src)}: no such file or directory")
    if target_is_dir:
        directory, name = dst, os.path.basename(os.path.abspath(src))
    else:
        if target is not None and os.path.isdir(src):
            raise StatusError(1, "cannot copy directory to file")
        directory = os.path.dirname(dst.rstrip("/")) or "/"
        name = os.path.basename(dst.rstrip("/"))
    query["path"] = directory
    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w", dereference=ns.follow_link) as tar:
            add_source(tar, src, name, contents_only=target_is_dir and src.endswith("/."))
        size = spool.tell()
        spool.seek(0)
        client.request("PUT", f"/containers/{container}/archive", query, spool).read()
    return size


def add_source(tar: tarfile.TarFile, src: str, name: str, contents_only: bool) -> None:
    """``dir/.`` into a directory copies the contents; anything else goes under ``name``."""
    if contents_only:
        for child in sorted(os.listdir(src)):
            tar.add(os.path.join(src, child), arcname=child)
        return
    tar.add(src, arcname=name)
