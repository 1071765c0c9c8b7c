"""``dockyard build --output``: what buildx takes, and the export written on this side.

``-o type=local,dest=DIR`` (or just ``-o DIR``), ``-o type=tar,dest=FILE``
(``-o -``: a tar on stdout), ``type=docker|oci,dest=FILE`` (``dest=-`` or, for
``oci``, none: stdout), ``type=docker|oci,tar=false,dest=DIR`` (the image
added to the OCI layout directory DIR, as BuildKit's client does) and
``type=image`` (the default). ``dest`` never goes to the daemon: it sends the
archive back in the build response (``{"export": base64}`` lines) and it
lands here, so an output works with a daemon elsewhere as buildx's does.
``type=docker`` without a dest is ``--load``: the image, in the daemon's store.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.units import parse_bool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, BinaryIO

_STDOUT = "-"
_IMAGE_ARCHIVES = ("docker", "oci")
_FILE_ARCHIVES = ("tar", *_IMAGE_ARCHIVES)
_BLOB = re.compile(r"blobs/sha256/[0-9a-f]{64}")
_LATEST = "latest"  # what BuildKit's client names an unnamed image in a layout directory


@dataclass
class Output:
    type: str
    attrs: dict[str, str] = field(default_factory=dict)
    dest: str = ""

    @property
    def to_directory(self) -> bool:
        """Files (``local``), or an image into a layout directory (``tar=false``)."""
        return self.type == "local" or self.is_layout

    @property
    def is_layout(self) -> bool:
        return self.type in _IMAGE_ARCHIVES and not _flag(self.attrs, "tar", True)

    def pushed_names(self, tags: list[str]) -> list[str]:
        """The names an image output with ``push=true`` (or ``registry``) pushes: the
        stored logins of their registries go along."""
        pushing = self.type == "registry" or (
            self.type == "image" and _flag(self.attrs, "push", False)
        )
        names = [n for n in self.attrs.get("name", "").split(",") if n]
        return [*tags, *names] if pushing else []

    @property
    def to_file(self) -> bool:
        """An archive, to a file or to stdout."""
        return self.type in _FILE_ARCHIVES and not self.is_layout

    @property
    def to_stdout(self) -> bool:
        return self.to_file and self.dest in ("", _STDOUT)

    def query(self) -> str:
        """The API's ``outputs`` parameter."""
        return json.dumps([{"Type": self.type, "Attrs": self.attrs}])


def parse_outputs(values: list[str]) -> Output | None:
    """The ``--output`` values as buildx reads them; None for the default (an image)."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument("multiple outputs currently unsupported")
    output = _parse(values[0])
    if output.type == "docker" and not output.dest and not output.is_layout:
        return None if not output.attrs else Output("image", output.attrs)
    if output.type == "local" and output.dest in ("", _STDOUT):
        raise InvalidArgument("output directory is required for local exporter")
    if output.is_layout:
        _check_layout_dest(output)
    elif output.to_stdout and sys.stdout.isatty():
        raise InvalidArgument(
            f"dest file is required for {output.type} exporter. refusing to write to console"
        )
    elif output.to_file and os.path.isdir(output.dest):
        raise InvalidArgument(f"destination file {output.dest} is a directory")
    return output


def _flag(attrs: dict[str, str], key: str, absent: bool) -> bool:
    """A boolean attribute as buildx reads ``tar=``: ``absent`` when it is, and anything but
    a Go boolean is true (the daemon refuses what it cannot read)."""
    if key not in attrs:
        return absent
    try:
        return parse_bool(attrs[key])
    except InvalidArgument:
        return True


def _check_layout_dest(output: Output) -> None:
    if not output.dest:
        raise InvalidArgument(f"dest is required for {output.type} exporter")
    if output.dest == _STDOUT:
        raise InvalidArgument(f"dest cannot be stdout for {output.type} exporter")
    if os.path.exists(output.dest) and not os.path.isdir(output.dest):
        raise InvalidArgument(f"destination directory {output.dest} is a file")


def _parse(value: str) -> Output:
    fields = next(csv.reader([value]), [])
    if len(fields) == 1 and fields[0] == value and not value.startswith("type="):
        return Output("tar" if value == _STDOUT else "local", dest=value)
    output = Output("")
    for item in fields:
        key, sep, text = item.partition("=")
        if not sep:
            raise InvalidArgument(f"invalid value {item}")
        key = key.strip().lower()
        if key == "type":
            output.type = text
        elif key == "dest":
            output.dest = text
        else:
            output.attrs[key] = text
    if not output.type:
        raise InvalidArgument("type is required for output")
    return output


class ExportSink:
    """Where the export's bytes go: a file, stdout, or a directory they are unpacked
    (``local``) or added (a layout) into once all have come."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self._file: BinaryIO | None = None

    def write(self, encoded: str) -> None:
        if self._file is None:
            self._file = self._open()
        self._file.write(base64.b64decode(encoded))

    def _open(self) -> BinaryIO:
        if self.output.to_directory:
            return tempfile.TemporaryFile(prefix="dockyard-output-")
        if self.output.to_stdout:
            return sys.stdout.buffer
        parent = os.path.dirname(os.path.abspath(self.output.dest))
        os.makedirs(parent, exist_ok=True)
        return open(self.output.dest, "wb")  # noqa: SIM115 - closed by finish()

    def finish(self) -> None:
        """The build succeeded: complete the output (unpack a ``local`` one)."""
        if self._file is None:  # nothing came: an empty export
            self._file = self._open()
        if self.output.to_directory:
            self._file.seek(0)
            if self.output.is_layout:
                _add_to_layout(self._file, Path(self.output.dest))
            else:
                _unpack(self._file, self.output.dest)
        self.close()

    def close(self) -> None:
        if self._file is not None and self._file is not sys.stdout.buffer:
            self._file.close()
        elif self._file is not None:
            self._file.flush()


def _unpack(tar: BinaryIO, directory: str) -> None:
    from dockyard.tarfs.extract import Extractor
    from dockyard.tarfs.root import Root

    os.makedirs(directory, exist_ok=True)
    with Root(directory) as root:
        Extractor(root, keep_owner=os.geteuid() == 0).extract(tar)


def _add_to_layout(archive: BinaryIO, directory: Path) -> None:
    """Add the image of the OCI layout ``archive`` to the layout directory ``directory``, as
    BuildKit's client does: its blobs beside those there, its index entries replacing
    the ones of the same names, an unnamed image named ``latest``."""
    from dockyard.distribution.archive import (
        IMAGE_NAME_ANNOTATION,
        INDEX_MEDIA_TYPE,
        REF_NAME_ANNOTATION,
    )

    (directory / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    added: list[dict[str, Any]] = []
    with tarfile.open(fileobj=archive, mode="r|") as tar:
        for member in tar:
            reader = tar.extractfile(member) if member.isfile() else None
            if reader is None:
                continue
            if member.name == "index.json":
                added = json.load(reader)["manifests"]
            elif _BLOB.fullmatch(member.name) and not (directory / member.name).exists():
                _write_new(directory / member.name, reader)
    index_file = directory / "index.json"
    index = json.loads(index_file.read_bytes()) if index_file.exists() else {}
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, **index}
    entries = list(index.get("manifests") or [])
    for entry in added:
        annotations = {REF_NAME_ANNOTATION: _LATEST, **(entry.get("annotations") or {})}
        name = (annotations.get(REF_NAME_ANNOTATION), annotations.get(IMAGE_NAME_ANNOTATION))
        entries = [
            e for e in entries if _names(e, REF_NAME_ANNOTATION, IMAGE_NAME_ANNOTATION) != name
        ]
        entries.append({**entry, "annotations": annotations})
    index["manifests"] = entries
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    _write_new(index_file, io.BytesIO(json.dumps(index, separators=(",", ":")).encode()))


def _names(entry: dict[str, Any], *keys: str) -> tuple[str | None, ...]:
    annotations = entry.get("annotations") or {}
    return tuple(annotations.get(key) for key in keys)


def _write_new(path: Path, source: IO[bytes]) -> None:
    """Replace ``path`` with a file holding what ``source`` has (no reader sees a part)."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    partial.replace(path)
