"""The engine's nftables table, rendered whole from what the engine knows.

The table is a pure function of the bridges in use and the ports published
on them, and is replaced in one transaction on every change: there is no
rule to forget, and a restarted engine converges by rendering it again.

    loopback             before conntrack and NAT, packets to 127.0.0.0/8 that did
                         not come from lo are dropped: the bridges have
                         route_localnet, which would otherwise let a container
                         reach the host's services bound to 127.0.0.1 with a
                         hand-made frame (CVE-2020-8558). The replies to the
                         host's loopback clients of a published port pass: they
                         are addressed to the gateway until NAT maps them back.
    prerouting, output   traffic to one of the host's own addresses → publish
    publish              one DNAT rule per published port
    postrouting          masquerade: outbound traffic of each bridge's subnet;
                         the host's loopback clients of a published port (the
                         bridge has route_localnet, the container must see a
                         routable source); and hairpin traffic (a container
                         reaching a published port on its own bridge, its own
                         port included), told by its source address: with
                         br_netfilter loaded, postrouting sees no input interface
    forward              bridges of different networks do not talk to each other,
                         nor containers of a network with enable_icc=false (br_netfilter
                         shows traffic between two ports of a bridge as from the bridge
                         to itself, which is what Docker's DOCKER-ICC rule drops too)

Ports published on IPv6 addresses (``::``, or one the user named) are served
by the engine's proxy (proxy.py); the rules here only shortcut it. IPv6
networks get a second table of the same name, family ip6, while any bridge
has a v6 subnet: masquerade for the v6 subnets' outbound traffic, DNAT of the
ports published on v6 addresses to the containers' v6 addresses, and the same
isolation. It needs no loopback chain, and its DNAT leaves ``::1`` alone: the
kernel never routes ::1 off lo (there is no route_localnet for IPv6), so
``[::1]:PORT`` is answered by the proxy, as Docker's userland proxy does.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.network.ports import ANY_ADDRESS, ANY_ADDRESS6, is_ipv6

LOOPBACK_NET = "127.0.0.0/8"
LOOPBACK6 = "::1"
LOOPBACK_INTERFACE = "lo"


@dataclass(frozen=True)
class Bridge:
    name: str
    subnet: str  # "172.17.0.0/16"
    subnet6: str = ""  # "fd00:dead:beef::/48" on a network with IPv6
    icc: bool = True  # False: its containers do not talk to each other


@dataclass(frozen=True)
class Forward:
    """A published port: traffic to host_ip:host_port goes to address:port."""

    proto: str  # tcp, udp, sctp
    host_ip: str  # ANY_ADDRESS (ANY_ADDRESS6) for every IPv4 (IPv6) address of the host
    host_port: int
    address: str
    port: int
    address6: str = ""  # the container's v6 address on a network with IPv6

    def is_ipv6(self) -> bool:
        return is_ipv6(self.host_ip)


def render(table: str, owner: str, bridges: list[Bridge], forwards: list[Forward]) -> str:
    """Commands that replace ``table`` atomically (creating it first makes the delete safe).

    ``owner`` goes in the table's comment: which engine made it (`nft list table` shows it).
    """
    body = [
        f"\tcomment {_quote(owner)}\n",
        _chain(
            "loopback",
            "type filter hook prerouting priority raw; policy accept;",
            [f"iifname != {_quote(LOOPBACK_INTERFACE)} ip daddr {LOOPBACK_NET} drop"],
        ),
        _chain(
            "prerouting",
            "type nat hook prerouting priority dstnat; policy accept;",
            ["fib daddr type local jump publish"],
        ),
        # dstnat is a prerouting priority to nft; -100 is the same for the output hook.
        _chain(
            "output",
            "type nat hook output priority -100; policy accept;",
            ["fib daddr type local jump publish"],
        ),
        _chain("publish", "", [dnat_rule(f) for f in forwards if not f.is_ipv6()]),
        _chain(
            "postrouting",
            "type nat hook postrouting priority srcnat; policy accept;",
            [rule for b in bridges for rule in _masquerade(b)],
        ),
        _chain(
            "forward",
            "type filter hook forward priority filter; policy accept;",
            _isolation(bridges),
        ),
    ]
    return (
        f"{remove(table)}table ip {table} {{\n"
        + "".join(body)
        + "}\n"
        + _ipv6_table(table, owner, bridges, forwards)
    )


def _ipv6_table(table: str, owner: str, bridges: list[Bridge], forwards: list[Forward]) -> str:
    v6 = [b for b in bridges if b.subnet6]
    if not v6:
        return ""
    dnat = [
        f"{'' if f.host_ip == ANY_ADDRESS6 else f'ip6 daddr {f.host_ip} '}"
        f"{f.proto} dport {f.host_port} dnat to [{f.address6}]:{f.port}"
        for f in forwards
        if f.address6 and f.is_ipv6() and f.host_ip != LOOPBACK6
    ]
    to_local = f"ip6 daddr != {LOOPBACK6} fib daddr type local jump publish"  # ::1: the proxy's
    masquerade = [f"ip6 saddr {b.subnet6} oifname != {_quote(b.name)} masquerade" for b in v6]
    masquerade += [
        f"oifname {_quote(b.name)} ip6 saddr {b.subnet6} ct status dnat masquerade" for b in v6
    ]
    body = [
        f"\tcomment {_quote(owner)}\n",
        _chain(
            "prerouting",
            "type nat hook prerouting priority dstnat; policy accept;",
            [to_local],
        ),
        _chain("output", "type nat hook output priority -100; policy accept;", [to_local]),
        _chain("publish", "", dnat),
        _chain(
            "postrouting", "type nat hook postrouting priority srcnat; policy accept;", masquerade
        ),
        _chain(
            "forward",
            "type filter hook forward priority filter; policy accept;",
            _isolation(v6),
        ),
    ]
    return f"table ip6 {table} {{\n" + "".join(body) + "}\n"


def remove(table: str) -> str:
    """Commands that delete ``table`` (both families) whether or not it exists."""
    return "".join(
        f"table {family} {table}\ndelete table {family} {table}\n" for family in ("ip", "ip6")
    )


def _chain(name: str, header: str, rules: list[str]) -> str:
    lines = [f"\tchain {name} {{\n"]
    if header:
        lines.append(f"\t\t{header}\n")
    lines += [f"\t\t{rule}\n" for rule in rules]
    lines.append("\t}\n")
    return "".join(lines)


def dnat_rule(f: Forward) -> str:
    """A published port's rule, as nft lists it back."""
    match = "" if f.host_ip == ANY_ADDRESS else f"ip daddr {f.host_ip} "
    return f"{match}{f.proto} dport {f.host_port} dnat to {f.address}:{f.port}"


def _masquerade(b: Bridge) -> list[str]:
    name = _quote(b.name)
    return [
        f"ip saddr {b.subnet} oifname != {name} masquerade",
        f"oifname {name} ip saddr {LOOPBACK_NET} masquerade",
        f"oifname {name} ip saddr {b.subnet} ct status dnat masquerade",
    ]


def _isolation(bridges: list[Bridge]) -> list[str]:
    rules = [
        f"iifname {_quote(b.name)} oifname {_quote(b.name)} drop" for b in bridges if not b.icc
    ]
    for b in bridges:
        others = [_quote(o.name) for o in bridges if o.name != b.name]
        if others:
            rules.append(f"iifname {_quote(b.name)} oifname {{ {', '.join(others)} }} drop")
    return rules


def _quote(name: str) -> str:
    return f'"{name}"'
