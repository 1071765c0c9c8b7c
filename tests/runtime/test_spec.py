"""docker_default_spec: the OCI config moby would write for a container."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime import capabilities
from dockyard.runtime.spec import SpecOptions, bind_mount, docker_default_spec


def _spec(**options: object) -> dict:
    return docker_default_spec(SpecOptions(args=["sh"], **options))


def _mount(spec: dict, destination: str) -> dict:
    (found,) = [m for m in spec["mounts"] if m["destination"] == destination]
    return found


def test_default_mounts_are_dockers() -> None:
    spec = _spec()
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
    ]
    assert _mount(spec, "/dev")["options"] == ["nosuid", "strictatime", "mode=755", "size=65536k"]
    assert _mount(spec, "/dev/pts")["options"] == [
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        "gid=5",
    ]
    assert "size=67108864" in _mount(spec, "/dev/shm")["options"]
    assert "ro" in _mount(spec, "/sys")["options"]


def test_capabilities_are_dockers_default_set() -> None:
    caps = _spec()["process"]["capabilities"]
    assert (
        caps["bounding"]
        == caps["effective"]
        == caps["permitted"]
        == list(capabilities.DOCKER_DEFAULT)
    )
    assert "inheritable" not in caps
    assert capabilities.mask(caps["bounding"]) == 0xA80425FB


@pytest.mark.parametrize(
    ("add", "drop", "expected"),
    [
        (["NET_ADMIN"], [], [*capabilities.DOCKER_DEFAULT, "CAP_NET_ADMIN"]),
        (
            [],
            ["chown", "CAP_KILL"],
            [c for c in capabilities.DOCKER_DEFAULT if c not in ("CAP_CHOWN", "CAP_KILL")],
        ),
        (["sys_admin"], ["ALL"], ["CAP_SYS_ADMIN"]),
    ],
)
def test_cap_add_and_drop(add: list[str], drop: list[str], expected: list[str]) -> None:
    assert _spec(cap_add=add, cap_drop=drop)["process"]["capabilities"]["bounding"] == expected


def _own_capabilities() -> int:
    """This process's effective capabilities (what the engine holds)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapEff in /proc/self/status")


def test_cap_add_all_keeps_what_the_engine_has() -> None:
    bounding = _spec(cap_add=["ALL"], cap_drop=["MKNOD"])["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" in bounding and "CAP_MKNOD" not in bounding
    assert capabilities.mask(bounding) == _own_capabilities() & ~(
        1 << capabilities.NUMBERS["CAP_MKNOD"]
    )


def test_unknown_capability() -> None:
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_FLY"'):
        _spec(cap_add=["fly"])


def test_masked_and_readonly_paths() -> None:
    linux = _spec()["linux"]
    assert {"/proc/kcore", "/proc/keys", "/sys/firmware", "/proc/interrupts"} <= set(
        linux["maskedPaths"]
    )
    assert linux["readonlyPaths"] == [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]


def test_namespaces() -> None:
    types = [ns["type"] for ns in _spec()["linux"]["namespaces"]]
    assert types == ["mount", "network", "uts", "pid", "ipc", "cgroup"]
    host = _spec(network="host", pid="/proc/1/ns/pid", cgroupns="host")["linux"]["namespaces"]
    assert {"type": "pid", "path": "/proc/1/ns/pid"} in host
    assert [ns["type"] for ns in host] == ["mount", "uts", "pid", "ipc"]


def test_invalid_namespace_mode() -> None:
    with pytest.raises(InvalidArgument, match="invalid network namespace mode: bridge"):
        _spec(network="bridge")


def test_network_sysctls_only_with_a_private_network() -> None:
    assert _spec()["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"] == "0"
    assert _spec(network="host")["linux"]["sysctl"] == {}
    assert (
        _spec(sysctls={"net.core.somaxconn": "1024"})["linux"]["sysctl"]["net.core.somaxconn"]
        == "1024"
    )


def test_nofile_default_never_raises_our_hard_limit() -> None:
    (nofile,) = _spec()["process"]["rlimits"]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected_hard = 524288 if hard == resource.RLIM_INFINITY else min(524288, hard)
    assert nofile == {
        "type": "RLIMIT_NOFILE",
        "soft": min(1024, expected_hard),
        "hard": expected_hard,
    }


def test_ulimits() -> None:
    rlimits = _spec(ulimits={"nofile": (100, 200), "nproc": (10, 10)})["process"]["rlimits"]
    assert rlimits == [
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
        {"type": "RLIMIT_NPROC", "soft": 10, "hard": 10},
    ]
    with pytest.raises(InvalidArgument, match="invalid ulimit type: bogus"):
        _spec(ulimits={"bogus": (1, 1)})


def test_resources() -> None:
    resources = _spec(memory=1 << 30, nano_cpus=1_500_000_000, pids_limit=100, cpu_shares=512)[
        "linux"
    ]["resources"]
    assert resources["memory"]["limit"] == 1 << 30
    assert resources["cpu"] == {"period": 100000, "quota": 150000, "shares": 512}
    assert resources["pids"] == {"limit": 100}
    assert resources["devices"][0] == {"allow": False, "access": "rwm"}


def test_memory_swap_defaults_to_twice_the_memory() -> None:
    memory = _spec(memory=1 << 20)["linux"]["resources"]["memory"]
    assert memory.get("swap", 2 << 20) == 2 << 20
    with pytest.raises(InvalidArgument, match="Minimum memoryswap limit"):
        _spec(memory=2 << 20, memory_swap=1 << 20)


def test_read_only_root_makes_the_other_default_mounts_read_only() -> None:
    spec = _spec(readonly_rootfs=True)
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert "ro" in _mount(spec, "/sys/fs/cgroup")["options"]
    assert "ro" not in _mount(spec, "/dev/shm")["options"]


def test_user_mounts_replace_defaults_and_go_parents_first() -> None:
    mounts = [
        bind_mount("/srv/a/b", "/data/inner"),
        bind_mount("/srv/a", "/data", readonly=True),
        {"destination": "/dev/shm", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
    ]
    spec = _spec(mounts=mounts)
    destinations = [m["destination"] for m in spec["mounts"]]
    assert destinations.count("/dev/shm") == 1
    assert destinations[-3:] == ["/data", "/data/inner", "/dev/shm"]
    assert _mount(spec, "/data")["options"] == ["rbind", "ro", "rprivate"]


def test_process() -> None:
    process = _spec(env=["A=1"], cwd="/w", terminal=True, uid=5, gid=6, additional_gids=[6, 7])[
        "process"
    ]
    assert process["args"] == ["sh"]
    assert process["env"] == ["A=1"]
    assert (process["cwd"], process["terminal"]) == ("/w", True)
    assert process["user"] == {"uid": 5, "gid": 6, "additionalGids": [6, 7]}


def test_ipc_none_has_no_dev_shm() -> None:
    destinations = [m["destination"] for m in _spec(dev_shm=False)["mounts"]]
    assert "/dev/shm" not in destinations and "/dev/mqueue" in destinations


def test_memory_cpu_and_block_io_settings() -> None:
    throttle = [{"major": 8, "minor": 0, "rate": 1024}]
    resources = _spec(
        memory_reservation=32 << 20,
        memory_swappiness=7,
        oom_kill_disable=True,
        cpu_rt_period=1000,
        cpu_rt_runtime=500,
        cpuset_cpus="0",
        cpuset_mems="0",
        block_io={"throttleReadBpsDevice": throttle},
    )["linux"]["resources"]
    assert resources["memory"] == {
        "reservation": 32 << 20,
        "swappiness": 7,
        "disableOOMKiller": True,
    }
    assert resources["cpu"] == {
        "realtimePeriod": 1000,
        "realtimeRuntime": 500,
        "cpus": "0",
        "mems": "0",
    }
    assert resources["blockIO"] == {"throttleReadBpsDevice": throttle}


def test_console_size_annotations_and_system_paths() -> None:
    spec = _spec(
        terminal=True,
        console_size=(30, 100),
        annotations={"a": "b"},
        masked_paths=[],
        readonly_paths=["/proc/sys"],
    )
    assert spec["process"]["consoleSize"] == {"height": 30, "width": 100}
    assert spec["annotations"] == {"a": "b"}
    assert (spec["linux"]["maskedPaths"], spec["linux"]["readonlyPaths"]) == ([], ["/proc/sys"])
    assert "consoleSize" not in _spec(console_size=(30, 100))["process"]
    assert "annotations" not in _spec()


def _allowed(spec: dict) -> set[str]:
    return {
        name
        for rule in spec["linux"]["seccomp"]["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
        for name in rule["names"]
    }


def test_seccomp_follows_the_final_capabilities() -> None:
    default = _spec()
    assert default["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "unshare" not in _allowed(default)
    assert "unshare" in _allowed(_spec(cap_add=["SYS_ADMIN"]))
    assert "chroot" not in _allowed(_spec(cap_drop=["SYS_CHROOT"]))


def test_no_seccomp_profile_means_no_filter() -> None:
    assert "seccomp" not in _spec(seccomp=None)["linux"]


def test_writable_cgroups_even_with_a_read_only_root() -> None:
    assert "ro" in _mount(_spec(), "/sys/fs/cgroup")["options"]
    writable = _spec(writable_cgroups=True, readonly_rootfs=True)
    assert "ro" not in _mount(writable, "/sys/fs/cgroup")["options"]
    assert "ro" in _mount(writable, "/sys")["options"]
