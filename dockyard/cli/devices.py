"""``--device`` and ``--device-cgroup-rule`` as docker's cli/command/container/opts.go reads them.

The CLI only checks the form (the host path is looked at by the daemon, at start).
"""

from __future__ import annotations

import posixpath
import re

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

_CGROUP_RULE = re.compile(r"[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}")


def parse_device_cgroup_rule(value: str) -> str:
    """``c 42:* rmw``: type, major:minor (``*`` for any), access."""
    if not _CGROUP_RULE.fullmatch(value):
        raise InvalidArgument(f"invalid device cgroup format '{value}'")
    return value


def valid_device_mode(mode: str) -> bool:
    """Some of r (read), w (write) and m (mknod), each at most once."""
    return bool(mode) and all(c in "rwm" for c in mode) and len(set(mode)) == len(mode)


def _clean(path: str) -> str:
    """Go's path.Clean (normpath keeps a leading "//", Go does not)."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _validate(value: str) -> str:
    """docker's validateLinuxPath: ``host-path[:container-path][:mode]``, cleaned."""
    if value.count(":") > 2:
        raise InvalidArgument(f"bad format for path: {value}")
    parts = value.split(":")
    if not parts[0]:
        raise InvalidArgument(f"bad format for path: {value}")
    if len(parts) == 1:
        container_path = parts[0]
        value = _clean(container_path)
    elif len(parts) == 2 and valid_device_mode(parts[1]):
        container_path = parts[0]
        value = f"{_clean(container_path)}:{parts[1]}"
    elif len(parts) == 2:
        container_path = parts[1]
        value = f"{parts[0]}:{_clean(container_path)}"
    else:
        container_path = parts[1]
        if not valid_device_mode(parts[2]):
            raise InvalidArgument(f"bad mode specified: {parts[2]}")
    if not posixpath.isabs(container_path):
        raise InvalidArgument(f"{container_path} is not an absolute path")
    return value


def parse_device(value: str) -> dict[str, Any]:
    """``--device /dev/X[:/dev/Y][:rwm]`` → a DeviceMapping (docker's parseLinuxDevice)."""
    parts = _validate(value).split(":")
    permissions = parts[2] if len(parts) == 3 else "rwm"
    destination = ""
    if len(parts) >= 2:
        if valid_device_mode(parts[1]):
            permissions = parts[1]
        else:
            destination = parts[1]
    return {
        "PathOnHost": parts[0],
        "PathInContainer": destination or parts[0],
        "CgroupPermissions": permissions,
    }
