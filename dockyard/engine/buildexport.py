"""A build's ``--output`` other than ``image``: the archive, sent in the build response.

``local``/``tar``: the built image's files as one tar, read from its layers
as a read-only overlay mounted nowhere (nothing to clean up). ``docker``/
``oci``: the image as BuildKit's exporters write it (a docker-archive that is
also an OCI layout / an OCI layout, layers gzip-compressed), named in the
archive only. Either goes out through ``ExportStream`` a chunk at a time; the
client writes it where it wants it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from dockyard.build.exporters import CACHE_EXPORT_KEY, FILE_TYPES, ExportStream, Output
from dockyard.distribution.archive import Layout
from dockyard.engine.images import ImageService
from dockyard.runtime.overlay import detached_layers
from dockyard.tarfs.pack import TarWriter

_CHUNK = 1 << 20


def export(
    images: ImageService,
    image_id: str,
    output: Output,
    names: list[str],
    emit: Callable[[dict[str, Any]], None],
    storage_driver: str,
    scratch: Path,
) -> None:
    """Send the image ``image_id`` as ``output`` asks, through ``emit``; its files are read
    through a read-only overlay of ``storage_driver`` (fuse-overlayfs's mounted for a moment
    on a directory of ``scratch``)."""
    with ExportStream(emit) as stream:
        if output.type in FILE_TYPES:
            # A writable binary stream, if not declared one.
            with (
                TarWriter(cast(BinaryIO, stream)) as writer,
                _root(images.resolve(image_id).lowerdirs, storage_driver, scratch) as fd,
            ):
                if fd is not None:
                    writer.add_contents(fd)
        else:
            layout = Layout.OCI if output.type == "oci" else Layout.DOCKER
            with images.export(image_id, names, layout, output.oci_types) as archive:
                shutil.copyfileobj(archive, stream, _CHUNK)


def export_directory(directory: Path, index: int, emit: Callable[[dict[str, Any]], None]) -> None:
    """The files of ``directory`` (a local cache made for the client) as a tar, in
    ``cacheexport`` messages of the client's cache ``index``."""
    with (
        ExportStream(emit, CACHE_EXPORT_KEY, {"index": index}) as stream,
        TarWriter(cast(BinaryIO, stream)) as writer,
    ):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            writer.add_contents(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _root(lowerdirs: list[Path], storage_driver: str, scratch: Path) -> Iterator[int | None]:
    """A descriptor of the files of the layers ``lowerdirs`` (topmost first); None for none.
    One layer is its own directory (overlayfs wants two lower dirs without an upper)."""
    if not lowerdirs:
        yield None
        return
    if len(lowerdirs) > 1:
        with detached_layers(lowerdirs, storage_driver, scratch) as fd:
            yield fd
        return
    fd = os.open(lowerdirs[0], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)
