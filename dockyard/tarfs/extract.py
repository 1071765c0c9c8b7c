"""The one tar extractor: layers, build contexts, ADD, ``docker cp`` both ways.

Every entry lands below ``dest`` inside a ``Root``: its parent directory is
opened with openat2(RESOLVE_IN_ROOT), so a symlink the archive (or a process
racing with us) planted on the way resolves inside the root too; the entry is
then created, changed and timed through that descriptor by its single name,
never following a symlink at the end. A hard link's target is reached the same
way and linked as it is (a symlink stays a symlink).

An archive that cannot be extracted is an InvalidArgument naming the entry:
"invalid tar archive: ..." when the archive is at fault.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol, cast

from dockyard.errors import InvalidArgument
from dockyard.tarfs.root import Root, components
from dockyard.writeback import WriteBehind

PAX_XATTR_PREFIX = "SCHILY.xattr."
# overlayfs's own markers (opaque, redirect, origin) are never taken from an archive.
OVERLAY_XATTR_PREFIX = "trusted.overlay."
_CHUNK = 1 << 20


def invalid(reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid tar archive: {reason}")


class DigestSink(Protocol):
    def remember(self, st: os.stat_result, digest: str) -> None: ...


class Extractor:
    """Unpacks tar streams below ``dest`` in ``root``.

    ``keep_owner`` applies the archive's uid/gid (else files belong to us);
    ``no_overwrite_dir_non_dir`` refuses to replace a directory by a
    non-directory and the reverse (docker cp); ``digests`` learns the sha256 of
    each regular file written; ``rename`` maps each entry's name (and a hard
    link's target) first; ``write_behind`` starts the disk on files' data as it
    is written (for a store that flushes them all at its end).
    """

    def __init__(
        self,
        root: Root,
        dest: str = "/",
        *,
        keep_owner: bool = True,
        no_overwrite_dir_non_dir: bool = False,
        digests: DigestSink | None = None,
        rename: Callable[[str], str] | None = None,
        write_behind: bool = False,
    ) -> None:
        self.root = root
        self.dest = components(dest)
        self.keep_owner = keep_owner
        self.no_overwrite_dir_non_dir = no_overwrite_dir_non_dir
        self.digests = digests
        self.rename = rename
        self.write_behind = write_behind
        self._dirs: list[tuple[list[str], tarfile.TarInfo]] = []

    def extract(self, stream: BinaryIO, *, plain: bool = False) -> int:
        """Unpack the (possibly compressed) tar ``stream``, ``dest`` made when missing;
        ``plain``: it is an uncompressed tar (read in larger pieces).

        Returns the offset at which the archive ended (its end-of-archive blocks).
        """
        self._dirs = []
        name = ""
        try:
            os.close(self.root.directory(self.dest, create=True))
            with _open(stream, plain) as tar:
                for member in _members(tar):
                    name = member.name
                    self._extract(tar, member)
                name = ""
                # A directory's mtime changes as entries are made in it: set it last, deepest first.
                for parts, member in reversed(self._dirs):
                    self._set_dir_times(parts, member)
                return tar.offset
        except (tarfile.TarError, EOFError) as e:
            raise invalid(str(e) or type(e).__name__) from None
        except (ValueError, OverflowError) as e:  # a NUL in a name, a number out of range
            raise invalid(f"{name}: {e}" if name else str(e)) from None
        except OSError as e:
            if e.errno == errno.ELOOP and self.root.strict:
                raise invalid(f"{name}: the path passes through a symbolic link") from None
            where = f" {name!r}" if name else ""
            raise InvalidArgument(f"cannot extract{where}: {e.strerror or e}") from None

    # -- one entry ------------------------------------------------------------

    def _extract(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = self.entry_parts(self.rename(member.name) if self.rename else member.name)
        path = self.dest + parts
        if not parts:  # the archive's root: the destination itself
            if not member.isdir():
                raise invalid("the archive root is not a directory")
            self._set_dest_attrs(path, member)
            return
        parent = self.root.parent(path, create=True)
        try:
            name = path[-1]
            if self.special(member, parent, name):
                return
            self._make_room(parent, name, member, path)
            if member.isreg():
                self._write(tar, member, parent, name)
                return
            self._create(member, parent, name)
            if member.islnk():
                return  # a hard link shares its target's inode, owner, mode and times
            self._set_attrs(member, parent, name)
            if member.isdir():
                self._dirs.append((path, member))
            else:
                _set_times(member, parent, name)
        finally:
            os.close(parent)

    def entry_parts(self, name: str) -> list[str]:
        """The components of an entry's name below ``dest``; one that climbs out is refused."""
        cleaned = posixpath.normpath(name.lstrip("/"))
        if cleaned == ".." or cleaned.startswith("../"):
            raise invalid(f"entry {name!r} is outside the archive")
        return components(cleaned)

    def special(self, member: tarfile.TarInfo, parent: int, name: str) -> bool:
        """Entries a subclass handles itself (layers: whiteouts); True when handled."""
        return False

    def _make_room(self, parent: int, name: str, member: tarfile.TarInfo, path: list[str]) -> None:
        """Only a directory over a directory is kept; anything else there goes first."""
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        is_dir = stat.S_ISDIR(st.st_mode)
        if self.no_overwrite_dir_non_dir and is_dir != member.isdir():
            shown = "/" + "/".join(path)
            if is_dir:
                raise invalid(f"cannot overwrite directory {shown!r} with non-directory")
            raise invalid(f"cannot overwrite non-directory {shown!r} with directory")
        if not (is_dir and member.isdir()):
            remove(parent, name, st)

    def _write(self, tar: tarfile.TarFile, member: tarfile.TarInfo, parent: int, name: str) -> None:
        source = tar.extractfile(member)
        if source is None:
            raise invalid(f"cannot read {member.name!r}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=parent)
        try:
            # Hashed only for whoever asked for the files' digests.
            digest = hashlib.sha256() if self.digests is not None else None
            behind = WriteBehind(fd) if self.write_behind else None
            while chunk := source.read(_CHUNK):
                if digest is not None:
                    digest.update(chunk)
                _write_all(fd, chunk)
                if behind is not None:
                    behind.wrote(len(chunk))
            self._set_inode_attrs(fd, member)
            os.utime(fd, ns=_times(member))
            if self.digests is not None and digest is not None:
                self.digests.remember(os.fstat(fd), digest.hexdigest())
        finally:
            os.close(fd)

    def _create(self, member: tarfile.TarInfo, parent: int, name: str) -> None:
        if member.isdir():
            if not _is_dir(parent, name):
                os.mkdir(name, 0o700, dir_fd=parent)
        elif member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
        elif member.islnk():
            self._link(member, parent, name)
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = (
                stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
            )
            device = os.makedev(member.devmajor, member.devminor)
            os.mknod(name, kind | 0o600, device, dir_fd=parent)
        else:
            raise invalid(f"unsupported entry type {member.type!r} for {member.name!r}")

    def _link(self, member: tarfile.TarInfo, parent: int, name: str) -> None:
        linkname = self.rename(member.linkname) if self.rename else member.linkname
        target = self.dest + self.entry_parts(linkname)
        if len(target) == len(self.dest):
            raise invalid(f"hard link {member.name!r} to the archive root")
        try:
            target_parent = self.root.parent(target)
        except (FileNotFoundError, NotADirectoryError):
            raise invalid(f"link target {member.linkname!r} does not exist") from None
        try:
            os.link(
                target[-1],
                name,
                src_dir_fd=target_parent,
                dst_dir_fd=parent,
                follow_symlinks=False,
            )
        except FileNotFoundError:
            raise invalid(f"link target {member.linkname!r} does not exist") from None
        finally:
            os.close(target_parent)

    def _set_attrs(self, member: tarfile.TarInfo, parent: int, name: str) -> None:
        if member.issym():  # a symlink's mode means nothing; user xattrs are not allowed on one
            if self.keep_owner:
                os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            return
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            if not stat.S_ISLNK(os.fstat(fd).st_mode):  # else swapped meanwhile: never follow
                self._set_inode_attrs(fd, member)
        finally:
            os.close(fd)

    def _set_dest_attrs(self, path: list[str], member: tarfile.TarInfo) -> None:
        fd = self.root.directory(path)
        try:
            self._set_inode_attrs(fd, member)
        finally:
            os.close(fd)
        self._dirs.append((path, member))

    def _set_inode_attrs(self, fd: int, member: tarfile.TarInfo) -> None:
        """Owner, then mode (chown clears setuid bits), then xattrs (chown clears
        capabilities), of the inode open as ``fd``. Through its /proc link: Linux has no
        lchmod and fchmod refuses an O_PATH descriptor; the link names exactly the
        inode opened, no path is resolved again."""
        path = _fd_path(fd)
        if self.keep_owner:
            os.chown(path, member.uid, member.gid)
        os.chmod(path, member.mode & 0o7777)
        _set_xattrs(member, path)

    def _set_dir_times(self, path: list[str], member: tarfile.TarInfo) -> None:
        try:
            fd = self.root.directory(path)
        except (FileNotFoundError, NotADirectoryError):
            return  # removed by a later entry
        try:
            os.utime(_fd_path(fd), ns=_times(member))
        finally:
            os.close(fd)


def remove(parent: int, name: str, st: os.stat_result | None = None) -> None:
    """Remove the entry ``name`` of the directory ``parent``, whatever it is, if it is."""
    try:
        st = st or os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=parent)
    else:
        os.unlink(name, dir_fd=parent)


def _open(stream: BinaryIO, plain: bool) -> tarfile.TarFile:
    """A tar reader of ``stream``: tarfile's stream mode (which finds the compression) reads
    10 KB pieces and joins them; a plain tar is read by its random-access mode instead,
    which reads what it needs at once and, on a forward-only stream, only seeks ahead."""
    if plain:
        forward = cast(BinaryIO, _Forward(stream))
        return tarfile.open(fileobj=forward, mode="r:", encoding="utf-8", errors="surrogateescape")
    return tarfile.open(fileobj=stream, mode="r|*", encoding="utf-8", errors="surrogateescape")


class _Forward:
    """A stream read once, start to end, as tarfile reads a file: each read whole (but at
    the end), and a seek skipping ahead."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            data = self._stream.read()
        else:
            data = self._stream.read(size)
            while 0 < len(data) < size:  # a pipe or a decompressor gives what it has
                more = self._stream.read(size - len(data))
                if not more:
                    break
                data += more
        self._offset += len(data)
        return data

    def tell(self) -> int:
        return self._offset

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET or offset < self._offset:
            raise OSError(errno.ESPIPE, "a tar stream is only read forward")
        while self._offset < offset and self.read(min(_CHUNK, offset - self._offset)):
            pass
        return self._offset


def _members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The archive's entries; like Go's reader (and Docker), an archive whose last
    entry lacks its padding and the end-of-archive blocks still ends cleanly there.
    The docker CLI sends such archives when it adds a Dockerfile from outside the
    context. A truncated entry's data is still an error: it fails while being read.
    """
    while True:
        try:
            member = tar.next()
        except tarfile.ReadError as e:
            if str(e) == "unexpected end of data":  # raised while skipping the padding
                return
            raise
        if member is None:
            return
        yield member


def _fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _is_dir(parent: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _times(member: tarfile.TarInfo) -> tuple[int, int]:
    mtime = int(member.mtime * 1_000_000_000)
    atime = mtime
    if "atime" in member.pax_headers:
        atime = int(float(member.pax_headers["atime"]) * 1_000_000_000)
    return atime, mtime


def _set_times(member: tarfile.TarInfo, parent: int, name: str) -> None:
    os.utime(name, ns=_times(member), dir_fd=parent, follow_symlinks=False)


def _set_xattrs(member: tarfile.TarInfo, target: str) -> None:
    for key, value in member.pax_headers.items():
        if not key.startswith(PAX_XATTR_PREFIX):
            continue
        name = key[len(PAX_XATTR_PREFIX) :]
        if name.startswith(OVERLAY_XATTR_PREFIX):
            continue
        try:
            os.setxattr(target, name, value.encode("utf-8", "surrogateescape"))
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise
