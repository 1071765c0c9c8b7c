"""OCI layer tars ⇄ overlayfs layer directories.

An OCI layer marks deletions with ``.wh.NAME`` files and opaque directories
with a ``.wh..wh..opq`` file; overlayfs marks them with a 0/0 character
device and the ``trusted.overlay.opaque=y`` xattr. ``unpack`` converts the
first into the second while it extracts; ``pack`` converts back while it
archives an overlay upper directory.

Extraction never leaves the destination: absolute names, ``..`` components
and names that pass through a symbolic link are refused, since a layer is
untrusted input unpacked by root.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import InvalidArgument

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_XATTR_PREFIX = "trusted.overlay."
PAX_XATTR_PREFIX = "SCHILY.xattr."
# Like Docker, a layer made from a directory carries only the file capabilities.
PACKED_XATTRS = ("security.capability",)
BLOCK = 512


def invalid(reason: str) -> InvalidArgument:
    return InvalidArgument(f"invalid tar archive: {reason}")


def unpack(tar_path: Path, dest: Path) -> None:
    """Extract the layer tar at ``tar_path`` into the empty directory ``dest``.

    Owners, modes, mtimes, symlinks, hard links, devices and xattrs are kept.
    Raises InvalidArgument for a corrupt archive or a name that escapes ``dest``.
    """
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    try:
        with tarfile.open(tar_path, mode="r:", encoding="utf-8", errors="surrogateescape") as tar:
            for member in tar:
                _extract(tar, member, dest, dirs)
            _check_end(tar_path, tar.offset)
    except (tarfile.TarError, EOFError) as e:
        raise invalid(str(e) or type(e).__name__) from None
    # A directory's mtime changes as entries are created in it: set it last, deepest first.
    for path, member in reversed(dirs):
        _set_times(path, member)


def _check_end(tar_path: Path, offset: int) -> None:
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


def _components(name: str) -> list[str]:
    """The path components of a member name, refusing any that would leave the layer."""
    if name.startswith("/"):
        raise invalid(f"absolute path {name!r} in archive")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise invalid(f"path {name!r} escapes the layer")
    return parts


def _parent_dir(dest: Path, parts: list[str], name: str, create: bool) -> Path:
    """The directory that holds ``parts[-1]``, checked component by component."""
    path = dest
    for part in parts[:-1]:
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not create:
                raise invalid(f"link target {name!r} does not exist") from None
            os.mkdir(path, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise invalid(f"path {name!r} passes through a non-directory")
    return path


def _extract(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    dest: Path,
    dirs: list[tuple[Path, tarfile.TarInfo]],
) -> None:
    parts = _components(member.name)
    if not parts:  # the layer's root directory itself
        if not member.isdir():
            raise invalid("the archive root is not a directory")
        _set_attrs(dest, member)
        dirs.append((dest, member))
        return
    parent = _parent_dir(dest, parts, member.name, create=True)
    base = parts[-1]
    if base == OPAQUE_MARKER:
        os.setxattr(parent, OPAQUE_XATTR, b"y")
        return
    if base.startswith(WHITEOUT_META_PREFIX):
        return  # aufs bookkeeping (.wh..wh.plnk and the like): nothing to do in overlay
    if base.startswith(WHITEOUT_PREFIX):
        path = parent / base[len(WHITEOUT_PREFIX) :]
        _clear(path, keep_dir=False)
        os.mknod(path, stat.S_IFCHR, 0)
        os.chown(path, member.uid, member.gid)
        return
    path = parent / base
    if member.isdir():
        _clear(path, keep_dir=True)
        if not path.is_dir():
            os.mkdir(path, 0o700)
        dirs.append((path, member))
    else:
        _clear(path, keep_dir=False)
        _create(tar, member, path, dest)
        if member.islnk():
            return  # a hard link shares its target's inode, owner, mode and times
    _set_attrs(path, member)
    if not member.isdir():
        _set_times(path, member)


def _clear(path: Path, keep_dir: bool) -> None:
    """Remove what is at ``path`` so a later entry of the same name replaces it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(path)
    else:
        os.unlink(path)


def _create(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, dest: Path) -> None:
    if member.isreg():
        source = tar.extractfile(member)
        assert source is not None  # regular members always have data
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    elif member.issym():
        os.symlink(member.linkname, path)
    elif member.islnk():
        target_parts = _components(member.linkname)
        if not target_parts:
            raise invalid(f"hard link {member.name!r} to the archive root")
        target = _parent_dir(dest, target_parts, member.linkname, create=False) / target_parts[-1]
        try:
            os.link(target, path, follow_symlinks=False)
        except FileNotFoundError:
            raise invalid(f"link target {member.linkname!r} does not exist") from None
    elif member.ischr() or member.isblk() or member.isfifo():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
        os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
    else:
        raise invalid(f"unsupported entry type {member.type!r} for {member.name!r}")


def _set_attrs(path: Path, member: tarfile.TarInfo) -> None:
    """Owner, then mode (chown clears setuid bits), then xattrs (chown clears capabilities)."""
    os.chown(path, member.uid, member.gid, follow_symlinks=False)
    if not member.issym():
        os.chmod(path, member.mode & 0o7777)
    for key, value in member.pax_headers.items():
        if not key.startswith(PAX_XATTR_PREFIX):
            continue
        name = key[len(PAX_XATTR_PREFIX) :]
        if name.startswith(OVERLAY_XATTR_PREFIX):
            continue  # overlay's own markers come only from whiteout files
        try:
            os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
        except OSError as e:
            if e.errno not in (errno.ENOTSUP, errno.EPERM):
                raise


def _set_times(path: Path, member: tarfile.TarInfo) -> None:
    mtime = int(member.mtime * 1_000_000_000)
    atime = mtime
    if "atime" in member.pax_headers:
        atime = int(float(member.pax_headers["atime"]) * 1_000_000_000)
    os.utime(path, ns=(atime, mtime), follow_symlinks=False)


def pack(src: Path, out: BinaryIO) -> None:
    """Write the overlay upper directory ``src`` to ``out`` as an OCI layer tar.

    Names are sorted and mtimes kept, so the same directory always gives the
    same bytes. Whiteout devices become ``.wh.NAME`` files and opaque
    directories get a ``.wh..wh..opq`` entry.
    """
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(
        fileobj=out,
        mode="w|",
        format=tarfile.PAX_FORMAT,
        encoding="utf-8",
        errors="surrogateescape",
    ) as tar:
        for path, name in _walk(src, ""):
            _pack_entry(tar, path, name, links)


def _walk(directory: Path, prefix: str) -> list[tuple[Path, str]]:
    """Every entry under ``directory``, parents before children, names sorted."""
    entries: list[tuple[Path, str]] = []
    for name in sorted(os.listdir(directory)):
        path = directory / name
        entries.append((path, prefix + name))
        if stat.S_ISDIR(os.lstat(path).st_mode):
            entries.extend(_walk(path, prefix + name + "/"))
    return entries


def _pack_entry(
    tar: tarfile.TarFile, path: Path, name: str, links: dict[tuple[int, int], str]
) -> None:
    st = os.lstat(path)
    info = tarfile.TarInfo(name)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    mode = st.st_mode
    if stat.S_ISCHR(mode) and st.st_rdev == 0:
        head, _, base = name.rpartition("/")
        info.name = (head + "/" if head else "") + WHITEOUT_PREFIX + base
        info.mode = 0o600
        tar.addfile(info)
        return
    if stat.S_ISSOCK(mode):
        return  # sockets do not survive archiving, as in Docker
    _add_xattrs(info, path)
    if not stat.S_ISDIR(mode) and st.st_nlink > 1:
        key = (st.st_dev, st.st_ino)
        if key in links:
            info.type, info.linkname = tarfile.LNKTYPE, links[key]
            tar.addfile(info)
            return
        links[key] = name
    if stat.S_ISREG(mode):
        info.size = st.st_size
        with path.open("rb") as f:
            tar.addfile(info, f)
        return
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    tar.addfile(info)
    if stat.S_ISDIR(mode) and _is_opaque(path):
        marker = tarfile.TarInfo(f"{name}/{OPAQUE_MARKER}")
        marker.uid, marker.gid, marker.mtime = info.uid, info.gid, info.mtime
        marker.mode = info.mode & 0o777
        tar.addfile(marker)


def _add_xattrs(info: tarfile.TarInfo, path: Path) -> None:
    for name in PACKED_XATTRS:
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue  # absent, or not supported on this file type
        info.pax_headers = {
            **info.pax_headers,
            PAX_XATTR_PREFIX + name: value.decode("utf-8", "surrogateescape"),
        }


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR) == b"y"
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
