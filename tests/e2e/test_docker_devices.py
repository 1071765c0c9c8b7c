"""Device nodes, --device, --device-cgroup-rule and --privileged through docker CLI 28."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import docker
import pytest
from docker import DockerClient as Client

from tests.conftest import Daemon
from tests.e2e.helpers import Docker, wait_running

DEFAULT_CAPS = "00000000a80425fb"  # moby's default set


def _own_capabilities() -> str:
    """The engine's effective capabilities (it runs as we do): all that --privileged can give."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return line.split()[1]
    raise AssertionError("no CapEff in /proc/self/status")


def _run(docker_cli: Docker, *args: str, script: str) -> tuple[int, str, str]:
    result = docker_cli("run", "--rm", *args, "busybox", "sh", "-c", script)
    return result.returncode, result.stdout, result.stderr


def test_default_nodes_are_the_containers_own(docker_cli: Docker) -> None:
    host_mode = os.stat("/dev/full").st_mode
    assert stat.S_IMODE(host_mode) != 0o606
    try:
        status, out, err = _run(
            docker_cli,
            script=(
                "chmod 0606 /dev/full; stat -c '%a %t,%T' /dev/full /dev/null /dev/tty; "
                "echo x > /dev/null && cat /dev/null && echo null-ok; echo x > /dev/full; "
                "grep -cE ' /dev/(null|zero|full|random|urandom|tty) ' /proc/self/mountinfo"
            ),
        )
        assert os.stat("/dev/full").st_mode == host_mode
    finally:
        os.chmod("/dev/full", stat.S_IMODE(host_mode))  # should a container have reached it
    assert out == "606 1,7\n666 1,3\n666 5,0\nnull-ok\n0\n", err
    assert "No space left on device" in err


def test_device_mapping_makes_the_node_and_allows_it(docker_cli: Docker) -> None:
    host = os.stat("/dev/loop-control")
    status, out, err = _run(
        docker_cli,
        "--device",
        "/dev/loop-control:/dev/lc",
        "--device",
        "/dev/zero:/dev/myzero:r",
        script=(
            "stat -c '%F %a %u:%g %t,%T' /dev/lc; exec 3</dev/lc && echo opened; "
            "head -c 3 /dev/myzero | od -An -tx1; "
            "grep -E '^c (10:237|1:5) ' /sys/fs/cgroup/devices/devices.list | sort"
        ),
    )
    numbers = f"{os.major(host.st_rdev):x},{os.minor(host.st_rdev):x}"
    mode = f"{stat.S_IMODE(host.st_mode):o}"
    assert (status, err) == (0, "")
    assert out == (
        f"character special file {mode} {host.st_uid}:{host.st_gid} {numbers}\n"
        "opened\n 00 00 00\nc 10:237 rwm\nc 1:5 rwm\n"
    )


def test_without_a_rule_the_device_cgroup_refuses_a_node(docker_cli: Docker) -> None:
    script = "mknod /dev/x c 10 237 && exec 3</dev/x && echo opened"
    refused = _run(docker_cli, script=script)
    assert refused[0] != 0 and "Operation not permitted" in refused[2]
    allowed = _run(docker_cli, "--device-cgroup-rule", "c 10:* rwm", script=script)
    assert allowed == (0, "opened\n", "")


def test_privileged_gets_everything(docker_cli: Docker) -> None:
    status, out, err = _run(
        docker_cli,
        "--privileged",
        "--cap-drop",
        "ALL",
        script=(
            "grep CapEff /proc/self/status | cut -f2; stat -c %F /dev/loop0; "
            "test -e /dev/console || echo no-console; "
            "[ $(wc -l < /proc/interrupts) -gt 0 ] && echo interrupts-unmasked; "
            "grep ' /sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1; "
            "head -1 /sys/fs/cgroup/devices/devices.list; "
            "mkdir /m && mount -t tmpfs none /m && echo mounted"
        ),
    )
    assert (status, err) == (0, "")
    assert out == (
        f"{_own_capabilities()}\nblock special file\nno-console\ninterrupts-unmasked\n"
        "rw\na *:* rwm\nmounted\n"
    )
    default = _run(
        docker_cli, script="wc -l < /proc/interrupts; mkdir /m && mount -t tmpfs none /m"
    )
    assert default[1:] == ("0\n", "mount: permission denied (are you root?)\n")


def test_exec_privileged_gets_every_capability(docker_cli: Docker) -> None:
    docker_cli("run", "-d", "--name", "box", "busybox", "sleep", "300")
    wait_running(docker_cli, "box")
    caps = "grep CapEff /proc/self/status | cut -f2"
    assert docker_cli("exec", "box", "sh", "-c", caps).stdout == DEFAULT_CAPS + "\n"
    privileged = docker_cli("exec", "--privileged", "box", "sh", "-c", caps)
    assert privileged.stdout == _own_capabilities() + "\n"


def test_inspect_shows_devices_rules_and_privileged(daemon: Daemon, docker_cli: Docker) -> None:
    created = daemon.cli(
        "create",
        "--name",
        "shapes",
        "--privileged",
        "--device",
        "/dev/zero:/dev/z:rw",
        "--device-cgroup-rule",
        "c 42:* rmw",
        "busybox",
    )
    assert created.returncode == 0, created.stderr
    docker_cli("create", "--name", "plain", "busybox")
    shapes, plain = (
        json.loads(docker_cli("inspect", name).stdout)[0]["HostConfig"]
        for name in ("shapes", "plain")
    )
    assert (shapes["Devices"], shapes["DeviceCgroupRules"], shapes["Privileged"]) == (
        [{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/z", "CgroupPermissions": "rw"}],
        ["c 42:* rmw"],
        True,
    )
    assert (plain["Devices"], plain["DeviceCgroupRules"], plain["Privileged"]) == ([], None, False)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--device", "/dev/zero:/dev/z:rwx"], "bad mode specified: rwx"),
        (["--device", "/dev/zero:z"], "z is not an absolute path"),
        (["--device", "/dev/zero:/a:/b:rw"], "bad format for path: /dev/zero:/a:/b:rw"),
        (
            ["--device-cgroup-rule", "c 42 rmw"],
            "invalid device cgroup format 'c 42 rmw'",
        ),
        (
            ["--device", "/etc/passwd"],
            'error gathering device information while adding custom device "/etc/passwd": '
            "not a device node",
        ),
    ],
)
def test_bad_device_specs_exit_125(
    daemon: Daemon, docker_cli: Docker, flags: list[str], message: str
) -> None:
    for cli in (docker_cli, daemon.cli):
        result = cli("run", "--rm", *flags, "busybox", "true")
        assert result.returncode == 125 and message in result.stderr, result.stderr
    assert docker_cli("ps", "-aq").stdout == ""


def test_missing_device_is_the_daemons_error(daemon: Daemon, docker_cli: Docker) -> None:
    # docker run exits 127 for any error that says "no such file or directory".
    for cli in (docker_cli, daemon.cli):
        result = cli("run", "--rm", "--device", "/dev/nope", "busybox", "true")
        assert result.returncode == 127
        assert (
            "Error response from daemon: error gathering device information while adding "
            'custom device "/dev/nope": no such file or directory' in result.stderr
        )


def test_api_device_cgroup_rules_are_checked_at_start(docker_sdk: Client) -> None:
    container = docker_sdk.containers.create(
        "busybox", ["true"], device_cgroup_rules=["c 42:x rwm"]
    )
    with pytest.raises(docker.errors.APIError) as failure:
        container.start()
    assert failure.value.status_code == 500
    assert "invalid device cgroup rule format: 'c 42:x rwm'" in str(failure.value)
    container.remove()
