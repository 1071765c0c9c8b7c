"""Process limits, cgroup settings and groups through the docker CLI: honoured as Docker honours
them, refused or dropped with Docker's words where this host cannot."""

from __future__ import annotations

import json
import os
import resource
import secrets
from pathlib import Path

from docker import DockerClient

from dockyard.runtime import cgroups
from tests.e2e.helpers import Docker

v1 = not cgroups.unified()


def _run(docker: Docker, *args: str) -> str:
    result = docker("run", "--rm", *args)
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def test_ulimits_reach_the_process(docker_cli: Docker) -> None:
    out = _run(
        docker_cli, "--ulimit", "nofile=100:200", "--ulimit", "nproc=50",
        "busybox", "sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -u",
    )  # fmt: skip
    assert out == "100\n200\n50\n"


def test_a_hard_limit_the_engine_cannot_give_fails_the_start(docker_cli: Docker) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return  # every limit can be given here
    result = docker_cli(
        "run", "--rm", "--ulimit", f"nofile={hard + 1}:{hard + 1}", "busybox", "true"
    )
    assert result.returncode == 125
    assert "error setting rlimit type 7: operation not permitted" in result.stderr


def test_cpuset_is_applied_to_the_cgroup(docker_cli: Docker) -> None:
    path = "/sys/fs/cgroup/cpuset/cpuset.cpus" if v1 else "/sys/fs/cgroup/cpuset.cpus"
    assert _run(docker_cli, "--cpuset-cpus", "0", "--cpuset-mems", "0", "busybox", "cat", path) == (
        "0\n"
    )


def test_unavailable_cpus_are_refused(docker_cli: Docker) -> None:
    available = cgroups.Support().cpus
    result = docker_cli("run", "--rm", "--cpuset-cpus", "4000", "busybox", "true")
    assert result.returncode == 125
    assert (
        f"Requested CPUs are not available - requested 4000, available: {available}"
        in result.stderr
    )
    malformed = docker_cli("run", "--rm", "--cpuset-cpus", "1-0", "busybox", "true")
    assert malformed.returncode == 125
    assert "Invalid value 1-0 for cpuset cpus: invalid format: 1-0" in malformed.stderr
    assert docker_cli("ps", "-aq").stdout == ""


def test_group_add_by_name_and_number(docker_cli: Docker) -> None:
    out = _run(
        docker_cli, "--group-add", "staff", "--group-add", "1234", "-u", "1000",
        "busybox", "id",
    )  # fmt: skip
    assert out == "uid=1000 gid=0(root) groups=0(root),50(staff),1234\n"


def test_group_add_keeps_the_groups_in_exec(docker_cli: Docker) -> None:
    started = docker_cli(
        "run", "-d", "--name", "grouped", "--group-add", "staff", "busybox", "sleep", "300"
    )
    assert started.returncode == 0, started.stderr
    assert docker_cli("exec", "grouped", "id", "-G").stdout == "0 10 50\n"
    assert docker_cli("exec", "-u", "mail", "grouped", "id", "-G").stdout == "8 50\n"


def test_an_unknown_group_fails_the_start(docker_cli: Docker) -> None:
    result = docker_cli("run", "--rm", "--group-add", "nosuch", "busybox", "true")
    assert result.returncode == 125
    assert "Unable to find group nosuch: no matching entries in group file" in result.stderr


def test_memory_settings_reach_the_cgroup(docker_cli: Docker) -> None:
    if not v1:
        return  # cgroup v2 has no swappiness or OOM-killer switch: see test_v2_warnings
    out = _run(
        docker_cli, "-m", "64m", "--memory-reservation", "32m", "--memory-swappiness", "7",
        "--oom-kill-disable", "busybox", "sh", "-c",
        "cd /sys/fs/cgroup/memory; cat memory.soft_limit_in_bytes memory.swappiness; "
        "grep oom_kill_disable memory.oom_control",
    )  # fmt: skip
    assert out == f"{32 << 20}\n7\noom_kill_disable 1\n"


def test_memory_settings_are_checked(docker_cli: Docker) -> None:
    for flags, message in (
        (("--memory-reservation", "1m"), "Minimum memory reservation allowed is 6MB"),
        (
            ("-m", "16m", "--memory-reservation", "32m"),
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
        (
            ("--memory-swap", "64m"),
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        (("--cpu-period", "10"), "CPU cfs period can not be less than 1ms (i.e. 1000)"),
        (("--cpu-quota", "10"), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (("--cpus", "1", "--cpu-period", "100000"), "Nano CPUs and CPU Period cannot both be set"),
        (
            ("--oom-score-adj", "1001"),
            "Invalid value 1001, range for oom score adj is [-1000, 1000]",
        ),
        (("--storage-opt", "size=1G"), "--storage-opt is supported only for overlay over xfs"),
        (("--isolation", "hyperv"), "invalid isolation (hyperv): linux only supports 'default'"),
        (
            ("--cpu-rt-period", "1000", "--cpu-rt-runtime", "2000"),
            "cpu real-time runtime cannot be higher than cpu real-time period",
        ),
    ):
        result = docker_cli("run", "--rm", *flags, "busybox", "true")
        assert result.returncode == 125, flags
        assert message in result.stderr, (flags, result.stderr)
    assert docker_cli("ps", "-aq").stdout == ""


def test_what_the_host_cannot_limit_is_dropped_with_dockers_warning(docker_cli: Docker) -> None:
    support = cgroups.Support()
    flags, expected = [], []
    if not support.blkio_weight:
        flags += ["--blkio-weight", "300"]
        expected.append(
            "WARNING: Your kernel does not support Block I/O weight or the cgroup is not "
            "mounted. Weight discarded."
        )
    if not support.memory_swappiness:
        flags += ["--memory-swappiness", "10"]
        expected.append(
            "WARNING: Your kernel does not support memory swappiness capabilities or the cgroup "
            "is not mounted. Memory swappiness discarded."
        )
    created = docker_cli("create", "--name", "dropped", *flags, "busybox", "true")
    assert created.returncode == 0, created.stderr
    assert created.stderr.splitlines() == expected
    shown = docker_cli(
        "inspect", "-f", "{{.HostConfig.BlkioWeight}} {{.HostConfig.MemorySwappiness}}", "dropped"
    ).stdout
    assert shown == "0 <nil>\n"


def test_cpu_percent_is_dropped_with_dockers_warning(docker_sdk: DockerClient) -> None:
    # --cpu-percent is a Windows flag of the CLI; the API takes it and moby drops it on Linux.
    api = docker_sdk.api
    created = api.create_container(
        "busybox", ["true"], host_config=api.create_host_config(cpu_percent=50)
    )
    assert created["Warnings"] == ["linux does not support CPU percent. Percent discarded."]
    assert api.inspect_container(created["Id"])["HostConfig"]["CpuPercent"] == 0


def test_device_throttles_reach_the_cgroup(docker_cli: Docker) -> None:
    device = _a_block_device()
    if not v1 or device is None:
        return
    rdev = os.stat(device).st_rdev
    out = _run(
        docker_cli, "--device-read-bps", f"{device}:1mb", "--device-write-iops", f"{device}:30",
        "busybox", "sh", "-c",
        "cd /sys/fs/cgroup/blkio; "
        "cat blkio.throttle.read_bps_device blkio.throttle.write_iops_device",
    )  # fmt: skip
    numbers = f"{os.major(rdev)}:{os.minor(rdev)}"
    assert out == f"{numbers} 1048576\n{numbers} 30\n"


def _a_block_device() -> str | None:
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram")) and os.path.exists(f"/dev/{name}"):
            return f"/dev/{name}"
    return None


def test_cgroup_parent_holds_the_containers_cgroup(docker_cli: Docker) -> None:
    parent = f"/dytest-{secrets.token_hex(4)}"
    try:
        created = docker_cli(
            "create", "--cgroup-parent", parent, "--cgroupns", "host", "busybox",
            "cat", "/proc/self/cgroup",
        )  # fmt: skip
        cid = created.stdout.strip()
        result = docker_cli("start", "-a", cid)
        assert result.returncode == 0, result.stderr
        assert f":{parent}/{cid}\n" in result.stdout
        docker_cli("rm", cid)
    finally:
        for directory in Path("/sys/fs/cgroup").glob(f"*{parent}"):
            directory.rmdir()


def test_gpus_are_refused_at_start(docker_cli: Docker) -> None:
    result = docker_cli("run", "--rm", "--gpus", "all", "busybox", "true")
    assert result.returncode == 125
    assert 'could not select device driver "" with capabilities: [[gpu]]' in result.stderr


def test_systempaths_unconfined_unmasks_proc(docker_cli: Docker) -> None:
    # The CLI turns the option into empty MaskedPaths and ReadonlyPaths.
    mounted = "grep -c -e ' /proc/keys ' -e ' /proc/sys ' /proc/self/mounts || true"
    assert _run(docker_cli, "busybox", "sh", "-c", mounted) == "2\n"
    assert (
        _run(docker_cli, "--security-opt", "systempaths=unconfined", "busybox", "sh", "-c", mounted)
        == "0\n"
    )


def test_console_size_and_annotations_reach_the_spec(
    docker_sdk: DockerClient, daemon: object
) -> None:
    api = docker_sdk.api
    body = api.create_host_config(binds=[])
    body.update(ConsoleSize=[30, 100], Annotations={"org.example/kind": "test"})
    created = api.create_container("busybox", ["stty", "size"], tty=True, host_config=body)
    api.start(created["Id"])
    assert api.wait(created["Id"])["StatusCode"] == 0
    assert api.logs(created["Id"]).decode().strip() == "30 100"
    data_root = Path(daemon.roots.data_root)  # type: ignore[attr-defined]
    spec = json.loads((data_root / "containers" / created["Id"] / "config.json").read_text())
    assert spec["annotations"] == {"org.example/kind": "test"}
