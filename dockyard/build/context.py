"""The build context: a directory tree, filtered by .dockerignore, and the
content digests of what COPY and ADD take from it.

A digest covers what ends up in the image, never when it was written: the
relative path, the file type, the permission bits and the content (or a
symlink's target). Reading a large file on every build would dominate a
cached rebuild, so content digests are remembered per inode and change time
(``FileHasher``); a file whose stat is unchanged is not read again. What one
build remembers is only what it read: the next build of the same directory
starts from that (``carried_over``), so nothing accumulates.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard.build.dockerignore import IgnoreMatcher, read_dockerignore
from dockyard.errors import InvalidArgument
from dockyard.runtime.securejoin import secure_join
from dockyard.tarfs.root import Root, components

_CHUNK = 1 << 20
_WILDCARD = re.compile(r"(?<!\\)[*?\[]")

_StatKey = tuple[int, int, int, int, int]


class FileHasher:
    """sha256 of file contents, remembered while the file's stat is unchanged.

    ``previous`` holds what an earlier build read; only the digests this one uses
    (or computes) are carried over to the next.
    """

    def __init__(self, previous: FileHasher | None = None) -> None:
        self._previous = previous._used if previous is not None else {}
        self._used: dict[_StatKey, str] = {}
        self._lock = threading.Lock()

    def remembered(self) -> int:
        """How many digests this hasher would pass on."""
        return len(self._used)

    def carried_over(self) -> FileHasher:
        """A hasher for the next build: what this one used, nothing older."""
        return FileHasher(self)

    @staticmethod
    def _key(st: os.stat_result) -> _StatKey:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def remember(self, st: os.stat_result, digest: str) -> None:
        with self._lock:
            self._used[self._key(st)] = digest

    def digest(self, path: Path, st: os.stat_result) -> str:
        key = self._key(st)
        with self._lock:
            known = self._used.get(key) or self._previous.get(key)
            if known is not None:
                self._used[key] = known
        if known is not None:
            return known
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        self.remember(st, digest.hexdigest())
        return digest.hexdigest()


@dataclass(frozen=True)
class Source:
    """One COPY/ADD source after wildcard expansion."""

    name: str  # the path as matched, relative to the tree root (names the copy)
    path: Path  # the host path, symlinks resolved inside the tree
    is_dir: bool
    downloaded: bool = False  # fetched from a URL by ADD


class SourceTree:
    """A directory tree COPY reads from: the context, or a stage's filesystem."""

    def __init__(
        self, root: Path, ignore: IgnoreMatcher | None = None, hasher: FileHasher | None = None
    ) -> None:
        self.root = root
        self.ignore = ignore or IgnoreMatcher([])
        self.hasher = hasher or FileHasher()

    def ignored(self, rel: str) -> bool:
        return bool(self.ignore) and self.ignore.ignored(rel)

    def sources(self, pattern: str) -> list[Source]:
        """What ``pattern`` names: one path, or every match of a wildcard pattern."""
        rel = clean_relative(pattern)
        if _WILDCARD.search(rel):
            regex = _glob_regex(rel)
            depth = rel.count("/") + 1
            return [self._source(p) for p in self._walk_names(depth) if regex.match(p)]
        return [self._source(rel, must_exist=pattern)]

    def _source(self, rel: str, must_exist: str = "") -> Source:
        path = Path(secure_join(str(self.root), rel))
        try:
            st = path.stat() if rel != "." else self.root.stat()
        except FileNotFoundError:
            st = None
        if st is None or (rel != "." and self.ignored(rel)):
            raise InvalidArgument(
                "file not found in build context or excluded by .dockerignore: "
                f"stat {must_exist or rel}: file does not exist"
            )
        return Source(rel, path, stat.S_ISDIR(st.st_mode))

    def _walk_names(self, depth: int) -> Iterator[str]:
        """Relative paths down to ``depth`` components, skipping ignored ones."""
        pending = [("", self.root, 1)]
        while pending:
            prefix, directory, level = pending.pop()
            with os.scandir(directory) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    rel = prefix + entry.name
                    skipped = self.ignored(rel)
                    if not skipped:
                        yield rel
                    descend = not skipped or self.ignore.has_exclusions
                    if level < depth and descend and entry.is_dir(follow_symlinks=False):
                        pending.append((rel + "/", Path(entry.path), level + 1))

    def walk(self, source: Source) -> Iterator[tuple[str, Path, os.stat_result]]:
        """Entries below a directory source (not following symlinks), ignored ones left out:
        (path relative to the source, host path, lstat)."""
        pending = [("", source.path)]
        base = "" if source.name == "." else source.name + "/"
        while pending:
            prefix, directory = pending.pop()
            with os.scandir(directory) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    rel = prefix + entry.name
                    skipped = self.ignored(base + rel)
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if not skipped:
                        yield rel, Path(entry.path), entry.stat(follow_symlinks=False)
                    if is_dir and (not skipped or self.ignore.has_exclusions):
                        pending.append((rel + "/", Path(entry.path)))

    def entry_digest(self, path: Path, st: os.stat_result) -> str:
        """What a file contributes to a cache key: type, permissions and content."""
        kind = stat.S_IFMT(st.st_mode)
        if stat.S_ISREG(kind):
            body = self.hasher.digest(path, st)
        elif stat.S_ISLNK(kind):
            body = os.readlink(path)
        elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
            body = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        else:
            body = ""
        return hashlib.sha256(f"{kind:o}:{stat.S_IMODE(st.st_mode):o}:{body}".encode()).hexdigest()

    def digests(self, source: Source) -> dict[str, str]:
        """Per-file digests of a source, by path relative to the tree root."""
        st = source.path.stat()
        if not source.is_dir:
            return {source.name: self.entry_digest(source.path, st)}
        prefix = "" if source.name == "." else source.name + "/"
        found = {source.name: self.entry_digest(source.path, st)}
        for rel, path, entry_st in self.walk(source):
            found[prefix + rel] = self.entry_digest(path, entry_st)
        return found


def clean_relative(path: str) -> str:
    """A source path made relative to the tree root: leading ``/`` and ``./`` dropped.

    Raises InvalidArgument when it climbs out (``../x``).
    """
    if path.startswith("/"):
        return posixpath.normpath(path).lstrip("/") or "."
    cleaned = posixpath.normpath(path)
    if cleaned == ".." or cleaned.startswith("../"):
        raise InvalidArgument(f"forbidden path outside the build context: {path}")
    return cleaned


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match: ``*`` and ``?`` stop at "/", ``[...]`` classes, ``\\`` escapes."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i < len(pattern):
            out.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"syntax error in pattern {pattern!r}")
            body = pattern[i:end]
            negate = body[:1] in ("^", "!")
            body = body[1:] if negate else body
            out.append("[" + ("^/" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def read_in_context(root: Path, name: str) -> bytes | None:
    """A regular file of a context directory; None when there is none of that name.
    Its name, and any symlink on the way, resolve in the context."""
    try:
        with Root(root) as context:
            return context.read(components(name))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def context_ignore(root: Path) -> IgnoreMatcher:
    """What the .dockerignore of a context directory (the build's, or a named one) excludes."""
    text = read_in_context(root, ".dockerignore")
    return IgnoreMatcher(read_dockerignore(text.decode(errors="replace")) if text else [])
