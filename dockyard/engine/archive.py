"""`docker cp`, `docker export` and `docker diff`: files in and out of a container's root, as tar.

A running container's root is reached through /proc/<pid>/root; a stopped
one's by mounting its layers, and its volumes as Docker does, for the time of
the copies (``CopyRoots``). Every path, the one asked for and each one in the
archive, is resolved inside that root at every component (``dockyard.tarfs``),
so neither a symlink the container planted nor a process racing the copy can
lead outside it.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import io
import json
import logging
import os
import posixpath
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from dockyard.engine.container import Container
from dockyard.errors import InvalidArgument, NotFound
from dockyard.runtime import linux
from dockyard.runtime.overlay import detached_layers, mount_overlay, unmount
from dockyard.store import layertar
from dockyard.tarfs.extract import Extractor
from dockyard.tarfs.pack import TarWriter
from dockyard.tarfs.root import Root, components
from dockyard.timefmt import rfc3339

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@contextlib.contextmanager
def container_root(c: Container, lowerdirs: list[Path], storage_driver: str) -> Iterator[Path]:
    """The container's root file system, without its volumes (what a new volume copies),
    mounted with ``storage_driver`` when the container is not running."""
    if c.running:
        yield Path(f"/proc/{c.state['Pid']}/root")
        return
    target = c.root / "rootfs"
    mount_overlay(lowerdirs, c.root / "upper", c.root / "work", target, storage_driver)
    try:
        yield target
    finally:
        unmount(target)


@contextlib.contextmanager
def export_root(
    c: Container, layers: list[Path], storage_driver: str, scratch: Path
) -> Iterator[Root]:
    """What `docker export` archives: the container's file system with its init layer, and
    nothing mounted in it (no volume, no /proc), as moby archives the container's layer.

    A running container's is the overlay its shim mounted: its volumes are mounted in
    the container's own mount namespace, not there. A stopped one's (or one that
    stopped meanwhile) is ``layers`` (its upper dir, init layer and image layers)
    as a read-only overlay mounted nowhere (with ``storage_driver``; fuse-overlayfs's
    for a moment on a directory of ``scratch``), which needs no clean-up and lets the
    container start meanwhile.
    """
    if c.running:
        with Root(c.root / "rootfs") as root:
            if os.fstat(root.fd).st_dev != os.stat(c.root).st_dev:  # still mounted
                yield root
                return
    with (
        detached_layers(layers, storage_driver, scratch) as mount,
        Root(f"/proc/self/fd/{mount}") as root,
    ):
        yield root


class CopyRoots:
    """The roots copies see. A container that is not running gets its layers and its
    volumes (binds of ``mounts``, OCI mounts) mounted once at ``copy/``, shared by the
    copies in progress: a copy out goes on after its call returns, while the tar is read.
    Its own mount point keeps it clear of the shim's ``rootfs/`` should the container start.
    """

    def __init__(self, storage_driver: str) -> None:
        self.storage_driver = storage_driver
        self._lock = threading.Lock()
        self._users: dict[str, int] = {}  # container id → copies using its mounted root

    @contextlib.contextmanager
    def open(self, c: Container, lowerdirs: list[Path], mounts: list[dict]) -> Iterator[Root]:
        if c.running:
            with Root(f"/proc/{c.state['Pid']}/root") as root:
                yield root
            return
        target = c.root / "copy"
        with self._lock:
            if not self._users.get(c.id):
                _mount_stopped(target, c, lowerdirs, mounts, self.storage_driver)
            self._users[c.id] = self._users.get(c.id, 0) + 1
        try:
            with Root(target) as root:
                yield root
        finally:
            with self._lock:
                self._users[c.id] -= 1
                if not self._users[c.id]:
                    del self._users[c.id]
                    unmount(target)  # detaches the volumes mounted below it too

    def in_use(self, cid: str) -> bool:
        """Whether copies have the container's ``copy/`` mounted now."""
        with self._lock:
            return bool(self._users.get(cid))

    def detach(self, c: Container) -> None:
        """Before the container's directory is removed, so that removing it cannot reach
        into its volumes: copies in progress go on reading the detached tree through
        their descriptors (a mount left by a daemon that died goes too)."""
        with self._lock:
            unmount(c.root / "copy")


def _mount_stopped(
    target: Path, c: Container, lowerdirs: list[Path], mounts: list[dict], storage_driver: str
) -> None:
    unmount(target)  # one a daemon that died left behind
    mount_overlay(lowerdirs, c.root / "upper", c.root / "work", target, storage_driver)
    try:
        with Root(target) as root:
            for mount in mounts:
                if mount["type"] == "bind":
                    _bind(root, mount)
    except BaseException:
        unmount(target)
        raise


def _bind(root: Root, mount: dict) -> None:
    parts = components(mount["destination"])
    if os.path.isdir(mount["source"]):
        os.close(root.directory(parts, create=True))
    else:
        parent = root.parent(parts, create=True)
        try:
            with contextlib.suppress(FileExistsError):
                os.close(os.open(parts[-1], os.O_CREAT | os.O_EXCL, 0o644, dir_fd=parent))
        finally:
            os.close(parent)
    _mount_at(root, parts, mount["source"], linux.MS_BIND | linux.MS_REC)
    if "ro" in mount["options"]:
        # Opened again, the path now leads to the new mount: the one to make read-only.
        _mount_at(root, parts, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)


def _mount_at(root: Root, parts: list[str], source: str | None, flags: int) -> None:
    """Mount on ``parts`` named by a descriptor opened inside the root, never by a path."""
    fd = root.open(parts, os.O_PATH)
    try:
        linux.mount(source, f"/proc/self/fd/{fd}", None, flags)
    finally:
        os.close(fd)


def _follows_last(path: str) -> bool:
    """Docker resolves the last component of ``dir/`` and ``dir/.``, never of ``name``."""
    return path.endswith(("/", "/.")) or path == "."


def _source(root: Root, path: str) -> list[str]:
    if not path:
        raise InvalidArgument("path cannot be empty")
    return root.resolve(path) if _follows_last(path) else components(path)


def _not_found(path: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container")


def _unreachable(path: str, error: OSError) -> InvalidArgument:
    """A path that cannot be resolved in the root (a /proc magic link, a loop...)."""
    return InvalidArgument(f"cannot resolve {path} in the container: {error.strerror}")


def stat_path(root: Root, path: str) -> dict[str, Any]:
    """The X-Docker-Container-Path-Stat object; a symlink's target fully resolved in the root."""
    try:
        st = root.lstat(_source(root, path))
        link = "/" + "/".join(root.resolve(path)) if stat.S_ISLNK(st.st_mode) else ""
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found(path) from None
    except OSError as e:
        raise _unreachable(path, e) from None
    return {
        "name": os.path.basename(path.rstrip("/")) or "/",
        "size": st.st_size,
        "mode": _go_mode(st.st_mode),
        "mtime": rfc3339(st.st_mtime),
        "linkTarget": link,
    }


def encode_stat(info: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(info).encode()).decode()


def get(root_context: AbstractContextManager[Root], path: str) -> tuple[BinaryIO, dict[str, Any]]:
    """A tar of ``path`` (a file or a whole directory), named by its basename like Docker's,
    and its stat. The root (``root_context``) stays open until the tar is written or its
    reader closes it."""

    def check(root: Root) -> dict[str, Any]:
        info = stat_path(root, path)
        if path.endswith("/") and not info["mode"] & _GO_DIR:
            raise InvalidArgument(f"not a directory: {path}")
        return info

    def write(root: Root, out: BinaryIO) -> None:
        _write_tar(root, path, out)

    return _produce(root_context, check, write, f"docker cp of {path}")


def export(root_context: AbstractContextManager[Root], done: Callable[[], None]) -> BinaryIO:
    """`docker export`: a tar of everything below the root, named from it ("bin/sh") as
    moby's archive of a container's root names it; ``done`` is called once it is all written."""

    def write(root: Root, out: BinaryIO) -> None:
        with TarWriter(out) as writer:
            writer.add_contents(root.fd)
        done()

    tar, _ = _produce(root_context, lambda root: None, write, "docker export")
    return tar


class TarStream(io.RawIOBase):
    """The reading end of a tar a thread writes: a tar that could not be finished ends
    with an OSError instead of an end of file, so that its reader never takes it for whole."""

    def __init__(self, fd: int, failed: threading.Event) -> None:
        self._file = os.fdopen(fd, "rb", buffering=0)  # unbuffered: read() gives what is there
        self._failed = failed

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(buffer) or 0
        if not count and self._failed.is_set():
            raise OSError(errno.EIO, "the archive could not be finished")
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def _produce(
    root_context: AbstractContextManager[Root],
    prepare: Callable[[Root], _T],
    write: Callable[[Root, BinaryIO], None],
    what: str,
) -> tuple[BinaryIO, _T]:
    """A tar written by a thread into a pipe as it is read: nothing is staged. The thread
    enters ``root_context`` and calls ``prepare``, whose result (or error) is returned here
    before any byte is read, then ``write``s the tar."""
    prepared: Future[_T] = Future()
    failed = threading.Event()
    read_end, write_end = os.pipe2(os.O_CLOEXEC)

    def produce() -> None:
        out = os.fdopen(write_end, "wb")
        try:
            with root_context as root:
                prepared.set_result(prepare(root))
                write(root, out)
        except BrokenPipeError:
            pass  # the reader went away
        except BaseException as e:
            if not prepared.done():
                prepared.set_exception(e)
            else:
                failed.set()  # before the reader can see the end of the pipe
                log.warning("%s stopped: %s", what, e)
        finally:
            with contextlib.suppress(BrokenPipeError):
                out.close()

    threading.Thread(target=produce, name="tar-out", daemon=True).start()
    try:
        result = prepared.result()
    except BaseException:
        os.close(read_end)
        raise
    return cast(BinaryIO, TarStream(read_end, failed)), result


def _write_tar(root: Root, path: str, out: BinaryIO) -> None:
    parts = _source(root, path)
    name = _top_name(path)
    with TarWriter(out) as writer:
        if not parts:
            writer.add(root.fd, ".", name)
            return
        parent = root.parent(parts)
        try:
            writer.add(parent, parts[-1], name)
        finally:
            os.close(parent)


def _top_name(path: str) -> str:
    """The archive's top entry: "." for ``dir/.``, else the base name ("/" for the root)."""
    if path.endswith("/."):
        return "."
    return posixpath.basename(posixpath.normpath("/" + path)) or "/"


def put(root: Root, path: str, archive: BinaryIO, no_overwrite_dir_non_dir: bool = False) -> None:
    """Extract a tar into the directory ``path`` of the container."""
    try:
        os.close(root.open(components(path), os.O_PATH | os.O_DIRECTORY))
    except FileNotFoundError:
        raise _not_found(path) from None
    except NotADirectoryError:
        raise InvalidArgument(f"extraction point is not a directory: {path}") from None
    except OSError as e:
        raise _unreachable(path, e) from None
    Extractor(root, path, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir).extract(archive)


def changes(upper: Path, lowerdirs: list[Path]) -> list[dict[str, Any]]:
    """`docker diff`: Kind 0 changed, 1 added, 2 deleted, from the overlay upper dir."""
    result: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(upper):
        rel_dir = "/" + os.path.relpath(dirpath, upper) if dirpath != str(upper) else ""
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            path = f"{rel_dir}/{name}"
            if layertar.fuse_overlayfs_marker(name):
                continue
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                result.append({"Path": path, "Kind": 2})
                continue
            in_lower = any(os.path.lexists(str(lower) + path) for lower in lowerdirs)
            result.append({"Path": path, "Kind": 0 if in_lower else 1})
    result.sort(key=lambda change: change["Path"])
    return result


_GO_DIR = 1 << 31


def _go_mode(mode: int) -> int:
    """A Unix mode as Go's os.FileMode (type bits in the high bits), as Docker encodes it."""
    perm = mode & 0o777
    kinds = {
        stat.S_IFDIR: _GO_DIR,
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
