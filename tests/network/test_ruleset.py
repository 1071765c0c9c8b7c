"""The engine's nftables table as text, and as the kernel takes it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from dockyard.errors import SystemError as EngineSystemError
from dockyard.network import ruleset
from dockyard.network.nftables import Nftables

BRIDGES = [ruleset.Bridge("dytesta", "10.201.0.0/16"), ruleset.Bridge("dytestb", "10.202.0.0/16")]
FORWARDS = [
    ruleset.Forward("tcp", "0.0.0.0", 8080, "10.201.0.2", 80),
    ruleset.Forward("udp", "127.0.0.1", 5353, "10.202.0.3", 53),
]


def test_one_dnat_rule_per_published_port() -> None:
    text = ruleset.render("t", "dockyard:test", BRIDGES, FORWARDS)
    assert "\t\ttcp dport 8080 dnat to 10.201.0.2:80\n" in text
    assert "\t\tip daddr 127.0.0.1 udp dport 5353 dnat to 10.202.0.3:53\n" in text


def test_masquerade_and_isolation_per_bridge() -> None:
    text = ruleset.render("t", "dockyard:test", BRIDGES, [])
    assert 'ip saddr 10.201.0.0/16 oifname != "dytesta" masquerade' in text
    assert 'oifname "dytestb" ip saddr 127.0.0.0/8 masquerade' in text
    assert 'oifname "dytesta" ip saddr 10.201.0.0/16 ct status dnat masquerade' in text
    assert 'iifname "dytesta" oifname { "dytestb" } drop' in text
    assert 'iifname "dytestb" oifname { "dytesta" } drop' in text
    assert 'iifname "dytesta" oifname "dytesta" drop' not in text


def test_a_bridge_without_icc_drops_what_goes_between_its_ports() -> None:
    quiet = [ruleset.Bridge("dytesta", "10.201.0.0/16", "fd00:201::/64", icc=False)]
    text = ruleset.render("t", "dockyard:test", quiet, [])
    ip, ip6 = text.split("table ip6 t {")
    assert 'iifname "dytesta" oifname "dytesta" drop' in ip
    assert 'iifname "dytesta" oifname "dytesta" drop' in ip6


@pytest.fixture
def nft() -> Iterator[Nftables]:
    nft = Nftables()
    yield nft
    nft.close()


def test_the_kernel_takes_the_table_and_replaces_it_whole(nft: Nftables) -> None:
    table = f"dytest_{secrets.token_hex(3)}"
    try:
        nft.run(ruleset.render(table, "dockyard:test", BRIDGES, FORWARDS))
        nft.run(ruleset.render(table, "dockyard:test", BRIDGES[:1], FORWARDS[:1]))
        listed = nft.run(f"list table ip {table}")
        assert "dnat to 10.201.0.2:80" in listed
        assert "10.202.0.3" not in listed and "dytestb" not in listed
    finally:
        nft.run(ruleset.remove(table))
    assert table not in nft.run("list tables")
    nft.run(ruleset.remove(table))  # removing what is gone is no error


def test_nft_errors_are_reported_with_nfts_words(nft: Nftables) -> None:
    with pytest.raises(EngineSystemError, match="^nftables: Error: syntax error"):
        nft.run("no such command")


def test_packets_to_loopback_from_outside_lo_are_dropped_before_nat() -> None:
    text = ruleset.render("t", "dockyard:test", BRIDGES, [])
    assert (
        "\tchain loopback {\n"
        "\t\ttype filter hook prerouting priority raw; policy accept;\n"
        '\t\tiifname != "lo" ip daddr 127.0.0.0/8 drop\n'
        "\t}\n"
    ) in text


def test_v6_bridges_get_an_ip6_table_that_the_kernel_takes(nft: Nftables) -> None:
    v6 = [ruleset.Bridge("dytesta", "10.201.0.0/16", "fd00:dead:beef::/48"), BRIDGES[1]]
    forward = ruleset.Forward("tcp", "::", 8080, "10.201.0.2", 80, "fd00:dead:beef::2")
    assert "table ip6 t {" not in ruleset.render("t", "dockyard:test", BRIDGES, [])
    text = ruleset.render("t", "dockyard:test", v6, [forward])
    ip, ip6 = text.split("table ip6 t {")
    assert "dport 8080" not in ip  # a v6 binding: no IPv4 rule
    assert "\t\ttcp dport 8080 dnat to [fd00:dead:beef::2]:80\n" in ip6
    # [::1] is the proxy's: the kernel would not route it to the bridge.
    assert "\t\tip6 daddr != ::1 fib daddr type local jump publish\n" in ip6
    assert 'ip6 saddr fd00:dead:beef::/48 oifname != "dytesta" masquerade' in text
    table = f"dytest_{secrets.token_hex(3)}"
    try:
        nft.run(ruleset.render(table, "dockyard:test", v6, [forward]))
        assert "dnat to [fd00:dead:beef::2]:80" in nft.run(f"list table ip6 {table}")
    finally:
        nft.run(ruleset.remove(table))
    assert table not in nft.run("list tables")
