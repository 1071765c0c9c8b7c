"""The namespaces a container shares: --network, --pid and --ipc modes made into OCI terms.

A mode is "private", "host", or ``container:<id>``: the namespace file of that
running container, which the runtime joins. A shared IPC brings the donor's
/dev/shm along (moby's ShmPath).
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from dockyard.engine.container import Container
from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound, SystemError
from dockyard.runtime.shim import SHM_DIR


class ContainerLookup(Protocol):
    """Where the containers whose namespaces are joined are found (containers/store.py)."""

    def get(self, ref: str) -> Container: ...


def network_mode(hc: dict[str, Any], containers: ContainerLookup) -> str:
    mode = hc.get("NetworkMode") or "bridge"
    if mode == "host":
        return "host"
    if mode.startswith("container:"):
        other = containers.get(mode.split(":", 1)[1])
        if not other.running:
            raise InvalidArgument(f"cannot join network of a non running container: {other.id}")
        return f"/proc/{other.state['Pid']}/ns/net"
    return "private"


def pid_mode(hc: dict[str, Any], containers: ContainerLookup) -> str:
    """--pid: "private", "host", or the namespace of another running container."""
    mode = hc.get("PidMode") or ""
    if mode == "host":
        return "host"
    if not mode.startswith("container:"):
        return "private"
    ref = mode.split(":", 1)[1]
    try:
        other = _running(containers, ref)
    except DockyardError as e:
        raise SystemError(f"failed to join PID namespace: {e.message}") from None
    return f"/proc/{other.state['Pid']}/ns/pid"


def _running(containers: ContainerLookup, ref: str) -> Container:
    other: Container = containers.get(ref)
    if not other.running:
        raise Conflict(f"container {ref} is not running")
    return other


def ipc_mode(c: Container, containers: ContainerLookup) -> tuple[str, str | None]:
    """--ipc: the IPC namespace mode, and the directory bound at /dev/shm if not a tmpfs of its own.

    As with moby, a "shareable" container's /dev/shm is a tmpfs on the host (its shim
    mounts it, see ShimConfig.shm_size), which the containers that join it bind too.
    """
    mode = c.host_config.get("IpcMode") or "private"
    if mode.startswith("container:"):
        return _join_ipc(mode.split(":", 1)[1], containers)
    if mode == "host" and not os.path.isdir("/dev/shm"):
        raise SystemError("/dev/shm is not mounted, but must be for --ipc=host")
    return ("host" if mode == "host" else "private"), _shm_path(c, containers)


def _join_ipc(ref: str, containers: ContainerLookup) -> tuple[str, str]:
    try:
        other = _running(containers, ref)
    except NotFound as e:
        raise InvalidArgument(f"failed to join IPC namespace: {e.message}") from None
    except Conflict as e:
        raise Conflict(f"failed to join IPC namespace: {e.message}") from None
    shm = _shm_path(other, containers)
    if shm is None or not os.path.isdir(shm):
        raise InvalidArgument(
            f"failed to join IPC namespace: container {ref}: non-shareable IPC "
            "(hint: use IpcMode:shareable for the donor container)"
        )
    return ("host" if shm == "/dev/shm" else f"/proc/{other.state['Pid']}/ns/ipc"), shm


def _shm_path(c: Container, containers: ContainerLookup) -> str | None:
    """The /dev/shm others can share with ``c`` (moby's ShmPath): none for a private IPC."""
    mode = c.host_config.get("IpcMode") or "private"
    if mode == "host":
        return "/dev/shm"
    if mode == "shareable":
        return str(c.root / SHM_DIR)
    if mode.startswith("container:"):
        return _shm_path(containers.get(mode.split(":", 1)[1]), containers)
    return None
