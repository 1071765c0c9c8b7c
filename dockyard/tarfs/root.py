"""A directory used as ``/``: every path below it resolves inside it.

openat2(2) with RESOLVE_IN_ROOT resolves ``..`` and symlinks, absolute ones
included, as if the directory were the root of the file system, at every
component and atomically; RESOLVE_NO_MAGICLINKS refuses /proc/<pid>/fd-style
links. So a tree that another process changes meanwhile (a running
container's root, racing with us) can never lead outside it. An entry is then
reached through its parent's descriptor by a single name, never following a
symlink there: ``parent`` gives that pair.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from dockyard.runtime import linux
from dockyard.runtime.securejoin import resolve

# openat2 fails with EAGAIN when a rename elsewhere raced a ``..`` it resolved:
# trying again is the documented answer; a tree that never settles is an error.
_ATTEMPTS = 1000
_DIR = os.O_PATH | os.O_DIRECTORY


def components(path: str) -> list[str]:
    """``path`` cleaned as if absolute (Go's filepath.Clean of "/" + path), as components:
    never ``..``, ``.`` or empty."""
    return [part for part in posixpath.normpath("/" + path).split("/") if part]


class Root:
    """An open directory that paths are resolved in; ``strict`` refuses any symlink on the way."""

    def __init__(self, path: str | os.PathLike[str], *, strict: bool = False) -> None:
        self.path = os.fspath(path)
        self.fd = os.open(self.path, _DIR | os.O_CLOEXEC)
        self.strict = strict
        self._resolve = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
        if strict:
            self._resolve |= linux.RESOLVE_NO_SYMLINKS

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, parts: list[str], flags: int, mode: int = 0) -> int:
        """openat2 of the components ``parts`` below the root."""
        path = "/".join(parts) or "."
        for _ in range(_ATTEMPTS):
            try:
                return linux.openat2(self.fd, path, flags | os.O_CLOEXEC, mode, self._resolve)
            except BlockingIOError:
                continue
        raise OSError(errno.EAGAIN, f"{path}: the tree kept changing while it was resolved")

    def directory(self, parts: list[str], create: bool = False) -> int:
        """An O_PATH descriptor of the directory ``parts``; with ``create``, missing
        directories on the way are made (mode 0755), each inside the root, where a
        dangling symlink on the way points."""
        try:
            return self.open(parts, _DIR)
        except FileNotFoundError:
            if not create:
                raise
        parts = self.resolve("/".join(parts))
        for depth in range(1, len(parts) + 1):
            try:
                os.close(self.open(parts[:depth], _DIR))
                continue
            except FileNotFoundError:
                pass
            parent = self.open(parts[: depth - 1], _DIR)
            try:
                os.mkdir(parts[depth - 1], 0o755, dir_fd=parent)
            except FileExistsError:
                pass  # made meanwhile, or a dangling symlink: the open below tells
            finally:
                os.close(parent)
        return self.open(parts, _DIR)

    def parent(self, parts: list[str], create: bool = False) -> int:
        """The directory holding ``parts[-1]`` (see ``directory``)."""
        return self.directory(parts[:-1], create)

    def lstat(self, parts: list[str]) -> os.stat_result:
        """The entry itself, a symlink not followed."""
        if not parts:
            return os.fstat(self.fd)
        parent = self.parent(parts)
        try:
            return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)

    def readlink(self, parts: list[str]) -> str | None:
        """The target of the symlink ``parts``; None when it names something else or nothing."""
        if not parts:
            return None
        try:
            parent = self.parent(parts)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            if not stat.S_ISLNK(os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode):
                return None
            return os.readlink(parts[-1], dir_fd=parent)
        except FileNotFoundError:
            return None
        finally:
            os.close(parent)

    def read(self, parts: list[str]) -> bytes:
        """The content of the regular file ``parts`` (IsADirectoryError for anything else)."""
        # O_NONBLOCK: opening a fifo planted there must not hang.
        fd = self.open(parts, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise IsADirectoryError(errno.EISDIR, f"{'/'.join(parts)}: not a regular file")
            return f.read()

    def resolve(self, path: str) -> list[str]:
        """The components of ``path`` with every symlink followed inside the root."""
        return resolve(path, self.readlink, self.path)
