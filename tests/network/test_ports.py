"""Host ports for published container ports."""

from __future__ import annotations

import socket

import pytest

from dockyard.errors import Conflict, InvalidArgument
from dockyard.network import ports


def test_requests_from_bindings_and_publish_all() -> None:
    host_config = {
        "PortBindings": {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "", "HostPort": ""}],
        },
        "PublishAllPorts": True,
    }
    found = ports.requests(host_config, {"80/tcp": {}, "443/tcp": {}}, ipv6=False)
    assert found == [  # in moby's order: exact host ports first
        ports.Request("tcp", 80, ("127.0.0.1",), (8080, 8080)),
        ports.Request("udp", 53, ("0.0.0.0",), None),
        ports.Request("tcp", 443, ("0.0.0.0",), None),
    ]


def test_a_binding_without_host_address_is_also_on_v6_where_the_host_has_it() -> None:
    bindings = {
        "80/tcp": [
            {"HostIp": "[::1]", "HostPort": "8080"},
            {"HostIp": "", "HostPort": "8080"},
            {"HostIp": "127.0.0.1", "HostPort": "8080"},
        ],
        "132/sctp": [{"HostIp": "", "HostPort": ""}],
    }
    found = ports.requests({"PortBindings": bindings}, {}, ipv6=True)
    assert found == [  # per port, by host address as moby sorts them: v4 before v6
        ports.Request("tcp", 80, ("0.0.0.0", "::"), (8080, 8080)),
        ports.Request("tcp", 80, ("127.0.0.1",), (8080, 8080)),
        ports.Request("tcp", 80, ("::1",), (8080, 8080)),
        ports.Request("sctp", 132, ("0.0.0.0",), None),  # the proxy relays TCP and UDP only
    ]
    with pytest.raises(InvalidArgument, match="sctp ports cannot be published on IPv6"):
        ports.requests({"PortBindings": {"132/sctp": [{"HostIp": "::"}]}}, {}, ipv6=True)


def test_v4_and_v6_get_the_same_host_port_each_checked_in_its_family() -> None:
    assert ports.host_has_ipv6()
    with socket.socket(socket.AF_INET6) as listener:  # [::]:port taken, 0.0.0.0:port free
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind(("::", 0))
        listener.listen()
        port = listener.getsockname()[1]
        wanted = [ports.Request("tcp", 80, ("0.0.0.0", "::"), (port, port))]
        with pytest.raises(Conflict, match=f":::{port}/tcp: address already in use"):
            ports.allocate(wanted, [], "web")
        assert ports.allocate([ports.Request("tcp", 80, ("0.0.0.0",), (port, port))], [], "w")
    both = ports.allocate([ports.Request("udp", 53, ("0.0.0.0", "::"), None)], [], "web")
    assert [(p.host_ip, p.host_port) for p in both] == [
        ("0.0.0.0", both[0].host_port),
        ("::", both[0].host_port),
    ]
    loopback6 = [ports.Request("udp", 54, ("::1",), (both[0].host_port, both[0].host_port))]
    with pytest.raises(Conflict, match=f"Bind for ::1:{both[0].host_port} failed"):
        ports.allocate(loopback6, both, "web")


@pytest.mark.parametrize(
    "bindings", [{"x/tcp": []}, {"80/icmp": []}, {"80/tcp": [{"HostPort": "70000"}]}]
)
def test_bad_specs_are_refused(bindings: dict) -> None:
    with pytest.raises(InvalidArgument, match="invalid port specification"):
        ports.requests({"PortBindings": bindings}, {}, ipv6=True)


def test_a_port_we_published_is_allocated_already() -> None:
    ours = [ports.Published("tcp", 80, "0.0.0.0", 40123)]
    wanted = [ports.Request("tcp", 81, ("127.0.0.1",), (40123, 40123))]
    with pytest.raises(
        Conflict, match="Bind for 127.0.0.1:40123 failed: port is already allocated"
    ):
        ports.allocate(wanted, ours, "web (123)")
    udp = [ports.Request("udp", 81, ("127.0.0.1",), None)]
    assert ports.allocate(udp, ours, "web")[0].proto == "udp"


def test_a_port_a_host_process_listens_on_is_refused() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        wanted = [ports.Request("tcp", 80, ("0.0.0.0",), (port, port))]
        with pytest.raises(Conflict, match=f"0.0.0.0:{port}/tcp: address already in use"):
            ports.allocate(wanted, [], "web")


def test_ephemeral_and_range_ports_skip_what_is_taken() -> None:
    first = ports.allocate([ports.Request("tcp", 80, ("0.0.0.0",), None)], [], "web")[0]
    low, high = 32768, 60999
    assert low <= first.host_port <= high
    taken = [ports.Published("tcp", 1, "0.0.0.0", first.host_port)]
    wanted = [ports.Request("tcp", 80, ("0.0.0.0",), (first.host_port, first.host_port + 1))]
    assert ports.allocate(wanted, taken, "web")[0].host_port == first.host_port + 1


def test_ports_view_shows_exposed_ports_and_their_bindings() -> None:
    published = [ports.Published("tcp", 80, "0.0.0.0", 8080)]
    view = ports.bindings_view(published, {"80/tcp": {}, "443/tcp": {}})
    assert view == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": None}
    assert list(view) == ["443/tcp", "80/tcp"]  # Go's JSON: a map's keys sorted
