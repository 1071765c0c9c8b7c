"""-p/--publish and --expose specs converted like go-connections' nat package."""

from __future__ import annotations

import pytest

from dockyard.cli.ports import parse_expose, parse_publish
from dockyard.errors import InvalidArgument


def test_host_and_container_port() -> None:
    exposed, bindings = parse_publish(["8080:80"])
    assert exposed == {"80/tcp": {}}
    assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}


def test_ip_protocol_and_container_port_only() -> None:
    exposed, bindings = parse_publish(["127.0.0.1:5353:53/udp", "3000"])
    assert exposed == {"53/udp": {}, "3000/tcp": {}}
    assert bindings["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "5353"}]
    assert bindings["3000/tcp"] == [{"HostIp": "", "HostPort": ""}]


def test_ranges_map_one_to_one() -> None:
    _, bindings = parse_publish(["7000-7001:8000-8001"])
    assert bindings == {
        "8000/tcp": [{"HostIp": "", "HostPort": "7000"}],
        "8001/tcp": [{"HostIp": "", "HostPort": "7001"}],
    }


def test_ipv6_address_in_brackets() -> None:
    _, bindings = parse_publish(["[::1]:80:80"])
    assert bindings["80/tcp"] == [{"HostIp": "::1", "HostPort": "80"}]


def test_long_form() -> None:
    _, bindings = parse_publish(["published=8080,target=80,protocol=udp"])
    assert bindings == {"80/udp": [{"HostIp": "", "HostPort": "8080"}]}


def test_same_port_twice_keeps_both_bindings() -> None:
    _, bindings = parse_publish(["8080:80", "8081:80"])
    assert [b["HostPort"] for b in bindings["80/tcp"]] == ["8080", "8081"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("12x", "invalid containerPort: 12x"),
        ("x:80", "invalid hostPort: x"),
        ("80/bogus", "invalid proto: bogus"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("8080:", "no port specified: 8080:<empty>"),
        ("1-3:1-2", "invalid ranges specified for container and host Ports: 1-2 and 1-3"),
        ("70000", "invalid containerPort: 70000"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_publish([spec])
    assert caught.value.message == message


def test_expose_adds_ports_and_ranges() -> None:
    exposed: dict[str, dict[str, object]] = {"80/tcp": {}}
    parse_expose(["90", "100-101/udp"], exposed)
    assert set(exposed) == {"80/tcp", "90/tcp", "100/udp", "101/udp"}


def test_expose_refuses_a_host_port() -> None:
    with pytest.raises(InvalidArgument, match="invalid port format for --expose: 80:80"):
        parse_expose(["80:80"], {})
