"""OCI layer tars ⇄ overlayfs layer directories.

An OCI layer marks deletions with ``.wh.NAME`` files and opaque directories
with a ``.wh..wh..opq`` file; overlayfs marks them with a 0/0 character
device and the ``trusted.overlay.opaque=y`` xattr. ``unpack`` converts the
first into the second while it extracts; ``pack`` converts back while it
archives an overlay upper directory.

Both go through ``dockyard.tarfs``, whose extractor never leaves the
destination; a layer is stricter still: absolute names, ``..`` components and
names that pass through a symbolic link are refused, since a layer is
untrusted input unpacked by root.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from dockyard.tarfs.extract import Extractor, invalid, remove
from dockyard.tarfs.pack import TarWriter
from dockyard.tarfs.root import Root

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
# Where a user namespace keeps it (trusted.* is the host root's alone): overlayfs's own
# with "userxattr", which fuse-overlayfs reads too; and fuse-overlayfs's private one.
USER_OPAQUE_XATTR = "user.overlay.opaque"
_OPAQUE_XATTRS = (OPAQUE_XATTR, USER_OPAQUE_XATTR, "user.fuseoverlayfs.opaque")
BLOCK = 512


def unpack(tar_path: Path, dest: Path) -> None:
    """Extract the layer tar at ``tar_path`` into the empty directory ``dest``.

    Owners, modes, mtimes, symlinks, hard links, devices and xattrs are kept.
    Raises InvalidArgument for a corrupt archive or a name that escapes ``dest``.
    """
    with tar_path.open("rb") as f:
        end = extract(f, dest)
    check_end(tar_path, end)


def extract(stream: BinaryIO, dest: Path) -> int:
    """Extract the uncompressed layer tar read from ``stream`` into ``dest``, as ``unpack``
    does; where the archive ended, for ``check_end`` once the whole stream is in a file."""
    with Root(dest, strict=True) as root:
        # The layer store flushes the filesystem once the layer is unpacked.
        return _LayerExtractor(root, write_behind=True).extract(stream, plain=True)


class _LayerExtractor(Extractor):
    """Layer names are plain relative paths, never through a symlink; whiteouts become overlay's."""

    def entry_parts(self, name: str) -> list[str]:
        if name.startswith("/"):
            raise invalid(f"absolute path {name!r} in archive")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise invalid(f"path {name!r} escapes the layer")
        return parts

    def special(self, member: tarfile.TarInfo, parent: int, name: str) -> bool:
        if name == OPAQUE_MARKER:
            _set_opaque(f"/proc/self/fd/{parent}")
            return True
        if name.startswith(WHITEOUT_META_PREFIX):
            return True  # aufs bookkeeping (.wh..wh.plnk and the like): nothing to do in overlay
        if name.startswith(WHITEOUT_PREFIX):
            hidden = name[len(WHITEOUT_PREFIX) :]
            remove(parent, hidden)
            os.mknod(hidden, stat.S_IFCHR, 0, dir_fd=parent)
            os.chown(hidden, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
            return True
        return False


def check_end(tar_path: Path, offset: int) -> None:
    """Refuse garbage where the archive should end (tarfile silently stops at a bad header)."""
    with tar_path.open("rb") as f:
        f.seek(offset)
        block = f.read(BLOCK)
        if not block:
            return
        if len(block) < BLOCK:
            raise invalid("unexpected end of data")
        if block.count(0) != BLOCK:
            raise invalid("invalid tar header")
        following = f.read(BLOCK)
        if following and following.count(0) != len(following):
            raise invalid("invalid tar header")


def pack(src: Path, out: BinaryIO) -> None:
    """Write the overlay upper directory ``src`` to ``out`` as an OCI layer tar.

    Names are sorted and mtimes kept, so the same directory always gives the
    same bytes. Whiteout devices become ``.wh.NAME`` files and opaque
    directories get a ``.wh..wh..opq`` entry.
    """
    with Root(src) as root, _LayerWriter(out) as writer:
        for name in sorted(os.listdir(src)):
            writer.add(root.fd, name, name)


class _LayerWriter(TarWriter):
    def special(self, info: tarfile.TarInfo, st: os.stat_result) -> bool:
        if fuse_overlayfs_marker(info.name.rpartition("/")[2]):
            return True  # the opaque directory's xattr says it already
        if not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0):
            return False
        # overlay's whiteout (which it may share between names as one hard-linked inode)
        head, _, base = info.name.rpartition("/")
        info.name = (head + "/" if head else "") + WHITEOUT_PREFIX + base
        info.mode = 0o600
        self.tar.addfile(info)
        return True

    def write(self, info: tarfile.TarInfo, st: os.stat_result, dir_fd: int = -1) -> None:
        super().write(info, st, dir_fd)
        if dir_fd >= 0 and _is_opaque(dir_fd):
            marker = tarfile.TarInfo(f"{info.name}/{OPAQUE_MARKER}")
            marker.uid, marker.gid, marker.mtime = info.uid, info.gid, info.mtime
            marker.mode = info.mode & 0o777
            self.tar.addfile(marker)


def _set_opaque(path: str) -> None:
    try:
        os.setxattr(path, OPAQUE_XATTR, b"y")
    except PermissionError:  # in a user namespace (a rootless engine)
        os.setxattr(path, USER_OPAQUE_XATTR, b"y")


def fuse_overlayfs_marker(name: str) -> bool:
    """Whether an upper dir's entry is fuse-overlayfs's mark of an opaque directory: a
    ``.wh..wh..opq`` file and a whiteout named ``.wh..opq`` beside its xattr. A layer
    cannot hold a file of such a name: ``.wh.`` names are the layer format's own."""
    return name.startswith(WHITEOUT_PREFIX)


def _is_opaque(fd: int) -> bool:
    """Whether an upper dir's directory is opaque: one of the xattrs that say so, or the
    ``.wh..wh..opq`` file that fuse-overlayfs adds (its only mark it can read back where
    it may set no xattr)."""
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(fd, name) == b"y":
                return True
        except OSError:
            continue
    try:
        return stat.S_ISREG(os.stat(OPAQUE_MARKER, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def disk_usage(root: Path) -> int:
    """Bytes used by the files under ``root``: every inode once, directories not counted."""
    seen: set[int] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISDIR(st.st_mode) or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_size
    return total
