"""``dockyard build --output``: what buildx takes, and the export written on this side.

``-o type=local,dest=DIR`` (or just ``-o DIR``), ``-o type=tar,dest=FILE``
(``-o -``: a tar on stdout), ``type=docker|oci,dest=FILE`` and ``type=image``
(the default). ``dest`` never goes to the daemon: it sends the archive back in
the build response (``{"export": base64}`` lines) and it lands here, so an
output works with a daemon elsewhere as buildx's does. ``type=docker``
without a dest is ``--load``: the image, in the daemon's store.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

_STDOUT = "-"
_ARCHIVES = ("tar", "docker", "oci")


@dataclass
class Output:
    type: str
    attrs: dict[str, str] = field(default_factory=dict)
    dest: str = ""

    @property
    def to_stdout(self) -> bool:
        return self.type in _ARCHIVES and self.dest in ("", _STDOUT)

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
    if output.type == "docker" and not output.dest:
        return None if not output.attrs else Output("image", output.attrs)
    if output.type == "local" and output.dest in ("", _STDOUT):
        raise InvalidArgument("output directory is required for local exporter")
    if output.to_stdout and sys.stdout.isatty():
        raise InvalidArgument(
            f"dest file is required for {output.type} exporter. refusing to write to console"
        )
    return output


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
    """Where the export's bytes go: a file, stdout, or (``local``) a directory they are
    unpacked into once all have come."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self._file: BinaryIO | None = None

    def write(self, encoded: str) -> None:
        if self._file is None:
            self._file = self._open()
        self._file.write(base64.b64decode(encoded))

    def _open(self) -> BinaryIO:
        if self.output.type == "local":
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
        if self.output.type == "local":
            self._file.seek(0)
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
