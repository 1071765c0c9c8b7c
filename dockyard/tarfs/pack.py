"""The one tar writer: layers from an overlay upper dir, ``docker cp`` out of a container,
``docker export``, a build context sent away.

A tree is walked through directory descriptors, each entry reached from its
parent's descriptor by its single name and never through a symlink, so a tree
that changes while it is archived (a running container swapping a directory
for a symlink) can only give its own entries, never the host's. Entries come
sorted, with whole-second mtimes and no user names, so the same tree always
gives the same bytes.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO

PAX_XATTR_PREFIX = "SCHILY.xattr."
# Like Docker, an archive made from a directory carries only the file capabilities.
PACKED_XATTRS = ("security.capability",)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TarWriter:
    """Writes trees to the tar stream ``out``; hard links within one writer are kept."""

    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(  # noqa: SIM115 - closed by close()
            fileobj=out,
            mode="w|",
            format=tarfile.PAX_FORMAT,
            encoding="utf-8",
            errors="surrogateescape",
        )
        self._links: dict[tuple[int, int], str] = {}

    def close(self) -> None:
        self.tar.close()

    def __enter__(self) -> TarWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, parent: int, name: str, arcname: str) -> None:
        """The entry ``name`` of the directory ``parent`` as ``arcname``, and all below it
        (``name`` "." is ``parent`` itself)."""
        below = self._add_entry(parent, name, arcname)
        if below is not None:
            self._walk(below, _prefix(arcname))

    def add_contents(self, directory: int) -> None:
        """The entries below the directory ``directory`` (a descriptor, left open), named
        from it without a leading "./" and without an entry for the directory itself,
        as moby archives a whole root (`docker export`)."""
        self._walk(os.open(".", _DIR_FLAGS, dir_fd=directory), "")

    def _walk(self, below: int, prefix: str) -> None:
        """Everything below the directory open as ``below`` (closed here), named ``prefix``+path."""
        walk = [(below, iter(sorted(os.listdir(below))), prefix)]
        try:
            while walk:
                directory, names, prefix = walk[-1]
                child = next(names, None)
                if child is None:
                    walk.pop()
                    os.close(directory)
                    continue
                opened = self._add_entry(directory, child, prefix + child)
                if opened is not None:
                    walk.append((opened, iter(sorted(os.listdir(opened))), prefix + child + "/"))
        finally:
            for directory, _, _ in walk:
                os.close(directory)

    def _add_entry(self, parent: int, name: str, arcname: str) -> int | None:
        """Write one entry; for a directory, return its open descriptor to walk."""
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if self.excluded(arcname, stat.S_ISDIR(st.st_mode)):
            if stat.S_ISDIR(st.st_mode) and self.descend_excluded:
                return _open_dir(
                    parent, name, st
                )  # not written, but walked for what is let back in
            return None
        info = tarfile.TarInfo(arcname)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mode = stat.S_IMODE(st.st_mode)
        info.mtime = int(st.st_mtime)
        mode = st.st_mode
        if stat.S_ISSOCK(mode) or self.special(info, st):
            return None  # sockets do not survive archiving, as in Docker
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            if key in self._links:
                info.type, info.linkname = tarfile.LNKTYPE, self._links[key]
                self.write(info, st)
                return None
            self._links[key] = arcname
        if stat.S_ISREG(mode):
            self._add_file(parent, name, info, st)
            return None
        if stat.S_ISDIR(mode):
            fd = _open_dir(parent, name, st)
            if fd is None:
                return None
            info.type = tarfile.DIRTYPE
            _add_xattrs(info, fd)
            self.write(info, st, fd)
            return fd
        if stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=parent)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        else:
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self.write(info, st)
        return None

    def _add_file(self, parent: int, name: str, info: tarfile.TarInfo, st: os.stat_result) -> None:
        # O_NONBLOCK: should a fifo take the file's place meanwhile, opening it must not hang.
        fd = os.open(name, _READ_FLAGS, dir_fd=parent)
        with os.fdopen(fd, "rb") as f:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode) or not _same(opened, st):
                return  # replaced meanwhile
            info.size = opened.st_size
            _add_xattrs(info, fd)
            self.tar.addfile(info, f)

    # Whether excluded directories are still walked (an ignore file's "!" patterns).
    descend_excluded = False

    def excluded(self, arcname: str, is_dir: bool) -> bool:
        """Entries a subclass leaves out (a build context's .dockerignore)."""
        return False

    def special(self, info: tarfile.TarInfo, st: os.stat_result) -> bool:
        """Entries a subclass writes itself (layers: whiteouts); True when written."""
        return False

    def write(self, info: tarfile.TarInfo, st: os.stat_result, dir_fd: int = -1) -> None:
        """Write an entry without data (``dir_fd``: a directory's, open)."""
        self.tar.addfile(info)


def _prefix(arcname: str) -> str:
    """What the names of a directory's entries start with."""
    return arcname if arcname in ("", "/") or arcname.endswith("/") else arcname + "/"


def _open_dir(parent: int, name: str, st: os.stat_result) -> int | None:
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    if not _same(os.fstat(fd), st):
        os.close(fd)
        return None  # replaced meanwhile: what we saw is gone
    return fd


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _add_xattrs(info: tarfile.TarInfo, fd: int) -> None:
    for name in PACKED_XATTRS:
        try:
            value = os.getxattr(fd, name)
        except OSError:
            continue  # absent, or not supported on this file type
        info.pax_headers = {
            **info.pax_headers,
            PAX_XATTR_PREFIX + name: value.decode("utf-8", "surrogateescape"),
        }
