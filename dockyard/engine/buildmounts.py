"""Where RUN mounts live on the host: cache mounts' directories, and tmpfs for secrets.

A cache mount (``RUN --mount=type=cache``) is a directory under the data root
that outlives builds: ``<root>/<key>`` (private instances ``<key>.<n>``), with
a lock file beside each. ``shared`` users hold a shared lock, ``locked`` ones
an exclusive lock (waiting for the others), and a ``private`` user takes the
first instance no one holds, making a new one when all are held, as BuildKit
does. ``builder prune`` removes every directory no build holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from dockyard.runtime import linux
from dockyard.runtime.overlay import unmount

_LOCK_SUFFIX = ".lock"
_MEMORY_SIZE = "64m"


class CacheMounts:
    def __init__(self, root: Path) -> None:
        self.root = root

    @contextlib.contextmanager
    def use(self, key: str, sharing: str, init: Callable[[Path], None]) -> Iterator[Path]:
        """The directory of cache ``key`` while the block runs; ``init`` fills a new one."""
        self.root.mkdir(parents=True, exist_ok=True)
        if sharing == "private":
            name, lock = self._free_instance(key)
        else:
            name = key
            lock = self._lock(name, fcntl.LOCK_EX if sharing == "locked" else fcntl.LOCK_SH)
        try:
            yield self._ready(name, init)
        finally:
            os.close(lock)

    def _free_instance(self, key: str) -> tuple[str, int]:
        for n in itertools.count():
            name = key if n == 0 else f"{key}.{n}"
            with contextlib.suppress(BlockingIOError):
                return name, self._lock(name, fcntl.LOCK_EX | fcntl.LOCK_NB)
        raise AssertionError("unreachable")

    def _lock(self, name: str, operation: int) -> int:
        fd = os.open(self.root / (name + _LOCK_SUFFIX), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, operation)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _ready(self, name: str, init: Callable[[Path], None]) -> Path:
        directory = self.root / name
        if directory.is_dir():
            return directory
        fresh = self.root / f".new-{secrets.token_hex(8)}"
        fresh.mkdir()
        try:
            init(fresh)
            fresh.rename(directory)
        except OSError:
            if not directory.is_dir():  # not another user's new directory: a real failure
                raise
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        return directory

    def prune(self) -> tuple[list[str], int]:
        """Remove every cache directory no build holds: (their names, bytes freed)."""
        removed: list[str] = []
        freed = 0
        for directory in self._directories():
            try:
                lock = self._lock(directory.name, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a build is using it
            try:
                freed += _size(directory)
                shutil.rmtree(directory)
                (self.root / (directory.name + _LOCK_SUFFIX)).unlink(missing_ok=True)
            finally:
                os.close(lock)
            removed.append(directory.name)
        return removed, freed

    def usage(self) -> list[tuple[str, int, float]]:
        """(name, bytes, last change) of each cache directory."""
        return [(p.name, _size(p), p.stat().st_mtime) for p in self._directories()]

    def _directories(self) -> list[Path]:
        """The cache directories (not those a build is filling: ``.new-*``)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))


@contextlib.contextmanager
def memory_dir(parent: Path) -> Iterator[Path]:
    """A new directory under ``parent`` on its own tmpfs (0700), unmounted and gone on exit."""
    path = parent / f"memory-{secrets.token_hex(8)}"
    path.mkdir(mode=0o700)
    try:
        flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
        linux.mount("tmpfs", str(path), "tmpfs", flags, f"mode=700,size={_MEMORY_SIZE}")
        try:
            yield path
        finally:
            unmount(path)
    finally:
        path.rmdir()


def _size(directory: Path) -> int:
    total = 0
    for base, _, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_blocks * 512
    return total
