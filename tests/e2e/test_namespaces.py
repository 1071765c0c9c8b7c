"""--pid, --ipc, --uts, --cgroupns and --userns through the docker CLI, as Docker runs them."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

from tests.e2e.helpers import Docker, wait_running


def _run(docker: Docker, *args: str) -> str:
    result = docker("run", "--rm", *args)
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def _sleeper(docker: Docker, name: str, *flags: str) -> None:
    started = docker("run", "-d", "--name", name, *flags, "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    wait_running(docker, name)


def test_pid_host_sees_the_hosts_processes(docker_cli: Docker) -> None:
    me = os.getpid()
    out = _run(docker_cli, "--pid", "host", "busybox", "sh", "-c", f"test -d /proc/{me} && echo y")
    assert out == "y\n"
    assert _run(docker_cli, "--pid", "host", "busybox", "readlink", "/proc/self/ns/pid") == (
        os.readlink("/proc/self/ns/pid") + "\n"
    )


def test_pid_container_joins_the_other_containers_processes(docker_cli: Docker) -> None:
    _sleeper(docker_cli, "holder")
    out = _run(docker_cli, "--pid", "container:holder", "busybox", "cat", "/proc/1/cmdline")
    assert out.split("\0")[:2] == ["sleep", "300"]
    # create stores the id, so renaming the other container keeps the link (moby does the same)
    docker_cli("create", "--name", "joiner", "--pid", "container:holder", "busybox", "true")
    holder_id = docker_cli("inspect", "-f", "{{.Id}}", "holder").stdout.strip()
    assert docker_cli("inspect", "-f", "{{.HostConfig.PidMode}}", "joiner").stdout == (
        f"container:{holder_id}\n"
    )


def test_pid_container_of_a_missing_or_stopped_container(docker_cli: Docker) -> None:
    # A 404 makes the CLI pull the image (as with Docker): --pull never shows the error itself.
    missing = docker_cli(
        "run", "--rm", "--pull", "never", "--pid", "container:nobody", "busybox", "true"
    )
    assert missing.returncode == 125
    assert "No such container: nobody" in missing.stderr
    docker_cli("create", "--name", "idle", "busybox", "true")
    idle_id = docker_cli("inspect", "-f", "{{.Id}}", "idle").stdout.strip()
    stopped = docker_cli("run", "--rm", "--pid", "container:idle", "busybox", "true")
    assert stopped.returncode == 125
    assert f"failed to join PID namespace: container {idle_id} is not running" in stopped.stderr


def test_ipc_host_shares_the_hosts_ipc_and_dev_shm(docker_cli: Docker) -> None:
    name = f"dy-test-{secrets.token_hex(4)}"
    marker = Path("/dev/shm") / name
    marker.write_text("host")
    try:
        out = _run(
            docker_cli, "--ipc", "host", "busybox", "sh", "-c",
            f"cat /dev/shm/{name}; readlink /proc/self/ns/ipc",
        )  # fmt: skip
    finally:
        marker.unlink()
    assert out == "host" + os.readlink("/proc/self/ns/ipc") + "\n"


def test_ipc_shareable_is_joined_with_its_dev_shm(docker_cli: Docker) -> None:
    _sleeper(docker_cli, "donor", "--ipc", "shareable")
    assert docker_cli("exec", "donor", "sh", "-c", "echo shared > /dev/shm/x").returncode == 0
    donor_ns = docker_cli("exec", "donor", "readlink", "/proc/self/ns/ipc").stdout
    out = _run(
        docker_cli, "--ipc", "container:donor", "busybox", "sh", "-c",
        "cat /dev/shm/x; readlink /proc/self/ns/ipc",
    )  # fmt: skip
    assert out == "shared\n" + donor_ns
    assert donor_ns != os.readlink("/proc/self/ns/ipc") + "\n"


def test_a_private_ipc_cannot_be_joined(docker_cli: Docker) -> None:
    _sleeper(docker_cli, "private")
    private_id = docker_cli("inspect", "-f", "{{.Id}}", "private").stdout.strip()
    assert docker_cli("inspect", "-f", "{{.HostConfig.IpcMode}}", "private").stdout == "private\n"
    result = docker_cli("run", "--rm", "--ipc", "container:private", "busybox", "true")
    assert result.returncode == 125
    assert (
        f"failed to join IPC namespace: container {private_id}: non-shareable IPC "
        "(hint: use IpcMode:shareable for the donor container)"
    ) in result.stderr


def test_ipc_none_has_no_dev_shm(docker_cli: Docker) -> None:
    out = _run(
        docker_cli,
        "--ipc",
        "none",
        "busybox",
        "sh",
        "-c",
        "grep -c ' /dev/shm ' /proc/mounts || true",
    )
    assert out == "0\n"
    assert _run(docker_cli, "busybox", "sh", "-c", "grep -c ' /dev/shm ' /proc/mounts") == "1\n"


def test_an_unknown_ipc_mode_is_refused(docker_cli: Docker) -> None:
    result = docker_cli("run", "--rm", "--ipc", "sideways", "busybox", "true")
    assert result.returncode == 125
    assert "invalid IPC mode: sideways" in result.stderr


def test_uts_host_has_the_hosts_hostname(docker_cli: Docker) -> None:
    out = _run(
        docker_cli, "--uts", "host", "busybox", "sh", "-c", "hostname; readlink /proc/self/ns/uts"
    )
    assert out == f"{socket.gethostname()}\n{os.readlink('/proc/self/ns/uts')}\n"
    conflict = docker_cli("run", "--rm", "--uts", "host", "-h", "boat", "busybox", "true")
    assert conflict.returncode == 125
    assert "conflicting options: hostname and the UTS mode" in conflict.stderr


def test_the_host_network_keeps_a_private_uts_namespace(docker_cli: Docker) -> None:
    # As with Docker: the host's name, but setting it changes only the container's.
    out = _run(
        docker_cli,
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "hostname; readlink /proc/self/ns/uts",
    )
    hostname, namespace = out.splitlines()
    assert hostname == socket.gethostname()
    assert namespace != os.readlink("/proc/self/ns/uts")


def test_cgroupns_host_shows_the_full_cgroup_path(docker_cli: Docker) -> None:
    created = docker_cli("create", "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
    cid = created.stdout.strip()
    result = docker_cli("start", "-a", cid)
    assert result.returncode == 0, result.stderr
    assert f":/dockyard/{cid}" in result.stdout
    private = _run(docker_cli, "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup")
    assert "dockyard" not in private and ":/\n" in private


def test_the_default_cgroupns_is_dockers_for_this_cgroup_version(docker_cli: Docker) -> None:
    docker_cli("create", "--name", "plain", "busybox", "true")
    expected = "private" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "host"
    assert docker_cli("inspect", "-f", "{{.HostConfig.CgroupnsMode}}", "plain").stdout == (
        expected + "\n"
    )


def test_userns_other_than_host_is_refused_by_the_cli(docker_cli: Docker) -> None:
    result = docker_cli("run", "--rm", "--userns", "foo", "busybox", "true")
    assert result.returncode == 125
    assert "--userns: invalid USER mode" in result.stderr
    assert _run(docker_cli, "--userns", "host", "busybox", "true") == ""
