"""Sysctls reach only the container's own namespaces; those that would change the host are refused.

Each test reads the host's value before and after, and puts it back if a
broken engine changed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest
from docker import DockerClient

from tests.e2e.helpers import Docker


@contextmanager
def host_value_kept(name: str) -> Iterator[str]:
    """The host's value of sysctl ``name``; fails if it changed, restoring it."""
    path = Path("/proc/sys") / name.replace(".", "/")
    before = path.read_text()
    try:
        yield before.strip()
    finally:
        after = path.read_text()
        if after != before:
            path.write_text(before)
        assert after == before, f"the host's {name} changed from {before!r} to {after!r}"


def test_a_sysctl_outside_every_namespace_is_refused_by_the_cli(docker_cli: Docker) -> None:
    with host_value_kept("kernel.printk_ratelimit_burst"):
        result = docker_cli(
            "run", "--rm", "--sysctl", "kernel.printk_ratelimit_burst=17", "busybox", "true"
        )
    assert result.returncode == 125
    assert (
        'invalid argument "kernel.printk_ratelimit_burst=17" for "--sysctl" flag: '
        "sysctl 'kernel.printk_ratelimit_burst=17' is not "
        + docker_cli.expects("allowed", v20_10="whitelisted")
    ) in result.stderr
    assert docker_cli("ps", "-aq").stdout == ""


def test_a_sysctl_outside_every_namespace_fails_the_start(docker_sdk: DockerClient) -> None:
    # The API takes any sysctl (moby does not check them at create); the runtime refuses
    # it before the container exists, with runc's message.
    with (
        host_value_kept("kernel.printk_ratelimit_burst"),
        pytest.raises(docker.errors.APIError) as failure,
    ):
        docker_sdk.containers.run(
            "busybox", ["true"], sysctls={"kernel.printk_ratelimit_burst": "17"}, name="bad"
        )
    assert 'sysctl "kernel.printk_ratelimit_burst" is not in a separate kernel namespace' in str(
        failure.value
    )
    assert docker_sdk.containers.get("bad").status == "created"


def test_a_network_sysctl_with_the_host_network_is_refused(docker_cli: Docker) -> None:
    with host_value_kept("net.ipv4.tcp_keepalive_probes"):
        result = docker_cli(
            "run",
            "--rm",
            "--network",
            "host",
            "--sysctl",
            "net.ipv4.tcp_keepalive_probes=23",
            "busybox",
            "true",
        )
    assert result.returncode == 125
    assert 'sysctl "net.ipv4.tcp_keepalive_probes" not allowed in host network namespace' in (
        result.stderr
    )


def test_a_network_sysctl_applies_in_the_containers_network(docker_cli: Docker) -> None:
    with host_value_kept("net.ipv4.tcp_keepalive_probes") as host:
        wanted = "23" if host != "23" else "24"
        result = docker_cli(
            "run",
            "--rm",
            "--sysctl",
            f"net.ipv4.tcp_keepalive_probes={wanted}",
            "busybox",
            "cat",
            "/proc/sys/net/ipv4/tcp_keepalive_probes",
        )
    assert (result.returncode, result.stdout) == (0, wanted + "\n"), result.stderr


def test_an_ipc_sysctl_applies_in_the_containers_ipc_namespace(docker_cli: Docker) -> None:
    with host_value_kept("kernel.shm_rmid_forced") as host:
        wanted = "0" if host == "1" else "1"
        result = docker_cli(
            "run",
            "--rm",
            "--sysctl",
            f"kernel.shm_rmid_forced={wanted}",
            "busybox",
            "cat",
            "/proc/sys/kernel/shm_rmid_forced",
        )
    assert (result.returncode, result.stdout) == (0, wanted + "\n"), result.stderr


def test_an_ipc_sysctl_with_the_host_ipc_is_refused(docker_cli: Docker) -> None:
    with host_value_kept("kernel.shm_rmid_forced") as host:
        wanted = "0" if host == "1" else "1"
        result = docker_cli(
            "run", "--rm", "--ipc", "host", "--sysctl", f"kernel.shm_rmid_forced={wanted}",
            "busybox", "true",
        )  # fmt: skip
    assert result.returncode == 125
    assert 'sysctl "kernel.shm_rmid_forced" is not allowed in the hosts ipc namespace' in (
        result.stderr
    )


def test_the_domainname_is_the_containers_own(docker_cli: Docker) -> None:
    with host_value_kept("kernel.domainname"):
        result = docker_cli(
            "run", "--rm", "--domainname", "example.org", "busybox",
            "cat", "/proc/sys/kernel/domainname",
        )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "example.org\n"), result.stderr


def test_an_interface_sysctl_must_be_an_endpoint_option(docker_cli: Docker) -> None:
    result = docker_cli(
        "run", "--rm", "--sysctl", "net.ipv4.conf.eth0.forwarding=1", "busybox", "true"
    )
    assert result.returncode == 125
    assert (
        'interface specific sysctl setting "net.ipv4.conf.eth0.forwarding" must be supplied '
        "using driver option 'com.docker.network.endpoint.sysctls'"
    ) in result.stderr
