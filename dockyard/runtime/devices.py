"""Device nodes and device cgroup rules: what Docker writes into a spec, and what runc makes of it.

The spec side follows moby's ``WithDevices``: ``--device`` mappings become OCI
``linux.devices`` (nodes to create, with the host node's numbers, mode and
owner) plus an allow rule each in ``linux.resources.devices``;
``--device-cgroup-rule`` adds rules; ``--privileged`` gives every node of the
host's /dev and one allow-all rule instead of the default deny list.

The runtime side follows runc: the container's /dev holds nodes of its own,
made with mknod (a bind of the host's node only where mknod is refused), for
runc's default devices and the spec's; the device cgroup gets the spec's
rules followed by runc's default allow list.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from dockyard.errors import SystemError
from dockyard.runtime import linux
from dockyard.runtime.process import go_error_text
from dockyard.runtime.securejoin import secure_join

WILDCARD = -1
_DEVICE_TYPES = {"b": stat.S_IFBLK, "c": stat.S_IFCHR, "u": stat.S_IFCHR, "p": stat.S_IFIFO}
# Directories of the host's /dev that --privileged does not copy (containerd's getDevices).
_SKIPPED_HOST_DIRS = ("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev")
# runc's AllowedDevices: (type, major, minor, access, node path or "" for a rule only).
# Those with a path are also made in every container, mode 0666, owned by root.
_RUNC_ALLOWED = (
    ("c", WILDCARD, WILDCARD, "m", ""),
    ("b", WILDCARD, WILDCARD, "m", ""),
    ("c", 1, 3, "rwm", "/dev/null"),
    ("c", 1, 8, "rwm", "/dev/random"),
    ("c", 1, 7, "rwm", "/dev/full"),
    ("c", 5, 0, "rwm", "/dev/tty"),
    ("c", 1, 5, "rwm", "/dev/zero"),
    ("c", 1, 9, "rwm", "/dev/urandom"),
    ("c", 136, WILDCARD, "rwm", ""),  # /dev/pts/*
    ("c", 5, 2, "rwm", ""),  # /dev/ptmx
    ("c", 10, 200, "rwm", ""),  # /dev/net/tun
)
_RUNC_NODE_MODE = 0o666


class NotADevice(Exception):
    """The path is neither a block nor a character device nor a FIFO."""

    def __str__(self) -> str:
        return "not a device node"


def _rule(kind: str, major: int, minor: int, access: str, allow: bool = True) -> dict:
    return {"allow": allow, "type": kind, "major": major, "minor": minor, "access": access}


# ---------------------------------------------------------------- the spec (moby, containerd)


def moby_default_rules() -> list[dict]:
    """moby's DefaultLinuxSpec device rules: deny all, allow the basic character devices."""
    allowed = [(1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1)]
    return [
        {"allow": False, "access": "rwm"},
        *(_rule("c", major, minor, "rwm") for major, minor in allowed),
        _rule("c", 10, 229, "rwm", allow=False),  # /dev/fuse
    ]


def device_from_path(path: str) -> dict:
    """The OCI linux.devices entry for the node at ``path`` (containerd's DeviceFromPath).

    Raises NotADevice, or OSError when ``path`` cannot be lstat'ed.
    """
    st = os.lstat(path)
    kind = next(
        (k for k, fmt in _DEVICE_TYPES.items() if k != "u" and stat.S_IFMT(st.st_mode) == fmt),
        None,
    )
    if kind is None:
        raise NotADevice()
    return {
        "path": path,
        "type": kind,
        "major": os.major(st.st_rdev),
        "minor": os.minor(st.st_rdev),
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
    }


def host_devices(root: str = "/dev") -> list[dict]:
    """Every block and character device under the host's /dev (containerd's HostDevices)."""
    found = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in _SKIPPED_HOST_DIRS:
                found += host_devices(entry.path)
            continue
        if entry.name == "console":
            continue
        try:
            device = device_from_path(entry.path)
        except (NotADevice, FileNotFoundError):
            continue
        if device["type"] != "p":
            found.append(device)
    return found


def devices_from_path(
    path_on_host: str, path_in_container: str, permissions: str
) -> tuple[list[dict], list[dict]]:
    """The nodes and allow rules of one --device mapping (moby's DevicesFromPath).

    A symlink is followed; a directory gives every device below it.
    """
    resolved = os.path.realpath(path_on_host) if os.path.islink(path_on_host) else path_on_host
    try:
        device = device_from_path(resolved)
    except (NotADevice, OSError) as exc:
        error: BaseException = exc
    else:
        device["path"] = path_in_container
        return [device], [_allow(device, permissions)]
    nodes: list[dict] = []
    if isinstance(error, NotADevice) and os.path.isdir(resolved):
        for directory, subdirectories, files in os.walk(resolved):
            subdirectories.sort()
            for name in sorted(files):
                path = os.path.join(directory, name)
                try:
                    child = device_from_path(path)
                except (NotADevice, OSError):
                    continue
                child["path"] = path.replace(resolved, path_in_container, 1)
                nodes.append(child)
    if nodes:
        return nodes, [_allow(node, permissions) for node in nodes]
    reason = go_error_text(error.errno) if isinstance(error, OSError) and error.errno else error
    raise SystemError(
        f'error gathering device information while adding custom device "{path_on_host}": {reason}'
    )


def _allow(device: dict, permissions: str) -> dict:
    return _rule(device["type"], device["major"], device["minor"], permissions)


def _rule_number(text: str) -> int | None:
    """A major or minor of a device cgroup rule: ``*`` or decimal digits (int64)."""
    if text == "*":
        return WILDCARD
    if not text or any(c not in "0123456789" for c in text):
        return None
    return int(text)


def parse_cgroup_rule(rule: str) -> dict:
    """``c 42:* rmw`` → an OCI allow rule (moby's AppendDevicePermissionsFromCgroupRules)."""
    invalid = SystemError(f"invalid device cgroup rule format: '{rule}'")
    parts = rule.split(" ")
    if len(parts) != 3:
        raise invalid
    kind, numbers, access = parts
    major_text, colon, minor_text = numbers.partition(":")
    major, minor = _rule_number(major_text), _rule_number(minor_text)
    if (
        kind not in ("a", "b", "c")
        or not colon
        or major is None
        or minor is None
        or not 1 <= len(access) <= 3
        or set(access) - set("rwm")
    ):
        raise invalid
    for value, which in ((major, "major"), (minor, "minor")):
        if value >= 1 << 63:
            raise SystemError(f"invalid {which} value in device cgroup rule format: '{rule}'")
    return _rule(kind, major, minor, access)


def docker_devices(
    privileged: bool, mappings: list[dict], cgroup_rules: list[str]
) -> tuple[list[dict], list[dict]]:
    """(linux.devices, linux.resources.devices) for a container (moby's WithDevices).

    ``mappings`` are HostConfig.Devices entries (PathOnHost, PathInContainer,
    CgroupPermissions). Privileged, a mapping to the same path is already there
    and the custom permissions do not matter: everything is allowed.
    """
    nodes: list[dict] = []
    triples = [
        (
            m.get("PathOnHost") or "",
            m.get("PathInContainer") or "",
            m.get("CgroupPermissions") or "",
        )
        for m in mappings
    ]
    if privileged:
        nodes = host_devices()
        for on_host, in_container, _ in triples:
            if on_host != in_container:
                nodes += devices_from_path(on_host, in_container, "rwm")[0]
        return nodes, [{"allow": True, "access": "rwm"}]
    rules = moby_default_rules()
    for on_host, in_container, permissions in triples:
        mapped, allowed = devices_from_path(on_host, in_container, permissions)
        nodes += mapped
        rules += allowed
    rules += [parse_cgroup_rule(rule) for rule in cgroup_rules]
    return nodes, rules


# ---------------------------------------------------------------- the runtime (runc)


def _runc_defaults(spec_devices: list[dict]) -> list[tuple[str, int, int, str, str]]:
    """runc's AllowedDevices, minus the nodes the spec brings itself (the spec's win)."""
    spec_paths = {d.get("path") for d in spec_devices}
    return [entry for entry in _RUNC_ALLOWED if not entry[4] or entry[4] not in spec_paths]


def runtime_rules(spec_rules: list[dict], spec_devices: list[dict]) -> list[dict]:
    """The device cgroup's rules: the spec's, then runc's default allow list."""
    for index, rule in enumerate(spec_rules):
        if not rule.get("access"):
            raise SystemError(f"device access at {index} field cannot be empty")
    return spec_rules + [
        _rule(kind, major, minor, access)
        for kind, major, minor, access, _ in _runc_defaults(spec_devices)
    ]


def runtime_nodes(spec_devices: list[dict]) -> list[dict]:
    """The nodes runc makes in /dev: its default ones, then the spec's."""
    defaults = [
        {"path": path, "type": kind, "major": major, "minor": minor, "fileMode": _RUNC_NODE_MODE}
        for kind, major, minor, _, path in _runc_defaults(spec_devices)
        if path
    ]
    return defaults + spec_devices


def create_nodes(rootfs: str, nodes: list[dict]) -> None:
    """Make each node under ``rootfs`` with its exact mode (umask 0), like runc's createDevices.

    /dev/ptmx is left to the ptmx link; an existing node is kept.
    """
    old_umask = os.umask(0)
    try:
        for node in nodes:
            path = node.get("path") or ""  # a node without a path only has a cgroup rule
            if path and os.path.normpath(path) != "/dev/ptmx":
                _create_node(rootfs, node)
    finally:
        os.umask(old_umask)


def _create_node(rootfs: str, node: dict) -> None:
    path = node["path"]
    file_type = _DEVICE_TYPES.get(node.get("type") or "")
    if file_type is None:
        raise OSError(
            errno.EINVAL, f"{node.get('type')} is not a valid device type for device {path}"
        )
    target = secure_join(rootfs, path)
    _make_dirs(os.path.dirname(target))
    mode = node.get("fileMode")
    mode = _RUNC_NODE_MODE if mode is None else stat.S_IMODE(mode)
    try:
        os.mknod(target, file_type | mode, os.makedev(node.get("major", 0), node.get("minor", 0)))
    except FileExistsError:
        return
    except PermissionError:
        # Where mknod is refused (a user namespace), the host's node is bound instead.
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        linux.mount(path, target, None, linux.MS_BIND)
        return
    os.chown(target, node.get("uid", 0), node.get("gid", 0))


def _make_dirs(path: str) -> None:
    """mkdir -p with mode 0755 at every level (os.makedirs gives the parents 0777)."""
    if os.path.isdir(path):
        return
    _make_dirs(os.path.dirname(path))
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o755)
