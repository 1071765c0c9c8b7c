"""A container's mount specifications, parsed and checked like moby's Linux mount parser.

Three sources say what a container mounts: ``HostConfig.Binds`` (``-v
SRC:DST[:MODE]``), ``HostConfig.Mounts`` (``--mount``), and ``HostConfig.Tmpfs``
(``--tmpfs DST[:OPTIONS]``). Each bind or mount becomes a ``MountPoint``; a
wrong one is refused with Docker's own message. Nothing here touches a volume.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.volumes.local import DRIVER

DEFAULT_PROPAGATION = "rprivate"
PROPAGATIONS = ("private", "rprivate", "slave", "rslave", "shared", "rshared")
_RW_MODES = ("rw", "ro", "ro-non-recursive", "ro-force-recursive", "rro")
_LABEL_MODES = ("z", "Z")
_COPY_MODES = ("nocopy",)
_CONSISTENCY_MODES = ("consistent", "cached", "delegated")
_MODE_GROUPS = (_RW_MODES, _LABEL_MODES, PROPAGATIONS, _COPY_MODES, _CONSISTENCY_MODES)
# mount(8) words a tmpfs takes, and the data options Docker lets through (moby/sys/mount).
_TMPFS_FLAGS = {
    "ro": "rw",
    "rw": "rw",
    "suid": "suid",
    "nosuid": "suid",
    "dev": "dev",
    "nodev": "dev",
    "exec": "exec",
    "noexec": "exec",
    "sync": "sync",
    "async": "sync",
    "dirsync": "dirsync",
    "remount": "remount",
    "mand": "mand",
    "nomand": "mand",
    "atime": "atime",
    "noatime": "atime",
    "diratime": "diratime",
    "nodiratime": "diratime",
    "relatime": "relatime",
    "norelatime": "relatime",
    "strictatime": "strictatime",
    "nostrictatime": "strictatime",
    **{mode: "propagation" for mode in (*PROPAGATIONS, "unbindable", "runbindable")},
    "bind": "propagation",
    "rbind": "propagation",
}
_TMPFS_DATA = ("", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol")
TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev", DEFAULT_PROPAGATION)


@dataclass
class MountPoint:
    """One thing mounted into a container, as moby's volume/mounts.MountPoint."""

    type: str  # "bind", "volume" or "tmpfs"
    destination: str
    source: str = ""  # host path of a bind; filled in for a volume once it is known
    name: str = ""  # volume name; "" for an anonymous volume until one is given
    driver: str = ""
    rw: bool = True
    mode: str = ""
    propagation: str = ""
    copy_data: bool = True  # copy the image's content into an empty volume
    anonymous: bool = False  # a volume made for this container alone (no name was given)
    spec: dict[str, Any] = field(default_factory=dict)  # the Mount object it came from

    def inspect_view(self) -> dict[str, Any]:
        """The entry of ``Mounts`` in `docker inspect` (Name and Driver only when set)."""
        view: dict[str, Any] = {"Type": self.type}
        if self.name:
            view["Name"] = self.name
        view["Source"] = self.source
        view["Destination"] = self.destination
        if self.driver:
            view["Driver"] = self.driver
        view.update(Mode=self.mode, RW=self.rw, Propagation=self.propagation)
        return view


def invalid_spec(raw: str) -> str:
    return f"invalid volume specification: '{raw}'"


def _valid_mode(mode: str) -> bool:
    if not mode:
        return True
    counts = [0] * len(_MODE_GROUPS)
    for option in mode.split(","):
        group = next((i for i, modes in enumerate(_MODE_GROUPS) if option in modes), None)
        if group is None:
            return False
        counts[group] += 1
    return all(count <= 1 for count in counts)


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """``CONTAINER[:MODE]`` of --volumes-from → (container, read-write)."""
    if not spec:
        raise InvalidArgument("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    options = mode.split(",")
    if not _valid_mode(mode) or any(o in PROPAGATIONS or o in _COPY_MODES for o in options):
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, "ro" not in options


def parse_bind(raw: str, volume_driver: str = "") -> MountPoint:
    """One ``HostConfig.Binds`` entry: ``DST``, ``SRC:DST`` or ``SRC:DST:MODE`` (ParseMountRaw)."""
    parts = raw.split(":", 3)
    if not parts[0] or len(parts) > 3:
        raise InvalidArgument(invalid_spec(raw))
    mode = ""
    spec: dict[str, Any]
    if len(parts) == 1:
        spec = {"Target": parts[0]}
    elif len(parts) == 2 and _valid_mode(parts[1]):
        raise InvalidArgument(invalid_spec(raw))  # "/foo:rw": a mode but no destination
    else:
        spec = {"Source": parts[0], "Target": parts[1]}
        mode = parts[2] if len(parts) == 3 else ""
    if not _valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    options = mode.split(",")
    spec["Type"] = "bind" if posixpath.isabs(spec.get("Source", "")) else "volume"
    spec["ReadOnly"] = "ro" in options
    if volume_driver and spec["Type"] == "volume":
        spec["VolumeOptions"] = {"DriverConfig": {"Name": volume_driver}}
    if "nocopy" in options:
        spec.setdefault("VolumeOptions", {})["NoCopy"] = True
    propagation = next((o for o in options if o in PROPAGATIONS), "")
    if propagation:
        spec["BindOptions"] = {"Propagation": propagation}
    try:
        point = _mount_point(spec, check_source=False)
    except InvalidArgument as err:
        raise InvalidArgument(f"{invalid_spec(raw)}: {err.message}") from None
    point.mode = mode
    return point


def parse_mount(spec: dict[str, Any]) -> MountPoint:
    """One ``HostConfig.Mounts`` entry (ParseMountSpec): a bind's source must exist."""
    return _mount_point(spec, check_source=True)


def _mount_point(spec: dict[str, Any], check_source: bool) -> MountPoint:
    _validate(spec, check_source)
    kind = spec["Type"]
    point = MountPoint(
        type=kind,
        destination=posixpath.normpath(spec["Target"]),
        rw=not spec.get("ReadOnly"),
        spec=spec,
    )
    if kind == "volume":
        volume_options = spec.get("VolumeOptions") or {}
        point.name = spec.get("Source") or ""
        point.anonymous = not point.name
        point.driver = (volume_options.get("DriverConfig") or {}).get("Name") or DRIVER
        point.copy_data = not volume_options.get("NoCopy")
    elif kind == "bind":
        point.source = posixpath.normpath(spec["Source"])
        point.propagation = (spec.get("BindOptions") or {}).get(
            "Propagation"
        ) or DEFAULT_PROPAGATION
    return point


class _MountConfigError(InvalidArgument):
    def __init__(self, spec: dict[str, Any], reason: str) -> None:
        super().__init__(f'invalid mount config for type "{spec.get("Type", "")}": {reason}')


def _validate(spec: dict[str, Any], check_source: bool) -> None:
    """moby's validateMountConfigImpl, message for message."""
    target = spec.get("Target") or ""
    if not target:
        raise _MountConfigError(spec, "field Target must not be empty")
    _check_target(spec, target)
    kind = spec.get("Type") or ""
    source = spec.get("Source") or ""
    if kind == "bind":
        _validate_bind(spec, source, check_source)
    elif kind == "volume":
        _validate_volume(spec, source)
    elif kind == "tmpfs":
        if spec.get("BindOptions") is not None:
            raise _MountConfigError(spec, "field BindOptions must not be specified")
        if source:
            raise _MountConfigError(spec, "field Source must not be specified")
        tmpfs_data(spec.get("TmpfsOptions"), bool(spec.get("ReadOnly")))
    else:
        raise _MountConfigError(spec, "mount type unknown")


def _check_target(spec: dict[str, Any], target: str) -> None:
    try:
        check_destination(target)
    except InvalidArgument as err:
        raise _MountConfigError(spec, err.message) from None


def check_destination(path: str) -> None:
    """A mount point must be absolute and must not be the root."""
    if posixpath.normpath(path) == "/":
        raise InvalidArgument("invalid specification: destination can't be '/'")
    if not posixpath.isabs(path):
        raise InvalidArgument(f"invalid mount path: '{path}' mount path must be absolute")


def _validate_bind(spec: dict[str, Any], source: str, check_source: bool) -> None:
    if not source:
        raise _MountConfigError(spec, "field Source must not be empty")
    propagation = (spec.get("BindOptions") or {}).get("Propagation") or ""
    if propagation and propagation not in PROPAGATIONS:
        raise _MountConfigError(spec, f"invalid propagation mode: {propagation}")
    if spec.get("VolumeOptions") is not None:
        raise _MountConfigError(spec, "field VolumeOptions must not be specified")
    if not posixpath.isabs(source):
        raise _MountConfigError(spec, f"invalid mount path: '{source}' mount path must be absolute")
    create = (spec.get("BindOptions") or {}).get("CreateMountpoint")
    if check_source and not create and not posixpath.exists(source):
        raise _MountConfigError(spec, f"bind source path does not exist: {source}")


def _validate_volume(spec: dict[str, Any], source: str) -> None:
    if spec.get("BindOptions") is not None:
        raise _MountConfigError(spec, "field BindOptions must not be specified")
    subpath = (spec.get("VolumeOptions") or {}).get("Subpath") or ""
    if subpath:
        if not source:
            raise _MountConfigError(spec, "must not set Subpath when using anonymous volumes")
        if not _is_local(subpath):
            raise _MountConfigError(spec, "subpath must be a relative path within the volume")
    if spec.get("ReadOnly") and not source:
        raise _MountConfigError(spec, "must not set ReadOnly mode when using anonymous volumes")


def _is_local(path: str) -> bool:
    """Go's filepath.IsLocal: relative, not empty, and never climbing out."""
    if not path or posixpath.isabs(path):
        return False
    return posixpath.normpath(path).split("/")[0] != ".."


def tmpfs_data(options: dict[str, Any] | None, readonly: bool) -> str:
    """The mount data of a ``--mount type=tmpfs`` (ConvertTmpfsOptions): ``ro,mode=1777,size=64m``."""
    options = options or {}
    data = ["ro"] if readonly else []
    if options.get("Mode"):
        data.append(f"mode={options['Mode']:o}")
    size = options.get("SizeBytes") or 0
    if size:
        for suffix, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                data.append(f"size={size // divisor}{suffix}")
                break
        else:
            data.append(f"size={size}")
    for option in options.get("Options") or []:
        if not 1 <= len(option) <= 2:
            raise InvalidArgument("invalid option array length")
        if option[0] not in ("exec", "noexec"):
            raise InvalidArgument(f"invalid option: {option[0]}")
        data.append("=".join(option))
    return ",".join(data)


def tmpfs_options(data: str) -> list[str]:
    """Docker's defaults, then ``data``, with later words winning (MergeTmpfsOptions)."""
    words = [*TMPFS_DEFAULTS, *(data.split(",") if data else [])]
    merged: list[str] = []
    taken: set[str] = set()
    for word in reversed(words):
        if word == "defaults":
            continue
        key = _TMPFS_FLAGS.get(word)
        if key is None:
            key = word.partition("=")[0]
            if "=" not in word or key not in _TMPFS_DATA:
                raise InvalidArgument(f'invalid tmpfs option "{key}"')
        if key not in taken:
            taken.add(key)
            merged.insert(0, word)
    return merged
