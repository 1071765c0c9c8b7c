"""hostconfig.verify: moby's create-time checks, warnings and adjustments of a HostConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.engine.hostconfig import parse_uint_list, verify
from dockyard.errors import InvalidArgument, NotFound
from dockyard.runtime.cgroups import Support

V1_FILES = {
    "memory": [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.soft_limit_in_bytes",
        "memory.swappiness",
        "memory.oom_control",
    ],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.rt_period_us"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "blkio": ["blkio.throttle.read_bps_device"],
    "pids": [],
}


def _v1(root: Path) -> Support:
    """A cgroup v1 host like this one: every limit but blkio weights, CPUs 0-3, one node."""
    for controller, names in V1_FILES.items():
        (root / controller).mkdir()
        for name in names:
            (root / controller / name).write_text("")
    (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    return Support(str(root))


def _v2(root: Path) -> Support:
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "memory.swap.max").write_text("max\n")
    return Support(str(root))


class Containers:
    def __init__(self, **by_name: str) -> None:
        self.by_name = by_name

    def get(self, ref: str) -> Any:
        if ref not in self.by_name:
            raise NotFound(f"No such container: {ref}")
        return type("C", (), {"id": self.by_name[ref]})()


def _verify(support: Support, config: dict | None = None, **hc: Any) -> tuple[dict, list[str]]:
    warnings = verify(hc, config or {}, Containers(db="d" * 64), support)
    return hc, warnings


def test_unlimited_values_become_null(tmp_path: Path) -> None:
    hc, warnings = _verify(_v1(tmp_path), MemorySwappiness=-1, PidsLimit=0, KernelMemory=1 << 30)
    assert (hc["MemorySwappiness"], hc["PidsLimit"], "KernelMemory" in hc) == (None, None, False)
    assert hc["OomKillDisable"] is False and warnings == []


def test_what_cgroup_v2_lacks_is_dropped_with_a_warning(tmp_path: Path) -> None:
    hc, warnings = _verify(_v2(tmp_path), MemorySwappiness=10, OomKillDisable=True, Memory=1 << 30)
    assert warnings == [
        "Your kernel does not support memory swappiness capabilities or the cgroup is not "
        "mounted. Memory swappiness discarded.",
        "Your kernel does not support OomKillDisable. OomKillDisable discarded.",
    ]
    assert (hc["MemorySwappiness"], hc["OomKillDisable"]) == (None, False)


def test_oom_kill_disable_without_a_memory_limit_warns(tmp_path: Path) -> None:
    _, warnings = _verify(_v1(tmp_path), OomKillDisable=True)
    assert warnings == [
        "OOM killer is disabled for the container, but no memory limit is set, this can result "
        "in the system running out of resources."
    ]


@pytest.mark.parametrize(
    ("hc", "message"),
    [
        ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
        ({"MemoryReservation": 1 << 20}, "Minimum memory reservation allowed is 6MB"),
        ({"CpusetCpus": "0-9"}, "Requested CPUs are not available - requested 0-9, available: 0-3"),
        (
            {"CpusetMems": "1"},
            "Requested memory nodes are not available - requested 1, available: 0",
        ),
        ({"CpusetCpus": "a"}, "Invalid value a for cpuset cpus: invalid format: a"),
        ({"CpusetCpus": "0-9000"}, "Invalid value 0-9000 for cpuset cpus: value of out range"),
        ({"NanoCpus": 1, "CpuQuota": 5000}, "Nano CPUs and CPU Quota cannot both be set"),
        ({"CpuShares": -1}, "invalid CPU shares (-1): value must be a positive integer"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({"IOMaximumIOps": 5}, "QoS maximum IOPs configuration is not supported on linux"),
        ({"ShmSize": -1}, "SHM size can not be less than 0"),
        ({"IpcMode": "sideways"}, "invalid IPC mode: sideways"),
        ({"PidMode": "container:"}, "invalid PID mode: container:"),
        ({"UTSMode": "private"}, "invalid UTS mode: private"),
        ({"CgroupnsMode": "shared"}, "invalid cgroup namespace mode: shared"),
        ({"StorageOpt": {"inodes": "5"}}, "Unknown option inodes"),
        ({"Annotations": {"": "x"}}, "the empty string is not permitted as an annotation key"),
    ],
)
def test_refused(tmp_path: Path, hc: dict, message: str) -> None:
    support = _v1(tmp_path)
    if "BlkioWeight" in hc:
        (tmp_path / "blkio" / "blkio.weight").write_text("")
        support = Support(str(tmp_path))
    with pytest.raises(InvalidArgument) as failure:
        _verify(support, **hc)
    assert message in failure.value.message


def test_shared_namespaces_are_stored_by_id(tmp_path: Path) -> None:
    support = _v1(tmp_path)
    hc, _ = _verify(support, PidMode="container:db", IpcMode="container:db")
    assert hc["PidMode"] == hc["IpcMode"] == "container:" + "d" * 64
    with pytest.raises(NotFound, match="No such container: web"):
        _verify(support, IpcMode="container:web")


def test_the_cpuset_list_format() -> None:
    assert parse_uint_list("0-2,4,3-3") == {0, 1, 2, 3, 4}
    assert parse_uint_list("") == set()
    for bad in ("1-", "2-1", "x", "1,,2"):
        with pytest.raises(ValueError, match="invalid format"):
            parse_uint_list(bad)


def test_published_ports_with_the_host_network_warn(tmp_path: Path) -> None:
    _, warnings = _verify(
        _v1(tmp_path), NetworkMode="host", PortBindings={"80/tcp": [{"HostPort": "8080"}]}
    )
    assert warnings == ["Published ports are discarded when using host network mode"]
