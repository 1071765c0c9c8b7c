"""The content store: immutable blobs named by the sha256 of their bytes.

Layout under the data root: ``blobs/sha256/<hex>``. A blob is written to a
temporary file under ``tmp/``, hashed while it is written, fsynced and only
then renamed into place, so a blob that is visible is always complete and
always matches its name.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from dockyard.errors import InvalidArgument, NotFound

CHUNK = 1 << 20
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class Reader(Protocol):
    """Anything with a file's ``read``: files, sockets' readers, decompressors."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Descriptor:
    """What names a blob: its digest (``sha256:<hex>``) and its size in bytes."""

    digest: str
    size: int


def _checked(digest: str) -> str:
    """``digest`` itself when it is a well-formed sha256 digest."""
    if not _DIGEST.match(digest):
        raise InvalidArgument(f"invalid digest {digest!r}: expected sha256:<64 hex digits>")
    return digest


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Content-addressed blobs under ``<root>/blobs/sha256``; temp files in ``<root>/tmp``."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "blobs" / "sha256"
        self.tmp = root / "tmp"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.dir / _checked(digest).removeprefix("sha256:")

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"content digest {digest}: not found") from None

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"content digest {digest}: not found") from None

    def digests(self) -> set[str]:
        """Every stored blob's digest."""
        return {
            "sha256:" + name for name in os.listdir(self.dir) if _DIGEST.match("sha256:" + name)
        }

    def delete(self, digest: str) -> None:
        """Remove a blob; one that is already gone is not an error."""
        self.path(digest).unlink(missing_ok=True)

    def put(self, stream: Reader, expected: str | None = None) -> Descriptor:
        """Store everything ``stream`` yields; a digest other than ``expected`` stores nothing."""
        if expected is not None:
            _checked(expected)
        tmp = self.temp_file("blob-")
        try:
            with tmp.open("wb") as out:
                desc = copy_hashed(stream, out)
                out.flush()
                os.fsync(out.fileno())
            if expected is not None and desc.digest != expected:
                raise InvalidArgument(f"digest mismatch: expected {expected}, got {desc.digest}")
            self.commit(tmp, desc.digest)
        finally:
            tmp.unlink(missing_ok=True)
        return desc

    def put_bytes(self, data: bytes, expected: str | None = None) -> Descriptor:
        return self.put(io.BytesIO(data), expected)

    def temp_file(self, prefix: str) -> Path:
        """A new empty file under tmp/, on the same filesystem as the blobs."""
        fd, name = tempfile.mkstemp(prefix=prefix, dir=self.tmp)
        os.close(fd)
        return Path(name)

    def commit(self, tmp: Path, digest: str, durable: bool = True) -> bool:
        """Rename a complete, fsynced temp file into place as ``digest``; the rename is
        made durable, unless ``durable`` is False (the caller then fsyncs ``dir``).

        Returns False (and leaves ``tmp`` alone) when the blob is already
        stored: identical content needs no second copy.
        """
        target = self.path(digest)
        if target.exists():
            return False
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        if durable:
            fsync_dir(self.dir)
        return True


def copy_hashed(src: Reader, dst: BinaryIO) -> Descriptor:
    """Copy ``src`` to ``dst`` and return the descriptor of the bytes copied."""
    h = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK):
        h.update(chunk)
        dst.write(chunk)
        size += len(chunk)
    return Descriptor("sha256:" + h.hexdigest(), size)


class HashingWriter:
    """A writer that also computes the sha256 and size of what passes through it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self._size += len(data)
        self._out.write(data)
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def descriptor(self) -> Descriptor:
        return Descriptor("sha256:" + self._hash.hexdigest(), self._size)
