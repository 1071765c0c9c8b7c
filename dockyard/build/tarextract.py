"""Unpacking a tar stream into a directory tree, never writing outside it.

Used for the build context a client sends and for ADD of a local archive.
Every entry's parent is resolved inside the root (``secure_join``), so an entry
behind a symlink the archive itself planted lands inside the root too.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from dockyard.errors import InvalidArgument
from dockyard.runtime.securejoin import secure_join

_CHUNK = 1 << 20


class DigestSink(Protocol):
    def remember(self, st: os.stat_result, digest: str) -> None: ...


def extract_tar(
    stream: BinaryIO,
    root: Path,
    dest: str = "",
    *,
    digests: DigestSink | None = None,
    keep_owner: bool = False,
) -> None:
    """Unpack the (possibly compressed) tar ``stream`` at ``dest`` inside ``root``.

    ``digests`` learns the content digest of each regular file as it is
    written; ``keep_owner`` keeps the archive's uid and gid (else the caller's).
    Raises InvalidArgument for a malformed archive.
    """
    dir_times: list[tuple[Path, float]] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            for member in _members(archive):
                target = _place(root, dest, member)
                if target is None:
                    continue
                _create(archive, member, target, root, dest, digests)
                if keep_owner:
                    os.lchown(target, member.uid, member.gid)
                if member.isdir():
                    dir_times.append((target, member.mtime))  # set once its entries are in
                elif not member.issym() and not member.isreg():
                    os.utime(target, (member.mtime, member.mtime))
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from None
    for path, mtime in reversed(dir_times):
        os.utime(path, (mtime, mtime))


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The archive's entries; like Go's reader (and Docker), an archive whose last
    entry lacks its padding and the end-of-archive blocks still ends cleanly there.
    The docker CLI sends such archives when it adds a Dockerfile from outside the
    context. A truncated entry's data is still an error: it fails while being read.
    """
    while True:
        try:
            member = archive.next()
        except tarfile.ReadError as e:
            if str(e) == "unexpected end of data":  # raised while skipping the padding
                return
            raise
        if member is None:
            return
        yield member


def _place(root: Path, dest: str, member: tarfile.TarInfo) -> Path | None:
    """The host path for ``member``, its parents created; None for the archive root."""
    rel = posixpath.normpath(member.name.lstrip("/"))
    if rel == ".":
        return None
    if rel == ".." or rel.startswith("../"):
        raise InvalidArgument(f"invalid tar archive: entry {member.name!r} is outside the archive")
    parent, _, base = posixpath.join(dest, rel).rpartition("/")
    host_parent = Path(secure_join(str(root), parent))
    host_parent.mkdir(parents=True, exist_ok=True)
    target = host_parent / base
    make_room(target, keep_dir=member.isdir())
    return target


def make_room(target: Path, keep_dir: bool) -> None:
    """Make room for a new entry: only a directory over a directory is kept."""
    try:
        st = target.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(target)
    else:
        target.unlink()


def _create(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    target: Path,
    root: Path,
    dest: str,
    digests: DigestSink | None,
) -> None:
    mode = member.mode & 0o7777
    if member.isdir():
        target.mkdir(exist_ok=True)
        os.chmod(target, mode)
    elif member.isreg():
        digest = _write(archive, member, target)
        os.chmod(target, mode)
        os.utime(target, (member.mtime, member.mtime))
        if digests is not None:
            digests.remember(target.lstat(), digest)
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        linked = posixpath.join(dest, member.linkname.lstrip("/"))
        directory, _, name = linked.rpartition("/")
        os.link(Path(secure_join(str(root), directory)) / name, target)
    elif member.isfifo():
        os.mkfifo(target, mode)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(target, mode | kind, os.makedev(member.devmajor, member.devminor))


def _write(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    source = archive.extractfile(member)
    if source is None:
        raise InvalidArgument(f"invalid tar archive: cannot read {member.name!r}")
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def is_archive(path: Path) -> bool:
    """Whether ADD should unpack ``path``: a tar, possibly compressed."""
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
