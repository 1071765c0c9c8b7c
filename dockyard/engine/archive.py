"""`docker cp` and `docker diff`: files in and out of a container's root, as tar.

A running container's root is reached through /proc/<pid>/root; a stopped
one's by mounting its layers for the time of the copy. Paths are resolved
inside that root (symlinks included), so nothing outside it can be reached.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dockyard.engine.container import Container
from dockyard.errors import InvalidArgument, NotFound
from dockyard.runtime.overlay import mount_overlay, unmount
from dockyard.runtime.securejoin import secure_join
from dockyard.timefmt import rfc3339


@contextlib.contextmanager
def container_root(c: Container, lowerdirs: list[Path]) -> Iterator[Path]:
    if c.running:
        yield Path(f"/proc/{c.state['Pid']}/root")
        return
    target = c.root / "rootfs"
    mount_overlay(lowerdirs, c.root / "upper", c.root / "work", target)
    try:
        yield target
    finally:
        unmount(target)


def _resolve(root: Path, path: str, follow_last: bool = True) -> Path:
    if not path:
        raise InvalidArgument("path cannot be empty")
    if follow_last:
        return Path(secure_join(str(root), path))
    parent, _, name = path.rstrip("/").rpartition("/")
    if not name:
        return Path(secure_join(str(root), "/"))
    return Path(secure_join(str(root), parent or "/")) / name


def stat_path(root: Path, path: str) -> dict[str, Any]:
    """The X-Docker-Container-Path-Stat object."""
    target = _resolve(root, path, follow_last=False)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    link = ""
    if stat.S_ISLNK(st.st_mode):
        link = os.readlink(target)
    return {
        "name": os.path.basename(path.rstrip("/")) or "/",
        "size": st.st_size,
        "mode": _go_mode(st.st_mode),
        "mtime": rfc3339(st.st_mtime),
        "linkTarget": link,
    }


def encode_stat(info: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(info).encode()).decode()


def get(root: Path, path: str) -> tuple[IO[bytes], dict[str, Any]]:
    """A tar of ``path`` (a file or a whole directory), named by its basename, like Docker."""
    info = stat_path(root, path)
    source = _resolve(root, path, follow_last=not path.endswith("/."))
    if path.endswith("/") and not source.is_dir():
        raise InvalidArgument(f"not a directory: {path}")
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    name = os.path.basename(os.path.normpath(path)) if not path.endswith("/.") else "."
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(str(source), arcname=name or "/", recursive=True)
    out.seek(0)
    return out, info


def put(root: Path, path: str, archive: IO[bytes], no_overwrite_dir_non_dir: bool = False) -> None:
    """Extract a tar into the directory ``path`` of the container."""
    target = _resolve(root, path)
    if not target.exists():
        raise NotFound(f"Could not find the file {path} in container")
    if not target.is_dir():
        raise InvalidArgument(f"extraction point is not a directory: {path}")
    try:
        with tarfile.open(fileobj=archive, mode="r|*") as tar:
            for member in tar:
                _check_member(member)
                dest = target / member.name
                if no_overwrite_dir_non_dir and dest.exists() and dest.is_dir() != member.isdir():
                    raise InvalidArgument(
                        f"cannot overwrite {member.name}: directory/non-directory mismatch"
                    )
                # Members were checked above; Debian's Python 3.11.2 predates extract(filter=).
                tar.extract(member, str(target), set_attrs=True, numeric_owner=True)
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from None


def _check_member(member: tarfile.TarInfo) -> None:
    name = os.path.normpath(member.name)
    if name.startswith("..") or os.path.isabs(member.name):
        raise InvalidArgument(f"invalid tar entry outside the destination: {member.name}")
    if member.islnk() and os.path.normpath(member.linkname).startswith(".."):
        raise InvalidArgument(f"invalid hard link outside the destination: {member.linkname}")


def changes(upper: Path, lowerdirs: list[Path]) -> list[dict[str, Any]]:
    """`docker diff`: Kind 0 changed, 1 added, 2 deleted, from the overlay upper dir."""
    result: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(upper):
        rel_dir = "/" + os.path.relpath(dirpath, upper) if dirpath != str(upper) else ""
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            path = f"{rel_dir}/{name}"
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                result.append({"Path": path, "Kind": 2})
                continue
            in_lower = any(os.path.lexists(str(lower) + path) for lower in lowerdirs)
            result.append({"Path": path, "Kind": 0 if in_lower else 1})
    result.sort(key=lambda change: change["Path"])
    return result


def _go_mode(mode: int) -> int:
    """A Unix mode as Go's os.FileMode (type bits in the high bits), as Docker encodes it."""
    perm = mode & 0o777
    kinds = {
        stat.S_IFDIR: 1 << 31,
        stat.S_IFLNK: 1 << 27,
        stat.S_IFIFO: 1 << 25,
        stat.S_IFSOCK: 1 << 24,
        stat.S_IFCHR: (1 << 26) | (1 << 21),
        stat.S_IFBLK: 1 << 26,
    }
    go = perm | kinds.get(stat.S_IFMT(mode), 0)
    if mode & stat.S_ISUID:
        go |= 1 << 23
    if mode & stat.S_ISGID:
        go |= 1 << 22
    if mode & stat.S_ISVTX:
        go |= 1 << 20
    return go
