"""Layer compression: the same tar gives the same bytes every time, and reads back."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Callable

import pytest

from dockyard.errors import InvalidArgument
from dockyard.store import compression


@pytest.mark.parametrize("algorithm", compression.ALGORITHMS)
def test_the_same_tar_compresses_to_the_same_bytes(algorithm: str) -> None:
    data = os.urandom(1 << 14) * 160  # more than one chunk, and compressible
    first, second = io.BytesIO(), io.BytesIO()
    described = compression.compress(io.BytesIO(data), first, algorithm)
    assert compression.compress(io.BytesIO(data), second, algorithm) == described
    assert first.getvalue() == second.getvalue()
    assert described.size == len(first.getvalue()) < len(data)
    if algorithm == compression.GZIP:
        assert gzip.decompress(first.getvalue()) == data
    else:
        assert compression.zstd_reader(io.BytesIO(first.getvalue())).read() == data


def test_gzip_names_no_file_and_no_time() -> None:
    out = io.BytesIO()
    compression.compress(io.BytesIO(b"layer"), out, compression.GZIP)
    header = out.getvalue()[:10]
    flags, mtime = header[3], header[4:8]
    assert (header[:3], flags, mtime) == (b"\x1f\x8b\x08", 0, b"\0\0\0\0")


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unsupported compression 'lz4'"):
        compression.checked("lz4")


class _Trickle(io.BytesIO):
    """A stream that gives a few bytes at a time, as a socket may."""

    def read(self, size: int | None = -1, /) -> bytes:
        return super().read(min(size, 3333) if size and size > 0 else size)


@pytest.mark.parametrize("stream", [io.BytesIO, _Trickle])
@pytest.mark.parametrize("piece", [1 << 9, 1 << 20, 3 << 20, -1])
def test_gzip_members_read_back_whole_in_any_pieces(stream: type[io.BytesIO], piece: int) -> None:
    """Members one after another and zero padding after them, as gzip.GzipFile reads them;
    stored (incompressible) data over more than one megabyte of output."""
    data = os.urandom(1000) + os.urandom(3 << 20) + b"a" * (2 << 20)
    blob = gzip.compress(data[:1000]) + gzip.compress(data[1000:], 0) + b"\0" * 700
    reader = compression.gzip_reader(stream(blob))
    read = reader.read() if piece < 0 else b"".join(iter(lambda: reader.read(piece), b""))
    assert read == data


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda blob: blob[:-100], EOFError),  # cut short
        (lambda blob: blob + b"garbage", zlib.error),  # not a member after the first
        (lambda blob: blob[:-8] + bytes([blob[-8] ^ 1]) + blob[-7:], zlib.error),  # CRC
    ],
)
def test_broken_gzip_is_an_error(damage: Callable[[bytes], bytes], error: type[Exception]) -> None:
    blob = damage(gzip.compress(os.urandom(1 << 16)))
    with pytest.raises(error):
        compression.gzip_reader(io.BytesIO(blob)).read()
