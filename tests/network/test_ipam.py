"""Subnets for networks and addresses for endpoints."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest

from dockyard.errors import Conflict, InvalidArgument
from dockyard.network import ipam


def test_the_first_default_pool_subnet_that_overlaps_nothing() -> None:
    assert ipam.free_subnet([]) == IPv4Network("172.17.0.0/16")
    taken = [IPv4Network("172.17.5.0/24"), IPv4Network("172.18.0.0/16")]
    assert ipam.free_subnet(taken) == IPv4Network("172.19.0.0/16")
    everything = [IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16")]
    with pytest.raises(Conflict, match="non-overlapping IPv4 address pool"):
        ipam.free_subnet(everything)


def test_host_subnets_from_the_kernel_route_table(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    assert ipam.host_subnets(str(table)) == [IPv4Network("192.0.2.0/24")]


def test_subnet_gateway_and_range_are_checked() -> None:
    subnet = ipam.parse_subnet("10.9.0.0/16")
    with pytest.raises(InvalidArgument, match="invalid subnet nonsense"):
        ipam.parse_subnet("nonsense")
    with pytest.raises(InvalidArgument, match="it should be 10.9.0.0/16"):
        ipam.parse_subnet("10.9.1.0/16")
    with pytest.raises(InvalidArgument, match="no matching subnet for gateway 10.8.0.1"):
        ipam.parse_gateway("10.8.0.1", subnet)
    assert ipam.parse_gateway("10.9.0.254", subnet) == IPv4Address("10.9.0.254")
    with pytest.raises(InvalidArgument, match="not within the subnet"):
        ipam.parse_range("10.10.0.0/24", subnet)


def test_addresses_are_the_lowest_free_ones_of_the_pool() -> None:
    subnet = IPv4Network("10.9.0.0/24")
    gateway = IPv4Address("10.9.0.1")
    assert ipam.next_free(subnet, subnet, {gateway}) == IPv4Address("10.9.0.2")
    taken = {gateway, IPv4Address("10.9.0.2"), IPv4Address("10.9.0.4")}
    assert ipam.next_free(subnet, subnet, taken) == IPv4Address("10.9.0.3")
    assert ipam.next_free(IPv4Network("10.9.0.128/25"), subnet, {gateway}) == IPv4Address(
        "10.9.0.128"
    )
    tiny = IPv4Network("10.9.0.0/30")
    with pytest.raises(Conflict, match="no available IPv4 addresses"):
        ipam.next_free(tiny, tiny, {IPv4Address("10.9.0.1"), IPv4Address("10.9.0.2")})


def test_requested_address_must_be_a_host_of_the_subnet() -> None:
    subnet = IPv4Network("10.9.0.0/24")
    assert ipam.parse_address("10.9.0.7", subnet, "n") == IPv4Address("10.9.0.7")
    for bad in ("10.9.1.7", "10.9.0.255", "10.9.0.0"):
        with pytest.raises(InvalidArgument, match=f"contain the IP address {bad} of network n"):
            ipam.parse_address(bad, subnet, "n")


def test_mac_address_from_the_ip_address() -> None:
    assert ipam.mac_address(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"


def test_v6_subnets_and_addresses() -> None:
    subnet = ipam.parse_subnet("fd00:dead:beef::/48")
    assert subnet == IPv6Network("fd00:dead:beef::/48")
    with pytest.raises(InvalidArgument, match="it should be fd00:dead:beef::/48"):
        ipam.parse_subnet("fd00:dead:beef::1/48")
    with pytest.raises(InvalidArgument, match="too small"):
        ipam.parse_subnet("fd00::/127")
    gateway = ipam.first_host(subnet)
    assert gateway == IPv6Address("fd00:dead:beef::1")
    assert ipam.next_free(subnet, subnet, {gateway}) == IPv6Address("fd00:dead:beef::2")
    assert ipam.parse_address("fd00:dead:beef::9", subnet, "n") == IPv6Address("fd00:dead:beef::9")
    for bad in ("fd00:1::9", "10.0.0.1"):
        with pytest.raises(InvalidArgument, match="no configured subnet"):
            ipam.parse_address(bad, subnet, "n")
    ula = ipam.ula_subnet("0123456789abcdef")
    assert ula == IPv6Network("fd01:2345:6789::/64")
