"""Published ports on IPv6 as Docker 28 lists and serves them, with the docker CLI and SDK.

A port published without host address is bound on 0.0.0.0 and on ``::`` (this
host has IPv6), the two with the same host port: `docker port`, `docker ps`,
`inspect` and `GET /containers/json` show both, and both answer. Traffic goes
only to the host's loopback addresses and the containers these tests start.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from tests.e2e.helpers import Docker, hostport
from tests.network.test_engine_networks import SERVE, free_port, http_get

SUBNET = "fd00:dead:beef::/48"


def _run(docker: Docker, *args: str) -> str:
    result = docker("run", "-d", *args, "busybox", "sh", "-c", SERVE)
    assert result.returncode == 0, result.stderr
    return str(result.stdout.strip())


def _refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_port_without_host_address_is_listed_and_served_on_both_families(
    docker_cli: Docker, daemon: Any
) -> None:
    port = free_port()
    cid = _run(docker_cli, "-p", f"{port}:80", "--name", "web")
    hello = f"hello from {cid[:12]}\n"
    assert http_get(port, host="127.0.0.1") == hello
    assert http_get(port, host="::1") == hello
    for cli in (docker_cli, daemon.cli):  # the docker CLI through our API, and our own CLI
        v6 = hostport(cli, "::", port)
        assert cli("port", "web").stdout == f"80/tcp -> 0.0.0.0:{port}\n80/tcp -> {v6}\n"
        assert cli("port", "web", "80").stdout == f"0.0.0.0:{port}\n{v6}\n"
        ps = cli("ps", "--format", "{{.Ports}}").stdout
        assert ps == f"0.0.0.0:{port}->80/tcp, {v6}->80/tcp\n"
    ports = json.loads(docker_cli("inspect", "-f", "{{json .NetworkSettings.Ports}}", "web").stdout)
    assert ports == {
        "80/tcp": [
            {"HostIp": "0.0.0.0", "HostPort": str(port)},
            {"HostIp": "::", "HostPort": str(port)},
        ]
    }
    assert docker_cli("stop", "-t", "1", "web").returncode == 0
    assert _refused("::1", port) and _refused("127.0.0.1", port)


def test_the_sdk_sees_both_bindings_with_one_ephemeral_port(docker_sdk: Any) -> None:
    web = docker_sdk.containers.run(
        "busybox", ["sh", "-c", SERVE], detach=True, ports={"80/tcp": None, "53/udp": None}
    )
    try:
        web.reload()
        tcp, udp = web.ports["80/tcp"], web.ports["53/udp"]
        assert [b["HostIp"] for b in tcp] == ["0.0.0.0", "::"]
        assert [b["HostIp"] for b in udp] == ["0.0.0.0", "::"]
        assert tcp[0]["HostPort"] == tcp[1]["HostPort"] and udp[0]["HostPort"] == udp[1]["HostPort"]
        port = int(tcp[0]["HostPort"])
        assert http_get(port, host="::1") == f"hello from {web.id[:12]}\n"
        [summary] = docker_sdk.api.containers(filters={"id": web.id})
        listed = sorted(
            (p["IP"], p["PrivatePort"], p["PublicPort"], p["Type"]) for p in summary["Ports"]
        )
        assert listed == sorted(
            [
                ("0.0.0.0", 80, port, "tcp"),
                ("::", 80, port, "tcp"),
                ("0.0.0.0", 53, int(udp[0]["HostPort"]), "udp"),
                ("::", 53, int(udp[0]["HostPort"]), "udp"),
            ]
        )
    finally:
        web.remove(force=True)


@pytest.mark.parametrize("network", ["bridge", "v6net"])
def test_explicit_host_addresses_publish_only_there(docker_cli: Docker, network: str) -> None:
    if network != "bridge":
        created = docker_cli("network", "create", "--ipv6", "--subnet", SUBNET, network)
        assert created.returncode == 0, created.stderr
    v6, v4 = free_port(), free_port()
    cid = _run(docker_cli, "--network", network, "-p", f"[::1]:{v6}:80", "-p", f"127.0.0.1:{v4}:80")
    hello = f"hello from {cid[:12]}\n"
    assert http_get(v6, host="::1") == hello
    assert http_get(v4, host="127.0.0.1") == hello
    assert _refused("127.0.0.1", v6) and _refused("::1", v4)
    loopback6 = hostport(docker_cli, "::1", v6)
    # CLI 23 and later sort what they print; 20.10 keeps the API's order (here, by port).
    lines = docker_cli("port", cid).stdout.splitlines()
    assert docker_cli.expects(lines, sorted(lines)) == [
        f"80/tcp -> 127.0.0.1:{v4}",
        f"80/tcp -> {loopback6}",
    ]
    ps = docker_cli("ps", "--format", "{{.Ports}}").stdout.strip().split(", ")
    assert docker_cli.expects(ps, sorted(ps)) == [
        f"127.0.0.1:{v4}->80/tcp",
        f"{loopback6}->80/tcp",
    ]


def test_a_v6_network_container_answers_on_ipv6_loopback(docker_cli: Docker) -> None:
    """As with Docker's userland proxy: [::1] is not DNAT'd, the proxy forwards it."""
    created = docker_cli("network", "create", "--ipv6", "--subnet", SUBNET, "v6net")
    assert created.returncode == 0, created.stderr
    port = free_port()
    cid = _run(docker_cli, "--network", "v6net", "--ip6", "fd00:dead:beef::80", "-p", f"{port}:80")
    hello = f"hello from {cid[:12]}\n"
    assert http_get(port, host="::1") == hello
    assert http_get(port, host="127.0.0.1") == hello
    assert http_get(port, host="fd00:dead:beef::1") == hello  # the ip6 DNAT
    assert (
        docker_cli("port", cid, "80").stdout
        == f"0.0.0.0:{port}\n{hostport(docker_cli, '::', port)}\n"
    )


def test_the_proxy_forwards_to_the_containers_v6_address(docker_cli: Docker) -> None:
    created = docker_cli("network", "create", "--ipv6", "--subnet", SUBNET, "v6only")
    assert created.returncode == 0, created.stderr
    port = free_port()
    # The server listens on the container's v6 address alone: only a v6 upstream reaches it.
    serve_v6 = SERVE.replace("-p 80", "-p [fd00:dead:beef::80]:80")
    started = docker_cli(
        "run", "-d", "--network", "v6only", "--ip6", "fd00:dead:beef::80", "-p", f"{port}:80",
        "busybox", "sh", "-c", serve_v6,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert http_get(port, host="::1") == f"hello from {started.stdout.strip()[:12]}\n"
