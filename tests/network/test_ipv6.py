"""IPv6 on user-defined bridge networks, with the real docker CLI.

Only unique local subnets (fd00::/8) and the containers these tests start are reached.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.e2e.helpers import Docker
from tests.network.test_engine_networks import SERVE, free_port, http_get

SUBNET = "fd00:dead:beef::/48"


def test_a_v6_network_gives_its_containers_v6_addresses_and_routes(docker_cli: Docker) -> None:
    created = docker_cli("network", "create", "--ipv6", "--subnet", SUBNET, "v6net")
    assert created.returncode == 0, created.stderr
    network = json.loads(docker_cli("network", "inspect", "v6net").stdout)[0]
    assert network["EnableIPv6"] is True
    assert {"Subnet": SUBNET, "Gateway": "fd00:dead:beef::1"} in network["IPAM"]["Config"]
    assert any(c["Subnet"].count(".") == 3 for c in network["IPAM"]["Config"])  # and v4

    server = docker_cli(
        "run", "-d", "--network", "v6net", "--ip6", "fd00:dead:beef::99", "--name", "srv",
        "busybox", "sleep", "300",
    )  # fmt: skip
    assert server.returncode == 0, server.stderr
    fmt = (
        "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}}"
        " {{.IPv6Gateway}}{{end}}"
    )
    assert docker_cli("inspect", "-f", fmt, "srv").stdout == (
        "fd00:dead:beef::99/48 fd00:dead:beef::1\n"
    )
    members = json.loads(docker_cli("network", "inspect", "v6net").stdout)[0]["Containers"]
    assert [m["IPv6Address"] for m in members.values()] == ["fd00:dead:beef::99/48"]

    client = docker_cli(
        "run", "--rm", "--network", "v6net", "busybox", "sh", "-c",
        "ip -6 addr show dev eth0; ip -6 route; ping -6 -c 1 -W 5 fd00:dead:beef::99",
    )  # fmt: skip
    assert client.returncode == 0, client.stdout + client.stderr
    assert "inet6 fd00:dead:beef::2/48 scope global" in client.stdout
    assert "default via fd00:dead:beef::1 dev eth0" in client.stdout
    assert "1 packets received" in client.stdout


def test_v6_requests_are_checked_as_docker_does(docker_cli: Docker) -> None:
    assert docker_cli("network", "create", "--ipv6", "--subnet", SUBNET, "first").returncode == 0
    overlapping = docker_cli(
        "network", "create", "--ipv6", "--subnet", "fd00:dead:beef:1::/64", "second"
    )
    assert overlapping.returncode == 1
    assert "Pool overlaps with other one on this address space" in overlapping.stderr
    without_ipv6 = docker_cli("network", "create", "--subnet", "fd00:1::/64", "third")
    assert without_ipv6.returncode == 1 and "IPv6" in without_ipv6.stderr
    outside = docker_cli("run", "--rm", "--network", "first", "--ip6", "fd00:1::5", "busybox")
    assert outside.returncode == 125
    assert "no configured subnet or ip-range contain the IP address fd00:1::5" in outside.stderr
    assert docker_cli("network", "create", "v4only").returncode == 0
    on_v4 = docker_cli("run", "--rm", "--network", "v4only", "--ip6", "fd00:1::5", "busybox")
    assert on_v4.returncode == 125
    assert "no configured subnet or ip-range contain the IP address fd00:1::5" in on_v4.stderr
    assert docker_cli("network", "create", "--ipv6", "auto").returncode == 0
    fmt = "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}};{{end}}"
    v6 = docker_cli("network", "inspect", "-f", fmt, "auto").stdout.split(";")[1]
    assert re.fullmatch(r"fd[0-9a-f:]+::/64 fd[0-9a-f:]+::1", v6), v6  # a ULA /64 of its own
    names = docker_cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "second" not in names and "third" not in names


def test_the_embedded_dns_answers_aaaa_for_v6_containers(docker_cli: Docker) -> None:
    assert docker_cli("network", "create", "--ipv6", "--subnet", SUBNET, "v6dns").returncode == 0
    server = docker_cli(
        "run", "-d", "--network", "v6dns", "--ip6", "fd00:dead:beef::42", "--name", "web",
        "busybox", "sleep", "300",
    )  # fmt: skip
    assert server.returncode == 0, server.stderr
    client = docker_cli(
        "run", "--rm", "--network", "v6dns", "busybox", "nslookup", "-type=AAAA", "web",
    )  # fmt: skip
    assert client.returncode == 0, client.stdout + client.stderr
    assert "Address: fd00:dead:beef::42" in client.stdout
    hosts = docker_cli("exec", "web", "cat", "/etc/hosts").stdout
    assert "fd00:dead:beef::42\t" in hosts


def test_v6_published_ports_and_isolation_between_v6_networks(docker_cli: Docker) -> None:
    assert docker_cli("network", "create", "--ipv6", "--subnet", SUBNET, "v6a").returncode == 0
    other = docker_cli("network", "create", "--ipv6", "--subnet", "fd00:cafe::/64", "v6b")
    assert other.returncode == 0, other.stderr
    port = free_port()
    web = docker_cli(
        "run", "-d", "--network", "v6a", "--ip6", "fd00:dead:beef::80", "-p", f"{port}:80",
        "busybox", "sh", "-c", SERVE,
    )  # fmt: skip
    assert web.returncode == 0, web.stderr
    # The host's own address on the v6 bridge: its clients reach the port through the ip6 DNAT.
    assert http_get(port, host="fd00:dead:beef::1").startswith("hello from")
    same = docker_cli(
        "run", "--rm", "--network", "v6a", "busybox", "ping", "-6", "-c", "1", "-W", "5",
        "fd00:dead:beef::80",
    )  # fmt: skip
    assert same.returncode == 0, same.stdout
    across = docker_cli(
        "run", "--rm", "--network", "v6b", "busybox", "ping", "-6", "-c", "1", "-W", "2",
        "fd00:dead:beef::80",
    )  # fmt: skip
    assert across.returncode == 1 and "0 packets received" in across.stdout


def test_our_own_cli_creates_v6_networks_and_connects_with_ip6(daemon: Any) -> None:
    assert daemon.cli("network", "create", "--ipv6", "--subnet", SUBNET, "one").returncode == 0
    two = daemon.cli("network", "create", "--ipv6", "--subnet", "fd00:cafe::/64", "two")
    assert two.returncode == 0, two.stderr
    assert daemon.cli("network", "inspect", "-f", "{{.EnableIPv6}}", "two").stdout == "true\n"
    started = daemon.cli(
        "run", "-d", "--network", "one", "--name", "box", "busybox", "sleep", "300"
    )
    assert started.returncode == 0, started.stderr
    connected = daemon.cli("network", "connect", "--ip6", "fd00:cafe::7", "two", "box")
    assert connected.returncode == 0, connected.stderr
    fmt = "{{.NetworkSettings.Networks.two.GlobalIPv6Address}}"
    assert daemon.cli("inspect", "-f", fmt, "box").stdout == "fd00:cafe::7\n"
    inside = daemon.cli("exec", "box", "ip", "-6", "addr", "show", "dev", "eth1")
    assert "inet6 fd00:cafe::7/64 scope global" in inside.stdout, inside.stdout + inside.stderr
    assert daemon.cli("rm", "-f", "box").returncode == 0
