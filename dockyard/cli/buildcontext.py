"""A build context sent to a daemon elsewhere: the directory as a tar, as the docker CLI makes it.

What .dockerignore excludes is left out (never the Dockerfile or .dockerignore
itself: the daemon needs them, TrimBuildFilesFromExcludes). A Dockerfile from
outside the context goes in under a name of its own, ``.dockerfile.<random>``,
which the .dockerignore sent then lists, so that ``COPY .`` does not take it.
The tar goes through the one tar writer (dockyard.tarfs), spooled to a file.

A ``--build-context name=DIR`` goes the same way, its own .dockerignore applied
as BuildKit applies it; a ``--cache-from type=local`` directory (an OCI layout)
goes as its index and the blobs its cache names.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import tarfile
import tempfile
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from dockyard.build.dockerignore import IgnoreMatcher, read_dockerignore
from dockyard.errors import InvalidArgument
from dockyard.tarfs.pack import TarWriter


def context_tar(
    directory: str, dockerfile: str, outside: bytes | None, query: dict[str, Any]
) -> BinaryIO:
    """The context directory as a tar, as the docker CLI makes it (spooled to a file)."""
    ignore_text = _read_text(os.path.join(directory, ".dockerignore"))
    patterns = read_dockerignore(ignore_text)
    query["dockerfile"] = dockerfile
    if outside is not None:
        query["dockerfile"] = f".dockerfile.{secrets.token_hex(10)}"
        ignore_text = f"{ignore_text.rstrip(chr(10))}\n{query['dockerfile']}\n"
    # The daemon needs these two whatever the patterns say (TrimBuildFilesFromExcludes).
    matcher = IgnoreMatcher([*patterns, "!.dockerignore", f"!{dockerfile}"])
    added = {}
    if outside is not None:
        added = {".dockerignore": ignore_text.encode(), query["dockerfile"]: outside}
    rewritten = outside is not None
    return _spooled(directory, lambda out: _ContextWriter(out, matcher, rewritten), added)


def named_context_tar(directory: str) -> BinaryIO:
    """A ``--build-context`` directory as a tar, less what its .dockerignore excludes."""
    if not os.path.isdir(directory):
        raise InvalidArgument(f'unable to prepare context: path "{directory}" not found')
    patterns = read_dockerignore(_read_text(os.path.join(directory, ".dockerignore")))
    matcher = IgnoreMatcher(patterns)
    return _spooled(directory, lambda out: _ContextWriter(out, matcher, False), {})


def cache_tar(directory: str) -> BinaryIO:
    """A local cache (an OCI layout) as a tar of what an import reads: its index and the
    blobs of the cache it names; an empty tar when there is no cache there yet."""
    try:
        blobs = [f"blobs/sha256/{_hex(digest)}" for digest in _cache_blobs(directory)]
    except (FileNotFoundError, NotADirectoryError):  # no index.json: no cache there yet
        return io.BytesIO(bytes(2 * tarfile.BLOCKSIZE))  # an empty tar
    wanted = {".", "oci-layout", "index.json", "blobs", "blobs/sha256", *blobs}
    return _spooled(directory, lambda out: _SelectionWriter(out, wanted), {})


def _cache_blobs(directory: str) -> list[str]:
    """The digests of the cache's manifest and of the blobs it lists."""
    index = _read_json(os.path.join(directory, "index.json"))
    digests = [str(m.get("digest", "")) for m in index.get("manifests") or []]
    blobs = list(digests)
    for digest in digests:
        try:
            manifest = _read_json(os.path.join(directory, "blobs", "sha256", _hex(digest)))
        except FileNotFoundError:
            continue  # the daemon says which blob is missing
        described = [manifest.get("config") or {}, *(manifest.get("layers") or [])]
        blobs += [str(d.get("digest", "")) for d in described if isinstance(d, dict)]
    return list(dict.fromkeys(d for d in blobs if _hex(d)))


def _hex(digest: str) -> str:
    algorithm, _, hex_digest = digest.partition(":")
    ok = algorithm == "sha256" and len(hex_digest) == 64 and hex_digest.isalnum()
    return hex_digest if ok else ""


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            value = json.load(f)
    except ValueError:
        raise InvalidArgument(f"{path} is not JSON: not a build cache") from None
    return value if isinstance(value, dict) else {}


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return ""


def _spooled(
    directory: str, make_writer: Callable[[BinaryIO], TarWriter], added: dict[str, bytes]
) -> BinaryIO:
    """``directory`` as the writer ``make_writer`` makes writes it, then the files
    ``added``, as a tar spooled to a file."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
    try:
        with make_writer(spool) as writer:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                writer.add(fd, ".", ".")
            finally:
                os.close(fd)
            for name, data in added.items():
                _add_bytes(writer, name, data)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


class _ContextWriter(TarWriter):
    """The tar writer with .dockerignore applied; ``rewritten``: .dockerignore is written apart."""

    def __init__(self, out: BinaryIO, matcher: IgnoreMatcher, rewritten: bool) -> None:
        super().__init__(out)
        self.matcher = matcher
        self.rewritten = rewritten
        self.descend_excluded = matcher.has_exclusions

    def excluded(self, arcname: str, is_dir: bool) -> bool:
        if self.rewritten and os.path.normpath(arcname) == ".dockerignore":
            return True
        return arcname != "." and self.matcher.ignored(arcname)


class _SelectionWriter(TarWriter):
    """The tar writer taking the entries ``wanted`` only (their directories among them)."""

    def __init__(self, out: BinaryIO, wanted: set[str]) -> None:
        super().__init__(out)
        self.wanted = wanted

    def excluded(self, arcname: str, is_dir: bool) -> bool:
        return os.path.normpath(arcname) not in self.wanted


def _add_bytes(writer: TarWriter, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    writer.tar.addfile(info, io.BytesIO(data))
