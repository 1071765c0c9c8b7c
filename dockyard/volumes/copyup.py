"""Docker's copy-up: an empty volume first mounted over a directory of the image gets its content.

The copy keeps what the image says about each file (owner, mode, times,
extended attributes, hard links, symlinks, devices and fifos) and the
directory's own owner and mode, so a volume at /var/lib/postgresql/data
belongs to postgres as the image's directory did.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat

_COPY_CHUNK = 1 << 20


def copy_into_empty(source: str, target: str) -> None:
    """Copy the tree under the directory ``source`` into the empty directory ``target``."""
    links: dict[tuple[int, int], str] = {}
    _copy_children(source, target, links)
    _copy_metadata(source, target, os.lstat(source))


def _copy_children(source: str, target: str, links: dict[tuple[int, int], str]) -> None:
    with os.scandir(source) as entries:
        for entry in entries:
            _copy_entry(entry.path, os.path.join(target, entry.name), links)


def _copy_entry(source: str, target: str, links: dict[tuple[int, int], str]) -> None:
    st = os.lstat(source)
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        os.mkdir(target, 0o700)
        _copy_children(source, target, links)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(source), target)
    else:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], target)
            return
        links[key] = target
        _copy_file(source, target, st)
    _copy_metadata(source, target, st)


def _copy_file(source: str, target: str, st: os.stat_result) -> None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        with open(source, "rb") as src, open(target, "xb") as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
    elif stat.S_ISFIFO(mode):
        os.mkfifo(target, 0o600)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(target, stat.S_IFMT(mode) | 0o600, st.st_rdev)
    # A socket is a live endpoint of a process, not content: Docker skips it too.


def _copy_metadata(source: str, target: str, st: os.stat_result) -> None:
    if not os.path.lexists(target):
        return
    os.chown(target, st.st_uid, st.st_gid, follow_symlinks=False)
    for name in _xattrs(source):
        with contextlib.suppress(OSError):  # a name the target filesystem does not take
            value = os.getxattr(source, name, follow_symlinks=False)
            os.setxattr(target, name, value, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        # After chown, which clears set-uid bits.
        os.chmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _xattrs(path: str) -> list[str]:
    try:
        return os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
