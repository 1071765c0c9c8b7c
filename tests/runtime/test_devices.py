"""Device nodes and rules: moby's spec side (WithDevices) and runc's runtime side."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.errors import SystemError
from dockyard.runtime import capabilities, devices
from dockyard.runtime.spec import SpecOptions, docker_default_spec

from .conftest import Bundle


def _mapping(host: str, container: str, permissions: str = "rwm") -> dict:
    return {"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": permissions}


def test_a_mapping_gives_the_host_nodes_numbers_mode_and_owner() -> None:
    host = os.stat("/dev/loop-control")
    nodes, rules = devices.docker_devices(
        False, [_mapping("/dev/loop-control", "/dev/lc", "rw")], []
    )
    assert nodes == [
        {
            "path": "/dev/lc",
            "type": "c",
            "major": 10,
            "minor": 237,
            "fileMode": stat.S_IMODE(host.st_mode),
            "uid": host.st_uid,
            "gid": host.st_gid,
        }
    ]
    assert rules == [
        *devices.moby_default_rules(),
        {"allow": True, "type": "c", "major": 10, "minor": 237, "access": "rw"},
    ]


def test_a_directory_maps_every_device_below_it(tmp_path: Path) -> None:
    link = tmp_path / "net"
    link.symlink_to("/dev/net")
    nodes, _ = devices.devices_from_path(str(link), "/dev/n", "rwm")
    assert [(n["path"], n["major"], n["minor"]) for n in nodes] == [("/dev/n/tun", 10, 200)]


@pytest.mark.parametrize(
    ("host", "reason"),
    [("/dev/nope", "no such file or directory"), ("/etc/passwd", "not a device node")],
)
def test_a_mapping_that_is_no_device_is_the_daemons_error(host: str, reason: str) -> None:
    with pytest.raises(SystemError) as failure:
        devices.docker_devices(False, [_mapping(host, "/dev/x")], [])
    assert failure.value.message == (
        f'error gathering device information while adding custom device "{host}": {reason}'
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("c 42:* rmw", ("c", 42, -1, "rmw")),
        ("a *:* m", ("a", -1, -1, "m")),
        ("b 8:0 r", ("b", 8, 0, "r")),
    ],
)
def test_cgroup_rules(rule: str, expected: tuple) -> None:
    parsed = devices.parse_cgroup_rule(rule)
    assert parsed["allow"] is True
    assert (parsed["type"], parsed["major"], parsed["minor"], parsed["access"]) == expected


@pytest.mark.parametrize("rule", ["c 42 rmw", "x 1:1 r", "c 1:1 rwmr", "c 1:1 ", "c 1:1 rx", ""])
def test_bad_cgroup_rules(rule: str) -> None:
    with pytest.raises(SystemError, match=f"^invalid device cgroup rule format: '{rule}'$"):
        devices.parse_cgroup_rule(rule)


def test_a_huge_major_is_its_own_error() -> None:
    rule = f"c {1 << 63}:1 r"
    with pytest.raises(SystemError, match="invalid major value in device cgroup rule format"):
        devices.parse_cgroup_rule(rule)


def test_privileged_gets_every_host_device_and_allows_all() -> None:
    mapped = _mapping("/dev/zero", "/dev/z", "r")
    same = _mapping("/dev/full", "/dev/full", "r")
    nodes, rules = devices.docker_devices(True, [mapped, same], ["not even checked"])
    paths = [node["path"] for node in nodes]
    assert rules == [{"allow": True, "access": "rwm"}]
    assert {"/dev/null", "/dev/full", "/dev/loop-control", "/dev/net/tun", "/dev/z"} <= set(paths)
    assert paths.count("/dev/full") == 1
    assert not any(p == "/dev/console" or p.startswith(("/dev/pts/", "/dev/shm/")) for p in paths)


def test_runc_defaults_give_way_to_the_specs_nodes() -> None:
    null = {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600}
    nodes = devices.runtime_nodes([null])
    assert [n["path"] for n in nodes] == [
        "/dev/random",
        "/dev/full",
        "/dev/tty",
        "/dev/zero",
        "/dev/urandom",
        "/dev/null",
    ]
    rules = devices.runtime_rules([], [null])
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} not in rules
    assert {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"} in rules


def test_nodes_are_made_with_mknod_not_bound(bundle: Bundle) -> None:
    script = "stat -c '%a %u:%g %t,%T' /dev/deep /dev/deep/er/z /dev/null; cat /proc/self/mountinfo"
    spec = bundle.spec(["sh", "-c", script])
    spec["linux"]["devices"] = [
        {
            "path": "/dev/deep/er/z",
            "type": "c",
            "major": 1,
            "minor": 5,
            "fileMode": 0o640,
            "uid": 7,
            "gid": 8,
        }
    ]
    result = bundle.run(spec=spec)
    lines = result.out.splitlines()
    assert lines[:3] == ["755 0:0 0,0", "640 7:8 1,5", "666 0:0 1,3"], result.err
    assert not any(" /dev/" in line and "devtmpfs" in line for line in lines[3:])


def test_privileged_spec_masks_nothing_and_leaves_sys_writable() -> None:
    spec = docker_default_spec(SpecOptions(args=["sh"], privileged=True, readonly_rootfs=True))
    linux = spec["linux"]
    assert (linux["maskedPaths"], linux["readonlyPaths"]) == ([], [])
    options = {m["destination"]: m["options"] for m in spec["mounts"]}
    assert "ro" not in options["/sys"] and "ro" not in options["/sys/fs/cgroup"]
    assert spec["process"]["capabilities"]["bounding"] == capabilities.all_capabilities()


def test_a_rule_without_access_is_runcs_error() -> None:
    _, rules = devices.docker_devices(False, [{"PathOnHost": "/dev/zero"}], [])
    with pytest.raises(SystemError, match="^device access at 8 field cannot be empty$"):
        devices.runtime_rules(rules, [])
