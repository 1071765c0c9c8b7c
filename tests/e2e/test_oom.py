"""A container the kernel kills for going over its memory limit: State.OOMKilled and the `oom` event."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.helpers import Docker, wait_running

# The shell keeps all 100 MB that it reads in one variable: far over a 32 MB limit.
HOG = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'


def actions(docker: Docker, name: str) -> list[str]:
    """The actions of the container's past events, oldest first."""
    result = docker(
        "events",
        "--since",
        "0",
        "--until",
        f"{time.time():.9f}",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    )
    assert result.returncode == 0, result.stderr
    return [line.split()[0] for line in result.stdout.splitlines() if line.endswith(f" {name}")]


def test_a_container_over_its_memory_limit_is_oom_killed(
    docker_cli: Docker, docker_sdk: Any
) -> None:
    result = docker_cli("run", "--name", "hog", "--memory", "32m", "busybox", "sh", "-c", HOG)
    assert (result.returncode, result.stdout) == (137, "")
    inspected = docker_cli("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog")
    assert inspected.stdout == "true 137\n"
    assert docker_sdk.containers.get("hog").attrs["State"]["OOMKilled"] is True
    assert actions(docker_cli, "hog")[-2:] == ["oom", "die"]


def test_a_container_killed_otherwise_is_not_oom_killed(docker_cli: Docker) -> None:
    assert docker_cli("run", "-d", "--name", "calm", "--memory", "32m", "busybox", "sleep", "300")
    wait_running(docker_cli, "calm")
    assert docker_cli("kill", "calm").returncode == 0
    assert docker_cli("wait", "calm").stdout == "137\n"
    inspected = docker_cli("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "calm")
    assert inspected.stdout == "false 137\n"
    assert "oom" not in actions(docker_cli, "calm")
