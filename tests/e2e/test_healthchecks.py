"""Healthchecks run by the engine, seen through the docker CLI and the SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.e2e.helpers import Docker, wait_until

# A probe the test steers from outside: healthy while /tmp/ok exists.
PROBE = ("--health-cmd", "cat /tmp/ok", "--health-interval", "100ms", "--health-retries", "2")


def _health(docker: Docker, name: str) -> dict[str, Any]:
    out = docker("inspect", "-f", "{{json .State.Health}}", name)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _wait_status(docker: Docker, name: str, status: str) -> dict[str, Any]:
    wait_until(lambda: _health(docker, name)["Status"] == status, what=f"{name} {status}")
    return _health(docker, name)


def test_probes_move_between_healthy_and_unhealthy(docker_cli: Docker) -> None:
    ran = docker_cli("run", "-d", "--name", "probed", *PROBE, "busybox", "sleep", "300")
    assert ran.returncode == 0, ran.stderr
    assert docker_cli("exec", "probed", "sh", "-c", "echo fine > /tmp/ok").returncode == 0
    healthy = _wait_status(docker_cli, "probed", "healthy")
    assert healthy["FailingStreak"] == 0
    assert healthy["Log"][-1]["ExitCode"] == 0 and healthy["Log"][-1]["Output"] == "fine\n"
    status = docker_cli("ps", "--format", "{{.Status}}", "--filter", "name=probed").stdout
    assert status.strip().endswith("(healthy)")
    listed = docker_cli("ps", "-q", "--filter", "health=healthy").stdout.split()
    assert len(listed) == 1
    assert docker_cli("ps", "-q", "--filter", "health=unhealthy").stdout == ""

    assert docker_cli("exec", "probed", "rm", "/tmp/ok").returncode == 0
    unhealthy = _wait_status(docker_cli, "probed", "unhealthy")
    assert unhealthy["FailingStreak"] >= 2
    assert len(unhealthy["Log"]) <= 5
    assert unhealthy["Log"][-1]["ExitCode"] == 1
    assert "can't open '/tmp/ok'" in unhealthy["Log"][-1]["Output"]
    status = docker_cli("ps", "--format", "{{.Status}}", "--filter", "name=probed").stdout
    assert status.strip().endswith("(unhealthy)")

    def health_events() -> list[str]:
        return docker_cli(
            "events", "--since", "0", "--until", "0s", "--filter", "event=health_status",
            "--format", "{{.Action}}",
        ).stdout.splitlines()  # fmt: skip

    # --until has a precision of one second: the newest event shows once its second is over.
    wait_until(
        lambda: health_events() == ["health_status: healthy", "health_status: unhealthy"],
        what="both health_status events",
    )


def test_starting_until_the_first_probe_and_none_without_one(docker_cli: Docker) -> None:
    options = ("--health-cmd", "true", "--health-interval", "1h")
    assert docker_cli("run", "-d", "--name", "slow", *options, "busybox", "sleep", "300")
    assert docker_cli("run", "-d", "--name", "plain", "busybox", "sleep", "300").returncode == 0
    assert _health(docker_cli, "slow") == {"Status": "starting", "FailingStreak": 0, "Log": []}
    status = docker_cli("ps", "--format", "{{.Names}} {{.Status}}").stdout.splitlines()
    assert any(
        line.startswith("slow Up") and line.endswith("(health: starting)") for line in status
    )
    assert any(line.startswith("plain Up") and "(" not in line for line in status)
    assert docker_cli("ps", "--format", "{{.Names}}", "--filter", "health=none").stdout == "plain\n"
    bad = docker_cli("ps", "--filter", "health=sick")
    assert bad.returncode == 1
    assert (
        "invalid filter 'health=sick': invalid value for health (sick): "
        "must be one of none, starting, healthy, unhealthy" in bad.stderr
    )
    assert docker_cli("inspect", "-f", "{{json .State.Health}}", "plain").stdout.strip() == "null"


def test_a_probe_past_its_timeout_is_killed_and_counted(docker_cli: Docker) -> None:
    options = (
        "--health-cmd", "echo started; sleep 31", "--health-timeout", "200ms",
        "--health-interval", "100ms", "--health-retries", "1",
    )  # fmt: skip
    assert docker_cli("run", "-d", "--name", "hung", *options, "busybox", "sleep", "300")
    health = _wait_status(docker_cli, "hung", "unhealthy")
    entry = health["Log"][-1]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (200ms): started\n"
    # Each probe is killed at its timeout: after several, at most the current one is left.
    wait_until(lambda: len(_health(docker_cli, "hung")["Log"]) >= 3, what="three probes")
    assert docker_cli("top", "hung").stdout.count("sleep 31") <= 1


def test_image_healthcheck_and_no_healthcheck(docker_cli: Docker, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        'FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD ["true"]\n'
    )
    built = docker_cli("build", "-q", "-t", "checked", str(tmp_path))
    assert built.returncode == 0, built.stderr
    assert docker_cli("run", "-d", "--name", "fromimage", "checked", "sleep", "300")
    assert _wait_status(docker_cli, "fromimage", "healthy")["Log"][-1]["ExitCode"] == 0
    config = json.loads(
        docker_cli("inspect", "-f", "{{json .Config.Healthcheck}}", "fromimage").stdout
    )
    assert config["Test"] == ["CMD", "true"] and config["Interval"] == 100_000_000
    options = ("--no-healthcheck",)
    assert docker_cli("run", "-d", "--name", "off", *options, "checked", "sleep", "300")
    assert docker_cli("inspect", "-f", "{{json .State.Health}}", "off").stdout.strip() == "null"


def test_monitoring_goes_on_after_a_daemon_restart(docker_cli: Docker, daemon: Daemon) -> None:
    assert docker_cli("run", "-d", "--name", "kept", *PROBE, "busybox", "sleep", "300")
    daemon.stop()
    daemon.start()
    wait_until(lambda: docker_cli("version").returncode == 0, what="the daemon back")
    assert docker_cli("exec", "kept", "touch", "/tmp/ok").returncode == 0
    _wait_status(docker_cli, "kept", "healthy")


def test_stopped_and_paused_containers_are_unhealthy(docker_cli: Docker) -> None:
    assert docker_cli("run", "-d", "--name", "halt", *PROBE, "busybox", "sleep", "300")
    assert docker_cli("exec", "halt", "touch", "/tmp/ok").returncode == 0
    _wait_status(docker_cli, "halt", "healthy")
    assert docker_cli("pause", "halt").returncode == 0
    assert _health(docker_cli, "halt")["Status"] == "unhealthy"
    assert docker_cli("unpause", "halt").returncode == 0
    _wait_status(docker_cli, "halt", "healthy")
    assert docker_cli("stop", "-t", "0", "halt").returncode == 0
    assert _health(docker_cli, "halt")["Status"] == "unhealthy"
    assert docker_cli("start", "halt").returncode == 0
    assert _health(docker_cli, "halt")["Status"] == "starting"


def test_sdk_healthcheck_validation(docker_sdk: Any) -> None:
    import docker

    with pytest.raises(docker.errors.APIError) as caught:
        docker_sdk.containers.create(
            "busybox", "true", healthcheck={"test": ["CMD", "true"], "interval": 10}
        )
    assert caught.value.status_code == 400
    assert "Interval in Healthcheck cannot be less than 1ms" in str(caught.value)
    with pytest.raises(docker.errors.APIError, match="Retries in Healthcheck cannot be negative"):
        docker_sdk.containers.create(
            "busybox", "true", healthcheck={"test": ["CMD", "true"], "retries": -1}
        )
