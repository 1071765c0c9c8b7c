"""COPY and ADD: placing source files into an image's mounted filesystem.

Docker's rules: a directory source copies its contents; a file lands inside
the destination when that ends with "/" or is an existing directory, else it
becomes the destination; several sources need a directory destination ending
in "/"; missing parents are created (0755); files are owned by root unless
``--chown`` says otherwise, except that ``COPY --from`` keeps the owners of the
source; ``--chmod`` sets the mode of what is copied; ADD unpacks a local tar
(and a downloaded one when asked with ``--unpack``).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.build.chmod import Chmod
from dockyard.build.context import Source, SourceTree
from dockyard.build.dockerignore import IgnoreMatcher
from dockyard.errors import InvalidArgument
from dockyard.runtime.securejoin import secure_join
from dockyard.tarfs.extract import Extractor
from dockyard.tarfs.root import Root


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


ROOT_OWNER = Owner(0, 0)


@dataclass(frozen=True)
class CopyOptions:
    owner: Owner | None  # None: keep the source's owners (COPY --from without --chown)
    chmod: Chmod | None
    unpack_local: bool = False  # ADD unpacks a local archive (unless --unpack=false)
    unpack_downloaded: bool = False  # and a downloaded one with --unpack
    exclude: IgnoreMatcher | None = None  # --exclude, by the path below a directory source


def destination(workdir: str, dest: str) -> str:
    """An absolute destination, relative ones taken from WORKDIR; a trailing "/" kept."""
    directory = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
    path = posixpath.normpath(posixpath.join("/", workdir or "/", dest))
    return path.rstrip("/") + "/" if directory else path


def parse_chown(spec: str, root: Path) -> Owner:
    """``user[:group]`` by number or by name in the image's /etc/passwd and /etc/group."""
    user, sep, group = spec.partition(":")
    if not user or (sep and not group) or ":" in group:
        raise InvalidArgument(f"invalid chown string format: {spec}")
    passwd = _table(root, "etc/passwd")
    uid, primary_gid = _lookup_user(user, passwd)
    if not sep:
        return Owner(uid, primary_gid)
    return Owner(uid, _lookup_group(group, _table(root, "etc/group")))


def _table(root: Path, rel: str) -> list[list[str]]:
    try:
        text = _in_root(root, rel).read_text(errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _lookup_user(user: str, passwd: list[list[str]]) -> tuple[int, int]:
    if user.isdigit():
        entry = next((e for e in passwd if len(e) > 3 and e[2] == user), None)
        return int(user), int(entry[3]) if entry else int(user)
    entry = next((e for e in passwd if len(e) > 3 and e[0] == user), None)
    if entry is None:
        raise InvalidArgument(f"unable to find user {user}: no matching entries in passwd file")
    return int(entry[2]), int(entry[3])


def _lookup_group(group: str, groups: list[list[str]]) -> int:
    if group.isdigit():
        return int(group)
    entry = next((e for e in groups if len(e) > 2 and e[0] == group), None)
    if entry is None:
        raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
    return int(entry[2])


def _in_root(root: Path, path: str) -> Path:
    return Path(secure_join(str(root), path))


def copy_sources(
    root: Path, tree: SourceTree, sources: list[Source], dest: str, options: CopyOptions
) -> None:
    """Copy ``sources`` from ``tree`` to the image path ``dest`` under ``root``."""
    for source in sources:
        if source.is_dir:
            target = _in_root(root, dest)
            _make_dirs(root, target, options.owner)
            _copy_tree(tree, source, target, options)
        elif _unpacks(source, options) and is_archive(source.path):
            with open(source.path, "rb") as archive, Root(root) as image:
                Extractor(image, dest).extract(archive)
        else:
            _copy_one_file(root, source, dest, options)


def _unpacks(source: Source, options: CopyOptions) -> bool:
    return options.unpack_downloaded if source.downloaded else options.unpack_local


def _copy_one_file(root: Path, source: Source, dest: str, options: CopyOptions) -> None:
    target = _in_root(root, dest)
    if dest.endswith("/") or target.is_dir():
        target = target / posixpath.basename(source.name)
    _make_dirs(root, target.parent, options.owner)
    _copy_entry(source.path, target, source.path.stat(), options)


def _make_dirs(root: Path, directory: Path, owner: Owner | None) -> None:
    """Create ``directory`` and missing parents: 0755, owned by ``owner`` (root by default)."""
    missing = []
    current = directory
    while current != root and not current.exists():
        missing.append(current)
        current = current.parent
    who = owner or ROOT_OWNER
    for path in reversed(missing):
        path.mkdir(mode=0o755)
        os.chown(path, who.uid, who.gid)


def _copy_tree(tree: SourceTree, source: Source, target: Path, options: CopyOptions) -> None:
    for rel, path, st in tree.walk(source):
        if options.exclude is not None and options.exclude.ignored(rel):
            continue
        destination_path = target / rel
        if not destination_path.parent.is_dir():  # under a directory .dockerignore left out
            _make_dirs(target, destination_path.parent, options.owner)
        _copy_entry(path, destination_path, st, options)


def is_archive(path: Path) -> bool:
    """Whether ADD should unpack ``path``: a tar, possibly compressed."""
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _copy_entry(source: Path, target: Path, st: os.stat_result, options: CopyOptions) -> None:
    kind = stat.S_IFMT(st.st_mode)
    _make_room(target, keep_dir=stat.S_ISDIR(kind))
    if stat.S_ISDIR(kind):
        target.mkdir(exist_ok=True)
    elif stat.S_ISREG(kind):
        shutil.copyfile(source, target)
    elif stat.S_ISLNK(kind):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISFIFO(kind):
        os.mkfifo(target)
    elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
        os.mknod(target, st.st_mode, st.st_rdev)
    else:
        return  # sockets do not survive a copy, as with docker's tar-based copy
    owner = options.owner or Owner(st.st_uid, st.st_gid)
    os.lchown(target, owner.uid, owner.gid)
    if not stat.S_ISLNK(kind):
        mode = stat.S_IMODE(st.st_mode)
        if options.chmod is not None:
            mode = options.chmod.apply(mode, stat.S_ISDIR(kind))
        os.chmod(target, mode)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _make_room(target: Path, keep_dir: bool) -> None:
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
