"""`--mac-address` against dockyardd: the container's eth0 MAC, checked as moby checks it,
shown by inspect as docker 28 shows it, kept across restarts."""

from __future__ import annotations

import json
from typing import Any

import docker
import docker.errors
import pytest

from tests.e2e.helpers import Docker

MAC = "92:d0:c6:0a:29:33"


def _inspect(docker: Docker, name: str) -> Any:
    return json.loads(docker("inspect", name).stdout)[0]


def test_mac_address_inside_and_in_inspect(docker_cli: Docker) -> None:
    created = docker_cli("create", "--name", "macbox", "--mac-address", MAC.upper(), "busybox",
                         "sleep", "300")  # fmt: skip
    assert created.returncode == 0, created.stderr
    before = _inspect(docker_cli, "macbox")
    assert before["Config"]["MacAddress"] == MAC.upper()  # what was asked, as docker 28 shows it
    assert before["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == MAC.upper()

    assert docker_cli("start", "macbox").returncode == 0
    inside = docker_cli("exec", "macbox", "cat", "/sys/class/net/eth0/address")
    assert inside.stdout == MAC + "\n"
    running = _inspect(docker_cli, "macbox")
    assert running["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == MAC
    assert running["NetworkSettings"]["MacAddress"] == MAC

    assert docker_cli("stop", "-t", "0", "macbox").returncode == 0
    stopped = _inspect(docker_cli, "macbox")
    assert stopped["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == ""
    assert stopped["Config"]["MacAddress"] == MAC.upper()
    assert docker_cli("start", "macbox").returncode == 0  # the address asked for is kept
    again = docker_cli("exec", "macbox", "cat", "/sys/class/net/eth0/address")
    assert again.stdout == MAC + "\n"
    assert docker_cli("create", "--name", "plain", "busybox").returncode == 0
    assert "MacAddress" not in _inspect(docker_cli, "plain")["Config"]  # omitempty, as moby


def test_our_cli_sets_it_too(daemon: Any) -> None:
    ours = daemon.cli(
        "run", "--rm", "--mac-address", MAC, "busybox", "cat", "/sys/class/net/eth0/address"
    )
    assert (ours.returncode, ours.stdout, ours.stderr) == (0, MAC + "\n", "")


def test_bad_mac_addresses_are_refused(daemon: Any, docker_cli: Docker, docker_sdk: Any) -> None:
    cli = docker_cli("run", "--mac-address", "92:d0:c6:0a:29", "busybox", "true")
    assert cli.returncode == 125
    assert cli.stderr.startswith("docker: 92:d0:c6:0a:29 is not a valid mac address")
    ours = daemon.cli("run", "--mac-address", "92:d0:c6:0a:29", "busybox", "true")
    assert ours.returncode == 125 and "92:d0:c6:0a:29 is not a valid mac address" in ours.stderr

    api = docker_sdk.api
    endpoint = api.create_endpoint_config(mac_address="zz:zz")
    with pytest.raises(docker.errors.APIError) as refused:
        api.create_container(
            "busybox", "true", networking_config=api.create_networking_config({"bridge": endpoint})
        )
    assert refused.value.status_code == 400
    assert (
        refused.value.explanation == "invalid config for network bridge: invalid MAC address zz:zz"
    )

    assert docker_cli("ps", "-aq").stdout == ""


def test_the_deprecated_container_wide_field(daemon: Any, docker_sdk: Any) -> None:
    api = docker_sdk.api
    # API 1.44+: Config.MacAddress moves to the endpoint, with moby's warning.
    created = api.create_container("busybox", "true", mac_address=MAC)
    assert created["Warnings"] == [
        "The container-wide MacAddress field is now deprecated. "
        "It should be specified in EndpointsConfig instead."
    ]
    settings = api.inspect_container(created["Id"])
    assert settings["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == MAC
    assert settings["Config"]["MacAddress"] == MAC

    old = docker.APIClient(base_url=daemon.host, version="1.43")
    try:
        migrated = old.create_container("busybox", "true", mac_address=MAC)
        assert not migrated["Warnings"]
        shown = old.inspect_container(migrated["Id"])
        assert shown["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == MAC
        host = old.create_host_config(network_mode="host")
        with pytest.raises(docker.errors.APIError) as refused:
            old.create_container("busybox", "true", mac_address=MAC, host_config=host)
        assert refused.value.status_code == 400
        assert refused.value.explanation == "conflicting options: mac-address and the network mode"
    finally:
        old.close()
