"""Where dockyard keeps things (the data root, the exec root, the API socket) and who may enter them."""

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

# Who may enter what, as with Docker since CVE-2021-41091: no other user lists the
# roots, reads a container's config (its environment) or the database, or reaches a
# container's files, where a setuid binary the container left would run as root for them.
DATA_ROOT_MODE = 0o710
EXEC_ROOT_MODE = 0o700
PRIVATE_DIR_MODE = 0o700  # containers/<id>, layers/<chain>, blobs/, tmp/, a shim's exec dir
PRIVATE_FILE_MODE = 0o600  # the database, a bundle's config.json, a shim's state files
# The volume driver's root, as Docker's: other users may pass through, to a volume's _data.
VOLUMES_MODE = 0o701
_DATABASE_FILES = ("dockyard.db", "dockyard.db-wal", "dockyard.db-shm")


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

        default_data, default_exec = DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT
        if rootless_user():
            from dockyard.rootless import paths

            default_data, default_exec = paths.data_root(), paths.exec_root()
        return cls(
            Path(data_root or os.environ.get("DOCKYARD_ROOT") or default_data),
            Path(exec_root or os.environ.get("DOCKYARD_EXEC_ROOT") or default_exec),
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
        return self.data_root / _DATABASE_FILES[0]

    def prepare(self) -> None:
        """Create the roots and their top directories with their modes, tightening an older root.

        A root made by an older dockyard had every directory world-readable: its
        containers' and layers' directories become private too, and so does its database.
        """
        for directory, mode in (
            (self.data_root, DATA_ROOT_MODE),
            (self.containers, DATA_ROOT_MODE),
            (self.layers, DATA_ROOT_MODE),
            (self.data_root / "blobs", PRIVATE_DIR_MODE),
            (self.tmp, PRIVATE_DIR_MODE),
            (self.volumes, VOLUMES_MODE),
            (self.exec_root, EXEC_ROOT_MODE),
        ):
            make_dir(directory, mode)
        for parent in (self.containers, self.layers):
            with os.scandir(parent) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        os.chmod(entry.path, PRIVATE_DIR_MODE)
        for name in _DATABASE_FILES:
            try:
                os.chmod(self.data_root / name, PRIVATE_FILE_MODE)
            except FileNotFoundError:
                continue


def rootless_user() -> bool:
    """Whether this process's engine is a user's rootless one: run by a user, or in its namespace."""
    from dockyard import rootless

    return os.geteuid() != 0 or rootless.active()


def local_host() -> str:
    """The socket of this user's own engine: root's, or the user's rootless one."""
    if rootless_user():
        from dockyard.rootless import paths

        return paths.host()
    return DEFAULT_HOST


def make_dir(path: Path, mode: int) -> None:
    """mkdir -p, with exactly ``mode`` on the last directory, whatever the umask or its old mode."""
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    os.chmod(path, mode)


def docker_config_dir() -> str:
    """The docker CLI's own directory (``$DOCKER_CONFIG``, else ``~/.docker``).

    What is the user's rather than a daemon's lives there, shared with the docker
    CLI: registry logins and TLS certificates.
    """
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def dockyard_config_dir() -> str:
    """The dockyard CLI's own directory (``$DOCKYARD_CONFIG``, else ``~/.dockyard``): its contexts."""
    return os.environ.get("DOCKYARD_CONFIG") or os.path.join(os.path.expanduser("~"), ".dockyard")
