"""Where dockyard keeps things: the data root, the exec root and the API socket."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start

if (
    TYPE_CHECKING
):  # the CLI imports this module on every start: pathlib and dataclasses cost it ~20 ms
    from pathlib import Path

DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "0.1.0"


class Paths:
    """The two roots of one engine: persistent data and per-boot runtime state."""

    __slots__ = ("data_root", "exec_root")

    def __init__(self, data_root: Path, exec_root: Path) -> None:
        self.data_root = data_root
        self.exec_root = exec_root

    def __repr__(self) -> str:
        return f"Paths({self.data_root!r}, {self.exec_root!r})"

    @classmethod
    def from_env(cls, data_root: str | None = None, exec_root: str | None = None) -> Paths:
        from pathlib import Path

        return cls(
            Path(data_root or os.environ.get("DOCKYARD_ROOT") or DEFAULT_DATA_ROOT),
            Path(exec_root or os.environ.get("DOCKYARD_EXEC_ROOT") or DEFAULT_EXEC_ROOT),
        )

    @property
    def blobs(self) -> Path:
        return self.data_root / "blobs" / "sha256"

    @property
    def layers(self) -> Path:
        return self.data_root / "layers"

    @property
    def containers(self) -> Path:
        return self.data_root / "containers"

    @property
    def volumes(self) -> Path:
        return self.data_root / "volumes"

    @property
    def tmp(self) -> Path:
        return self.data_root / "tmp"

    @property
    def database(self) -> Path:
        return self.data_root / "dockyard.db"


def socket_path(host: str) -> str:
    """The filesystem path of a ``unix://`` host address."""
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise ValueError(f"unsupported host address {host!r}: only unix:// sockets are supported")
