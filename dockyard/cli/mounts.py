"""-v/--volume and --mount values, converted like docker's opts.go and opts/mount.go.

``-v /host:/ctr[:ro]`` and ``-v name:/ctr`` become ``HostConfig.Binds``; ``-v /ctr``
(no source) is an anonymous volume in ``Config.Volumes``. ``--mount
type=bind,source=/a,target=/b,readonly`` becomes one ``HostConfig.Mounts`` entry.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument
from dockyard.units import ram_in_bytes

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

TRUE = ("1", "t", "T", "TRUE", "true", "True")
FALSE = ("0", "f", "F", "FALSE", "false", "False")


def absolute_if_relative(source: str) -> str:
    """A source like ``./data`` is a host path relative to here; ``data`` is a volume name."""
    if not os.path.isabs(source) and source.startswith("."):
        return os.path.abspath(source)
    return source


def parse_volumes(specs: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """All -v values → (Binds, Volumes)."""
    binds: list[str] = []
    anonymous: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if not spec:
            raise InvalidArgument("invalid empty volume spec")
        parts = spec.split(":")
        if len(parts) > 3:
            raise InvalidArgument(f"invalid spec: {spec}: too many colons")
        if len(parts) == 1:
            anonymous[spec] = {}
            continue
        source, rest = parts[0], parts[1:]
        if not source:
            raise InvalidArgument(f"invalid spec: {spec}: empty section between colons")
        binds.append(":".join([absolute_if_relative(source), *rest]))
    return binds, anonymous


def parse_bool(key: str, value: str) -> bool:
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise InvalidArgument(f"invalid value for {key}: {value}")


def parse_mount(value: str) -> dict[str, Any]:
    """One --mount value → a Mount object of the create body."""
    import csv  # only --mount needs it, and docker reads the value as one CSV record

    fields = next(csv.reader([value]), [])
    mount: dict[str, Any] = {"Type": "volume"}
    options: dict[str, dict[str, Any]] = {}
    for field in fields:
        key, has_value, val = field.partition("=")
        key = key.lower()
        if not has_value:
            apply_flag_field(mount, options, key, field)
        else:
            apply_field(mount, options, key, val, field)
    if not mount.get("Target"):
        raise InvalidArgument("target is required")
    for kind, option_key in (
        ("volume", "VolumeOptions"),
        ("bind", "BindOptions"),
        ("tmpfs", "TmpfsOptions"),
    ):
        if option_key in options and mount["Type"] != kind:
            raise InvalidArgument(
                f"cannot mix '{kind}-*' options with mount type '{mount['Type']}'"
            )
    mount.update(options)
    return mount


def apply_flag_field(
    mount: dict[str, Any], options: dict[str, dict[str, Any]], key: str, field: str
) -> None:
    if key in ("readonly", "ro"):
        mount["ReadOnly"] = True
    elif key == "volume-nocopy":
        options.setdefault("VolumeOptions", {})["NoCopy"] = True
    elif key == "bind-nonrecursive":
        options.setdefault("BindOptions", {})["NonRecursive"] = True
    else:
        raise InvalidArgument(f"invalid field '{field}' must be a key=value pair")


def apply_field(
    mount: dict[str, Any], options: dict[str, dict[str, Any]], key: str, val: str, field: str
) -> None:
    if key == "type":
        mount["Type"] = val.lower()
    elif key in ("source", "src"):
        mount["Source"] = absolute_if_relative(val)
    elif key in ("target", "dst", "destination"):
        mount["Target"] = val
    elif key in ("readonly", "ro"):
        mount["ReadOnly"] = parse_bool(key, val)
    elif key == "consistency":
        mount["Consistency"] = val.lower()
    elif key == "bind-propagation":
        options.setdefault("BindOptions", {})["Propagation"] = val.lower()
    elif key.startswith("volume-"):
        apply_volume_field(options.setdefault("VolumeOptions", {}), key, val, field)
    elif key == "tmpfs-size":
        try:
            options.setdefault("TmpfsOptions", {})["SizeBytes"] = ram_in_bytes(val)
        except InvalidArgument:
            raise InvalidArgument(f"invalid value for {key}: {val}") from None
    elif key == "tmpfs-mode":
        try:
            options.setdefault("TmpfsOptions", {})["Mode"] = int(val, 8)
        except ValueError:
            raise InvalidArgument(f"invalid value for {key}: {val}") from None
    else:
        raise InvalidArgument(f"unexpected key '{key}' in '{field}'")


def apply_volume_field(volume: dict[str, Any], key: str, val: str, field: str) -> None:
    name, _, setting = val.partition("=")
    if key == "volume-nocopy":
        volume["NoCopy"] = parse_bool(key, val)
    elif key == "volume-subpath":
        volume["Subpath"] = val
    elif key == "volume-label":
        if name:
            volume.setdefault("Labels", {})[name] = setting
    elif key == "volume-driver":
        volume.setdefault("DriverConfig", {})["Name"] = val
    elif key == "volume-opt":
        if name:
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[name] = setting
    else:
        raise InvalidArgument(f"unexpected key '{key}' in '{field}'")
