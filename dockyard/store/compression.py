"""Layer compression: the media types of compressed layer blobs, and deterministic compressors.

A layer tar is compressed the same way every time, so the same layer always
gives the same blob and the same digest: gzip with no name and mtime 0 in its
header at one fixed level, or zstd at one fixed level. Pushing an image twice
therefore sends the same bytes, and registries deduplicate them.

zstd comes from the ``zstandard`` package, imported only when a zstd blob is
made or read.
"""

from __future__ import annotations

import zlib
from typing import Any, BinaryIO

from dockyard.errors import InvalidArgument
from dockyard.store.blobs import CHUNK, Descriptor, HashingWriter, Reader

GZIP = "gzip"
ZSTD = "zstd"
ALGORITHMS = (GZIP, ZSTD)

# Plain layer tars, as stored: OCI's and Docker's names for them.
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
UNCOMPRESSED_TYPES = (OCI_LAYER, DOCKER_LAYER)
# Compressed layer tars: Docker's schema 2 type for gzip, as Docker pushes; OCI's for zstd.
DOCKER_GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
LAYER_TYPES = {GZIP: DOCKER_GZIP_LAYER, ZSTD: OCI_ZSTD_LAYER}
OCI_LAYER_TYPES = {GZIP: OCI_GZIP_LAYER, ZSTD: OCI_ZSTD_LAYER}
_ALGORITHM_OF = {DOCKER_GZIP_LAYER: GZIP, OCI_GZIP_LAYER: GZIP, OCI_ZSTD_LAYER: ZSTD}

GZIP_LEVEL = 6  # Go's gzip.DefaultCompression, what Docker pushes with
ZSTD_LEVEL = 3  # zstd's default
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream


def algorithm_of(media_type: str) -> str:
    """``gzip``, ``zstd``, or '' for a plain tar (or a type we do not know)."""
    return _ALGORITHM_OF.get(media_type, "")


def layer_type(algorithm: str, oci: bool) -> str:
    """The media type of a layer blob compressed with ``algorithm`` in an OCI manifest, or
    in a Docker schema 2 one (which names no zstd: that stays OCI's)."""
    return (OCI_LAYER_TYPES if oci else LAYER_TYPES)[algorithm]


def checked(algorithm: str) -> str:
    """``algorithm`` when we can compress with it (the --compression option's check)."""
    if algorithm not in ALGORITHMS:
        raise InvalidArgument(
            f"unsupported compression {algorithm!r}: expected one of {', '.join(ALGORITHMS)}"
        )
    return algorithm


def compress(src: Reader, dst: BinaryIO, algorithm: str) -> Descriptor:
    """Write ``src`` compressed with ``algorithm`` to ``dst``; the descriptor of what was written."""
    hashing = HashingWriter(dst)
    if algorithm == GZIP:
        # wbits 31: a gzip member whose header has mtime 0, no name and zlib's OS byte.
        gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        while chunk := src.read(CHUNK):
            hashing.write(gz.compress(chunk))
        hashing.write(gz.flush())
    else:
        compressor = _zstandard().ZstdCompressor(level=ZSTD_LEVEL)
        with compressor.stream_writer(hashing, closefd=False) as writer:
            while chunk := src.read(CHUNK):
                writer.write(chunk)
    return hashing.descriptor()


def gzip_reader(stream: Reader) -> Reader:
    """A reader of the decompressed bytes of the gzip stream ``stream`` (its members one
    after another, zero padding after them ignored, as gzip.GzipFile reads them)."""
    return _GzipReader(stream)


def zstd_reader(stream: Any) -> Reader:
    """A reader of the decompressed bytes of the zstd stream ``stream``."""
    return _ZstdReader(stream)


def _zstandard() -> Any:
    import zstandard

    return zstandard


class _ZstdReader:
    """zstandard's stream reader, its errors raised as OSError like the other decompressors'."""

    def __init__(self, stream: Any) -> None:
        zstandard = _zstandard()
        self._error = zstandard.ZstdError
        self._reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._reader.read(size)
        except self._error as e:
            raise OSError(f"zstd: {e}") from None
        return data


class _GzipReader:
    """Gzip inflated by zlib a megabyte at a time (gzip.GzipFile reads 8 KB pieces and
    checks the CRC itself); zlib checks each member's header and trailer."""

    def __init__(self, stream: Reader) -> None:
        self._stream = stream
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._input = b""  # compressed bytes read and not inflated yet
        # Inflated bytes not read yet: small reads (tar headers) take from here, so zlib
        # (which copies the input it leaves over) is called once per megabyte.
        self._output = memoryview(b"")
        self._ended = False

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        while size and not self._output and not self._ended:
            self._output = memoryview(self._inflate())
        data, self._output = self._output[:size], self._output[size:]
        return bytes(data)

    def _inflate(self) -> bytes:
        """Up to CHUNK more bytes of output (b"" once a member ends or more input is needed)."""
        if self._inflater.eof:
            self._next_member()
            return b""
        if not self._input:
            held = self._inflater.decompress(b"", CHUNK)  # what the last call had no room for
            if held:
                return held
            self._input = self._stream.read(CHUNK)
            if not self._input:
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        data = self._inflater.decompress(self._input, CHUNK)
        self._input = self._inflater.unconsumed_tail
        return data

    def _next_member(self) -> None:
        """Start on the member after the one that ended, or end with the stream."""
        rest = (self._inflater.unused_data + self._input).lstrip(b"\0")
        while not rest:
            more = self._stream.read(CHUNK)
            if not more:
                self._ended = True
                return
            rest = more.lstrip(b"\0")
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._input = rest
