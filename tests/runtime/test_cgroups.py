"""The cgroup backends against the real kernel: limits, membership, freezing, killing, removal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.runtime import cgroups, devicefilter, devices
from dockyard.runtime.spec import SpecOptions, docker_default_spec

from .conftest import HYBRID_UNIFIED

v1_only = pytest.mark.skipif(cgroups.unified(), reason="this machine uses cgroup v2")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


@v1_only
def test_v1_limits_are_written(cgroup_parent: str) -> None:
    group = cgroups.open_cgroup(f"{cgroup_parent}/limits")
    resources = {
        "memory": {"limit": 64 << 20, "swap": 128 << 20},
        "cpu": {"shares": 512, "period": 100000, "quota": 50000},
        "pids": {"limit": 20},
    }
    group.create(resources)
    try:
        assert _read(group.dirs["memory"] + "/memory.limit_in_bytes") == str(64 << 20)
        assert _read(group.dirs["memory"] + "/memory.memsw.limit_in_bytes") == str(128 << 20)
        assert _read(group.dirs["cpu"] + "/cpu.cfs_quota_us") == "50000"
        assert _read(group.dirs["cpu"] + "/cpu.shares") == "512"
        assert _read(group.dirs["pids"] + "/pids.max") == "20"
        assert _read(group.dirs["cpuset"] + "/cpuset.cpus") == _read(
            "/sys/fs/cgroup/cpuset/cpuset.cpus"
        )
        stats = group.stats()
        assert (stats.memory_limit, stats.pids_current) == (64 << 20, 0)
    finally:
        group.destroy()
    assert not any(os.path.exists(d) for _, d in group.mount_sources())


@v1_only
def test_v1_device_rules_deny_all_but_the_basics(cgroup_parent: str) -> None:
    linux = docker_default_spec(SpecOptions(args=["true"]))["linux"]
    group = cgroups.open_cgroup(f"{cgroup_parent}/devices")
    group.create(
        {"devices": devices.runtime_rules(linux["resources"]["devices"], linux["devices"])}
    )
    try:
        rules = _read(group.dirs["devices"] + "/devices.list").splitlines()
    finally:
        group.destroy()
    assert "a *:* rwm" not in rules
    assert {"c 1:3 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm"} <= set(rules)
    assert "c 10:229 rwm" not in rules


@v1_only
def test_v1_membership_freeze_and_kill(
    cgroup_parent: str, sleeper: subprocess.Popen[bytes]
) -> None:
    group = cgroups.open_cgroup(f"{cgroup_parent}/members")
    group.create({})
    try:
        group.add_process(sleeper.pid)
        assert group.pids() == [sleeper.pid]
        assert group.stats().pids_current == 1
        group.freeze()
        assert _read(group.dirs["freezer"] + "/freezer.state") == "FROZEN"
        group.thaw()
        assert _read(group.dirs["freezer"] + "/freezer.state") == "THAWED"
        group.kill_all()
        assert sleeper.wait(timeout=5) == -9
    finally:
        group.destroy()


def _cgroup_of_a_child_that_enters(group: cgroups.Cgroup) -> str:
    """/proc/self/cgroup of a forked child after group.enter()."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            group.enter()
            with open("/proc/self/cgroup", "rb") as f:
                os.write(write_end, f.read())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        seen = f.read().decode()
    os.waitpid(pid, 0)
    return seen


@v1_only
def test_v1_a_process_enters_by_itself(cgroup_parent: str) -> None:
    group = cgroups.open_cgroup(f"{cgroup_parent}/self")
    group.create({})
    try:
        seen = _cgroup_of_a_child_that_enters(group)
    finally:
        group.destroy()
    assert group.enter_is_cheap
    hierarchies = [line for line in seen.splitlines() if not line.startswith("0::")]
    assert all(line.endswith(f"{cgroup_parent}/self") for line in hierarchies)


@v1_only
def test_v1_counts_the_processes_the_oom_killer_took(cgroup_parent: str) -> None:
    group = cgroups.open_cgroup(f"{cgroup_parent}/hog")
    group.create({"memory": {"limit": 16 << 20}})
    try:
        # Waits for "go" so that it allocates only once it is in the cgroup.
        hog = subprocess.Popen(
            ["sh", "-c", "read go; x=$(head -c 100000000 /dev/zero | tr '\\0' a)"],
            stdin=subprocess.PIPE,
        )
        group.add_process(hog.pid)
        assert group.oom_kills() == 0
        hog.communicate(b"go\n", timeout=30)
        assert hog.returncode == -9
        assert group.oom_kills() == 1
    finally:
        group.destroy()


def test_v2_oom_kills_come_from_memory_events(tmp_path: Path) -> None:
    group = cgroups.CgroupV2("/c", root=str(tmp_path))
    os.mkdir(group.dir)
    assert group.oom_kills() == 0  # no memory controller: nothing recorded
    (tmp_path / "c" / "memory.events").write_text(
        "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"
    )
    assert group.oom_kills() == 2


@pytest.fixture
def unified_root() -> str:
    """A cgroup2 mount to exercise the v2 backend on: the hybrid one, or /sys/fs/cgroup."""
    if cgroups.unified():
        return cgroups.CGROUP_ROOT
    if not os.path.exists(f"{HYBRID_UNIFIED}/cgroup.procs"):
        pytest.skip("no cgroup2 hierarchy on this machine")
    return HYBRID_UNIFIED


def test_v2_membership_freeze_and_kill(
    unified_root: str, cgroup_parent: str, sleeper: subprocess.Popen[bytes]
) -> None:
    group = cgroups.CgroupV2(f"{cgroup_parent}/members", root=unified_root)
    parent = cgroups.CgroupV2(cgroup_parent, root=unified_root)
    group.create({})
    try:
        assert _cgroup_of_a_child_that_enters(group).endswith(f"0::/{cgroup_parent}/members\n")
        group.add_process(sleeper.pid)
        assert group.pids() == [sleeper.pid]
        assert group.mount_sources() == [("", group.dir)]
        group.freeze()
        assert "frozen 1" in _read(group.dir + "/cgroup.events")
        group.thaw()
        assert "frozen 0" in _read(group.dir + "/cgroup.events")
        group.kill_all()
        assert sleeper.wait(timeout=5) == -9
    finally:
        group.destroy()
        parent.destroy()
    assert not os.path.exists(group.dir)


def test_relative_paths_are_under_our_own_cgroup(cgroup_parent: str) -> None:
    group = cgroups.open_cgroup(f"{cgroup_parent}/x")
    with open("/proc/self/cgroup") as f:
        own = {line.split(":")[1].removeprefix("name="): line.split(":")[2].strip() for line in f}
    for name, directory in group.mount_sources():
        base = own[name].rstrip("/")
        assert directory.endswith(f"{base}/{cgroup_parent}/x")


@v1_only
def test_v1_memory_soft_limit_swappiness_oom_and_block_io(cgroup_parent: str) -> None:
    rdev = os.stat("/dev/loop0").st_rdev
    device = {"major": os.major(rdev), "minor": os.minor(rdev)}
    group = cgroups.open_cgroup(f"{cgroup_parent}/more")
    group.create(
        {
            "memory": {"reservation": 32 << 20, "swappiness": 7, "disableOOMKiller": True},
            "cpu": {"realtimePeriod": 500000},
            "blockIO": {
                "throttleReadBpsDevice": [{**device, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{**device, "rate": 30}],
            },
        }
    )
    try:
        memory, numbers = group.dirs["memory"], f"{device['major']}:{device['minor']}"
        assert _read(memory + "/memory.soft_limit_in_bytes") == str(32 << 20)
        assert _read(memory + "/memory.swappiness") == "7"
        assert "oom_kill_disable 1" in _read(memory + "/memory.oom_control")
        assert _read(group.dirs["cpu"] + "/cpu.rt_period_us") == "500000"
        blkio = group.dirs["blkio"]
        assert _read(blkio + "/blkio.throttle.read_bps_device") == f"{numbers} 1048576"
        assert _read(blkio + "/blkio.throttle.write_iops_device") == f"{numbers} 30"
    finally:
        group.destroy()


def _fake_v2(root: str, controllers: str) -> None:
    with open(f"{root}/cgroup.controllers", "w") as f:
        f.write(controllers + "\n")
    with open(f"{root}/cgroup.subtree_control", "w") as f:
        f.write(controllers + "\n")


def test_v2_support_follows_the_controllers(tmp_path: Path) -> None:
    """moby's v2 sysinfo: no swappiness, OOM-killer switch or real-time scheduler there."""
    root = str(tmp_path)
    _fake_v2(root, "cpu memory pids")
    support = cgroups.Support(root)
    assert (support.memory, support.memory_reservation, support.cpu_cfs, support.pids) == (
        True,
        True,
        True,
        True,
    )
    assert not (support.memory_swappiness or support.oom_kill_disable or support.cpu_realtime)
    assert not (support.cpuset or support.blkio_weight or support.blkio_throttle)


def test_v2_soft_limit_and_io_files(tmp_path: Path) -> None:
    root = str(tmp_path)
    _fake_v2(root, "memory io")
    group = cgroups.CgroupV2("/c", root=root)
    os.makedirs(group.dir)
    for name in (
        "cgroup.controllers",
        "cgroup.subtree_control",
        "memory.low",
        "io.max",
        "io.weight",
    ):
        open(f"{group.dir}/{name}", "w").close()
    group.create(
        {
            "memory": {"reservation": 1 << 20},
            "blockIO": {
                "weight": 500,
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 9}],
            },
        }
    )
    assert _read(group.dir + "/memory.low") == str(1 << 20)
    assert _read(group.dir + "/io.max") == "8:0 wbps=9"
    assert _read(group.dir + "/io.weight") == str(1 + (500 - 10) * 9999 // 990)


# What a process in the cgroup may do: open for reading or writing, mknod.
_ACCESSES = r"""
import os, sys
for path, flags in (("/dev/null", os.O_RDWR), ("/dev/loop-control", os.O_RDONLY),
                    ("/dev/loop-control", os.O_WRONLY), ("/dev/fuse", os.O_RDONLY),
                    ("/dev/loop0", os.O_RDONLY)):
    try:
        os.close(os.open(path, flags))
        print(path, "ok")
    except PermissionError:
        print(path, "denied")
os.mknod(sys.argv[1], 0o600 | 0o060000, os.makedev(7, 0))
print("mknod ok")
"""


def _accesses(group: cgroups.Cgroup, scratch: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _ACCESSES, scratch],
        preexec_fn=group.enter,  # noqa: PLW1509 - the child enters before it execs
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def test_v2_device_rules_are_an_ebpf_program(
    unified_root: str, cgroup_parent: str, tmp_path: Path
) -> None:
    parent = cgroups.CgroupV2(cgroup_parent, root=unified_root)
    seen = {}
    try:
        for privileged in (False, True):
            linux = docker_default_spec(
                SpecOptions(
                    args=["true"], privileged=privileged, device_cgroup_rules=["c 10:237 r"]
                )
            )["linux"]
            rules = devices.runtime_rules(linux["resources"]["devices"], linux["devices"])
            group = cgroups.CgroupV2(f"{cgroup_parent}/{privileged}", root=unified_root)
            group.create({"devices": rules})
            try:
                seen[privileged] = [
                    line.split()[-1] for line in _accesses(group, str(tmp_path / f"{privileged}"))
                ]
            finally:
                group.destroy()
    finally:
        parent.destroy()
    assert seen == {
        False: ["ok", "ok", "denied", "denied", "denied", "ok"],
        True: ["ok", "ok", "ok", "ok", "ok", "ok"],
    }


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([], (False, [])),
        (
            [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
            (False, [("c", 1, 3, 7)]),
        ),
        (
            [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": -1, "access": "rw"},
                {"allow": False, "type": "c", "major": 1, "minor": -1, "access": "w"},
                {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"},
                {"allow": False, "type": "b", "major": 8, "minor": 0, "access": "r"},
            ],
            (False, [("c", 1, -1, 2)]),
        ),
        (
            [
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"},
                {"allow": True, "access": "rwm"},
                {"allow": False, "type": "b", "major": 8, "minor": -1, "access": "m"},
            ],
            (True, [("b", 8, -1, 1)]),
        ),
    ],
)
def test_device_rules_reduce_as_cgroup_v1_applies_them(rules: list[dict], expected: tuple) -> None:
    assert devicefilter.reduce(rules) == expected
