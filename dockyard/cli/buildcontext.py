"""A build context sent to a daemon elsewhere: the directory as a tar, as the docker CLI makes it.

What .dockerignore excludes is left out (never the Dockerfile or .dockerignore
itself: the daemon needs them, TrimBuildFilesFromExcludes). A Dockerfile from
outside the context goes in under a name of its own, ``.dockerfile.<random>``,
which the .dockerignore sent then lists, so that ``COPY .`` does not take it.
The tar goes through the one tar writer (dockyard.tarfs), spooled to a file.
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import tempfile
import time
from typing import Any, BinaryIO

from dockyard.build.dockerignore import IgnoreMatcher, read_dockerignore
from dockyard.tarfs.pack import TarWriter


def context_tar(
    directory: str, dockerfile: str, outside: bytes | None, query: dict[str, Any]
) -> BinaryIO:
    """The context directory as a tar, as the docker CLI makes it (spooled to a file)."""
    ignore_file = os.path.join(directory, ".dockerignore")
    try:
        with open(ignore_file, "rb") as f:
            ignore_text = f.read().decode(errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        ignore_text = ""
    patterns = read_dockerignore(ignore_text)
    query["dockerfile"] = dockerfile
    if outside is not None:
        query["dockerfile"] = f".dockerfile.{secrets.token_hex(10)}"
        ignore_text = f"{ignore_text.rstrip(chr(10))}\n{query['dockerfile']}\n"
    # The daemon needs these two whatever the patterns say (TrimBuildFilesFromExcludes).
    matcher = IgnoreMatcher([*patterns, "!.dockerignore", f"!{dockerfile}"])
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the _Context
    try:
        writer = _ContextWriter(spool, matcher, rewritten=outside is not None)
        with writer:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                writer.add(fd, ".", ".")
            finally:
                os.close(fd)
            if outside is not None:
                writer.add_bytes(".dockerignore", ignore_text.encode())
                writer.add_bytes(query["dockerfile"], outside)
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

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
        self.tar.addfile(info, io.BytesIO(data))
