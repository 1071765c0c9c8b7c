"""Address management: subnets for networks, addresses for endpoints (IPv4 and IPv6).

Pure functions over ``ipaddress`` values; the engine keeps the allocations
in SQLite and passes in what is taken.
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Collection, Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from dockyard.errors import Conflict, InvalidArgument

# Docker's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut in /20s.
DEFAULT_POOLS = (
    ("172.17.0.0/16", 16),
    ("172.18.0.0/15", 16),
    ("172.20.0.0/14", 16),
    ("172.24.0.0/13", 16),
    ("192.168.0.0/16", 20),
)
ROUTE_TABLE = "/proc/net/route"
# The smallest subnets that still hold a gateway and an endpoint.
MAX_PREFIX = {4: 30, 6: 126}

Subnet = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


Pools = tuple[tuple[str, int], ...]  # (base, size): each base cut in subnets of that prefix


def candidate_subnets(pools: Pools = DEFAULT_POOLS) -> Iterator[IPv4Network]:
    for pool, prefix in pools:
        yield from IPv4Network(pool).subnets(new_prefix=prefix)


def free_subnet(taken: Iterable[Subnet], pools: Pools = DEFAULT_POOLS) -> IPv4Network:
    """The first subnet of the pools that overlaps nothing taken (v6 subnets take none)."""
    taken_v4 = [t for t in taken if isinstance(t, IPv4Network)]
    for subnet in candidate_subnets(pools):
        if not any(subnet.overlaps(other) for other in taken_v4):
            return subnet
    raise Conflict(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )


def host_subnets(route_table: str = ROUTE_TABLE) -> list[IPv4Network]:
    """The destinations of the host's IPv4 routes, except the default route."""
    subnets = []
    with open(route_table) as f:
        next(f)  # the header
        for line in f:
            fields = line.split()
            destination, mask = _hex_address(fields[1]), _hex_address(fields[7])
            if mask != "0.0.0.0":
                subnets.append(IPv4Network(f"{destination}/{mask}", strict=False))
    return subnets


def _hex_address(little_endian_hex: str) -> str:
    return str(IPv4Address(int.from_bytes(bytes.fromhex(little_endian_hex), "little")))


def parse_subnet(text: str) -> Subnet:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address: {text}") from None
    if network.prefixlen > MAX_PREFIX[network.version]:
        raise InvalidArgument(
            f"subnet {text} is too small for a network: the prefix must be /{MAX_PREFIX[network.version]} or shorter"
        )
    if str(network) != text:
        raise InvalidArgument(f"invalid subnet {text}: it should be {network}")
    return network


def ula_subnet(seed: str) -> IPv6Network:
    """A /64 of the unique local range fd00::/8 for a v6 network given no subnet: its 40-bit
    global ID from ``seed`` (the network's id), as RFC 4193 has it picked at random."""
    global_id = int(seed[:10], 16)
    return IPv6Network(((0xFD << 120) | (global_id << 80), 64))


def parse_gateway(text: str, subnet: Subnet) -> Address:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid gateway address {text}") from None
    if address not in subnet:
        raise InvalidArgument(f"no matching subnet for gateway {text}")
    return address


def parse_range(text: str, subnet: Subnet) -> Subnet:
    """An ip-range: where in ``subnet`` the endpoints' addresses come from."""
    try:
        ip_range = ipaddress.ip_network(text)
    except ValueError:
        raise InvalidArgument(f"invalid ip-range {text}: invalid CIDR address: {text}") from None
    if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):  # type: ignore[arg-type]
        raise InvalidArgument(f"ip-range {text} is not within the subnet {subnet}")
    return ip_range


def first_host(subnet: Subnet) -> Address:
    return subnet.network_address + 1


def parse_address(text: str, subnet: Subnet, network_name: str) -> Address:
    """A requested endpoint address (``--ip``, ``--ip6``), which must lie in the network's subnet."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid IPv{subnet.version} address: {text}") from None
    if (
        address.version != subnet.version
        or address not in subnet
        or address in (subnet.network_address, subnet.broadcast_address)
    ):
        raise InvalidArgument(
            f"no configured subnet or ip-range contain the IP address {text} of network {network_name}"
        )
    return address


def next_free(pool: Subnet, subnet: Subnet, taken: Collection[Address]) -> Address:
    """The lowest address of ``pool`` usable in ``subnet`` and not ``taken`` (nor the gateway)."""
    for address in pool.hosts() if pool.version == 6 else pool:
        if address not in taken and address not in (
            subnet.network_address,
            subnet.broadcast_address,
        ):
            return address
    raise Conflict(
        f"no available IPv{subnet.version} addresses on this network's address pool: {subnet}"
    )


def mac_address(address: Address) -> str:
    """A locally administered MAC from the address, as Docker made them: 02:42:ac:11:00:02."""
    return ":".join(f"{byte:02x}" for byte in (0x02, 0x42, *address.packed))


_MAC_LENGTHS = (6, 8, 20)  # EUI-48, EUI-64, 20-octet IP over InfiniBand


def canonical_mac(text: str) -> str:
    """A MAC address as Go's net.ParseMAC reads it (00:00:5e:00:53:01, 00-00-5e-00-53-01,
    0000.5e00.5301), written in lower case with colons; ValueError for anything else."""
    if len(text) >= 14 and text[2] in ":-":
        octets = text.split(text[2])
        ok = all(len(octet) == 2 for octet in octets)
    elif len(text) >= 14 and text[4] == ".":
        groups = text.split(".")
        ok = all(len(group) == 4 for group in groups)
        octets = [group[i : i + 2] for group in groups for i in (0, 2)]
    else:
        ok, octets = False, []
    hex_digits = all(digit in string.hexdigits for octet in octets for digit in octet)
    if not ok or not hex_digits or len(octets) not in _MAC_LENGTHS:
        raise ValueError(f"invalid MAC address {text}")
    return ":".join(octets).lower()
