"""docker update: limits of running and stopped containers, and the restart policy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.conftest import Daemon
from tests.e2e.helpers import Docker

MB = 1024 * 1024


def _cgroup_file(docker: Docker, name: str, controller: str, file: str) -> str:
    """A file of the container's cgroup, found from its init's /proc/<pid>/cgroup."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return (Path(f"/sys/fs/cgroup/{controllers}") / path.lstrip("/") / file).read_text()
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            unified = Path("/sys/fs/cgroup") / path.lstrip("/") / file
            if unified.exists():
                return unified.read_text()
    raise AssertionError(f"no {controller} cgroup for {name}")


def test_update_changes_the_live_limits(docker_cli: Docker) -> None:
    ran = docker_cli("run", "-d", "--name", "box", "-m", "32m", "--memory-swap", "64m",
                     "busybox", "sleep", "300")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    out = docker_cli("update", "-m", "96m", "--memory-swap", "192m", "--pids-limit", "12",
                     "--cpus", "0.5", "box")  # fmt: skip
    assert (out.returncode, out.stdout) == (0, "box\n"), out.stderr
    assert int(_cgroup_file(docker_cli, "box", "memory", "memory.limit_in_bytes")) == 96 * MB
    assert _cgroup_file(docker_cli, "box", "pids", "pids.max").strip() == "12"
    assert _cgroup_file(docker_cli, "box", "cpu", "cpu.cfs_quota_us").strip() == "50000"
    hc = json.loads(docker_cli("inspect", "-f", "{{json .HostConfig}}", "box").stdout)
    assert (hc["Memory"], hc["MemorySwap"], hc["PidsLimit"], hc["NanoCpus"]) == (
        96 * MB, 192 * MB, 12, 500_000_000,
    )  # fmt: skip
    # And back down, then limits lifted: the cgroup follows each step.
    assert docker_cli("update", "-m", "16m", "--memory-swap", "32m", "box").returncode == 0
    assert int(_cgroup_file(docker_cli, "box", "memory", "memory.limit_in_bytes")) == 16 * MB
    assert docker_cli("update", "--pids-limit", "-1", "box").returncode == 0
    assert _cgroup_file(docker_cli, "box", "pids", "pids.max").strip() == "max"
    # --until has whole seconds: the next one is past every update (the CLI waits for it).
    until = str(int(time.time()) + 1)
    events = docker_cli("events", "--since", "0", "--until", until, "--filter", "event=update",
                        "--format", "{{.Actor.Attributes.name}}")  # fmt: skip
    assert events.stdout.split() == ["box"] * 3


def test_memory_without_swap_is_refused_as_docker_does(docker_cli: Docker) -> None:
    assert docker_cli("run", "-d", "--name", "free", "busybox", "sleep", "300").returncode == 0
    refused = docker_cli("update", "-m", "64m", "free")
    assert refused.returncode == 1
    cid = docker_cli("inspect", "-f", "{{.Id}}", "free").stdout.strip()
    assert refused.stderr.strip() == (
        f"Error response from daemon: Cannot update container {cid}: Memory limit should be "
        "smaller than already set memoryswap limit, update the memoryswap at the same time"
    )
    assert docker_cli("inspect", "-f", "{{.HostConfig.Memory}}", "free").stdout.strip() == "0"


def test_a_stopped_container_gets_its_new_limits_at_start(docker_cli: Docker) -> None:
    assert docker_cli("create", "--name", "later", "busybox", "sleep", "300").returncode == 0
    out = docker_cli("update", "--pids-limit", "7", "--restart", "on-failure:2", "later")
    assert out.returncode == 0, out.stderr
    assert docker_cli("start", "later").returncode == 0
    assert _cgroup_file(docker_cli, "later", "pids", "pids.max").strip() == "7"
    policy = json.loads(docker_cli("inspect", "-f", "{{json .HostConfig.RestartPolicy}}",
                                   "later").stdout)  # fmt: skip
    assert policy == {"Name": "on-failure", "MaximumRetryCount": 2}


def test_refusals(docker_cli: Docker, daemon: Daemon) -> None:
    assert docker_cli("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "300")
    refused = docker_cli("update", "--restart", "always", "gone")
    assert refused.returncode == 1
    assert "Restart policy cannot be updated because AutoRemove is enabled" in refused.stderr
    small = docker_cli("update", "-m", "1m", "--memory-swap", "2m", "gone")
    assert "Minimum memory limit allowed is 6MB" in small.stderr
    nothing = daemon.cli("update", "gone")
    assert nothing.returncode == 1
    assert nothing.stderr.strip() == "you must provide one or more flags when using this command"
    missing = daemon.cli("update", "--pids-limit", "5", "nosuch")
    assert missing.stderr.strip() == "Error response from daemon: No such container: nosuch"


def test_sdk_update(docker_sdk: Any) -> None:
    box = docker_sdk.containers.run("busybox", "sleep 300", detach=True, mem_limit="32m",
                                    memswap_limit="64m")  # fmt: skip
    assert box.update(mem_limit="48m", memswap_limit="96m") == {"Warnings": None}
    box.reload()
    assert box.attrs["HostConfig"]["Memory"] == 48 * MB
