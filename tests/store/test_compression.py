"""Layer compression: the same tar gives the same bytes every time, and reads back."""

from __future__ import annotations

import gzip
import io
import os

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
