"""Published ports: from a container's port bindings to host ports that are free.

A port published on an IPv4 address is a DNAT rule (see ruleset.py), not a
listening socket, so a host port is checked twice before it is given out:
against the ports this engine already published, and by binding it for a
moment, which fails when a process of the host listens there.

A binding without a host address is two bindings, as Docker 28 makes it
(libnetwork's addPortMappings): ``0.0.0.0`` and, where the host can listen on
IPv6, ``::``, given the same host port; `inspect`, `ps` and `port` list both.
A binding on an IPv6 address is served by the engine's proxy (proxy.py), and
so is every binding of a rootless engine, whose host side binds the host's
socket for it (rootless/ports.py): its ports are checked there.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockyard import rootless
from dockyard.errors import Conflict, InvalidArgument

ANY_ADDRESS = "0.0.0.0"
ANY_ADDRESS6 = "::"
_SOCKET_TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM, "sctp": socket.SOCK_STREAM}
_EPHEMERAL_TRIES = 64
_PROTOCOL_ORDER = {"tcp": 0, "udp": 1, "sctp": 2}


@dataclass(frozen=True)
class Request:
    """One binding of HostConfig.PortBindings: ``host_ports`` empty for any free port.

    ``host_ips``: the addresses it is published on, all with the same host port.
    """

    proto: str
    port: int
    host_ips: tuple[str, ...]
    host_ports: tuple[int, int] | None


@dataclass(frozen=True)
class Published:
    proto: str
    port: int
    host_ip: str
    host_port: int

    def key(self) -> str:
        return f"{self.port}/{self.proto}"

    def overlaps(self, other: Published) -> bool:
        if is_ipv6(self.host_ip) != is_ipv6(other.host_ip):
            return False  # 0.0.0.0 and :: are different sockets (:: is bound IPv6 only)
        wildcards = (ANY_ADDRESS, ANY_ADDRESS6)
        same_address = self.host_ip == other.host_ip or {self.host_ip, other.host_ip} & {*wildcards}
        return (
            self.proto == other.proto and self.host_port == other.host_port and bool(same_address)
        )


def is_ipv6(host_ip: str) -> bool:
    return ":" in host_ip


@functools.cache
def host_has_ipv6() -> bool:
    """Whether ``[::1]`` can be listened on (moby's IsV6Listenable): not with ipv6.disable=1."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def requests(host_config: dict[str, Any], exposed: dict[str, Any], ipv6: bool) -> list[Request]:
    """What a container asks to publish: its PortBindings, and with -P every exposed port.

    ``ipv6``: a binding without host address is also published on ``::``.
    """
    bindings: dict[str, list[dict[str, str]]] = dict(host_config.get("PortBindings") or {})
    if host_config.get("PublishAllPorts"):
        for key in exposed or {}:
            bindings.setdefault(key, [{"HostIp": "", "HostPort": ""}])
    found = []
    for key, entries in sorted(bindings.items()):
        port, proto = _port_key(key)
        for entry in entries or [{"HostIp": "", "HostPort": ""}]:
            host_ips = _host_ips(entry.get("HostIp") or "", proto, ipv6)
            found.append(Request(proto, port, host_ips, _host_ports(entry.get("HostPort") or "")))
    return sorted(found, key=_allocation_order)


def _allocation_order(r: Request) -> tuple[Any, ...]:
    """moby's cmpPortBinding: exact host ports first (a range may hold one), then by
    container port, protocol, host ports and host address (IPv4 before IPv6): the
    order `inspect` lists the bindings of a port in."""
    is_range = r.host_ports is None or r.host_ports[0] != r.host_ports[1]
    try:
        address = ipaddress.ip_address(r.host_ips[0])
        where = (address.version, int(address))
    except ValueError:  # not an address: refused when it is bound
        where = (0, 0)
    return (is_range, r.port, _PROTOCOL_ORDER[r.proto], r.host_ports or (0, 0), where)


def _host_ips(text: str, proto: str, ipv6: bool) -> tuple[str, ...]:
    host_ip = text.strip("[]")
    # The proxy that serves IPv6 addresses relays TCP and UDP only (see proxy.py).
    if is_ipv6(host_ip) and proto == "sctp":
        raise InvalidArgument(f"sctp ports cannot be published on IPv6 address {host_ip}")
    if host_ip:
        return (host_ip,)
    return (ANY_ADDRESS, ANY_ADDRESS6) if ipv6 and proto != "sctp" else (ANY_ADDRESS,)


def _port_key(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if not number.isdigit() or not 0 < int(number) < 65536 or proto not in _SOCKET_TYPES:
        raise InvalidArgument(f"invalid port specification: {key!r}")
    return int(number), proto


def _host_ports(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    first, _, last = text.partition("-")
    try:
        start, end = int(first), int(last or first)
    except ValueError:
        raise InvalidArgument(f"invalid port specification: {text!r}") from None
    if not 0 <= start <= end < 65536:
        raise InvalidArgument(f"invalid port specification: {text!r}")
    return None if start == end == 0 else (start, end)


def allocate(wanted: list[Request], in_use: Iterable[Published], endpoint: str) -> list[Published]:
    """Host ports for ``wanted``, one per address of a request; Conflict naming the port
    when one is taken."""
    taken = list(in_use)
    result = []
    for request in wanted:
        published = _pick(request, taken, endpoint)
        taken += published
        result += published
    return result


def _pick(request: Request, taken: list[Published], endpoint: str) -> list[Published]:
    if request.host_ports is None:
        return _ephemeral(request, taken, endpoint)
    start, end = request.host_ports
    failure: Conflict | None = None
    for port in range(start, end + 1):
        try:
            return _on_every_address(request, port, taken, endpoint)
        except Conflict as e:
            failure = e
    assert failure is not None
    raise failure


def _on_every_address(
    request: Request, port: int, taken: list[Published], endpoint: str
) -> list[Published]:
    candidates = [Published(request.proto, request.port, ip, port) for ip in request.host_ips]
    for candidate in candidates:
        _check(candidate, taken, endpoint)
    return candidates


def _check(candidate: Published, taken: list[Published], endpoint: str) -> None:
    where = f"{candidate.host_ip}:{candidate.host_port}"
    prefix = f"driver failed programming external connectivity on endpoint {endpoint}"
    if any(candidate.overlaps(other) for other in taken):
        raise Conflict(f"{prefix}: Bind for {where} failed: port is already allocated")
    try:
        _probe(candidate.proto, candidate.host_ip, candidate.host_port)
    except OSError as e:
        reason = "address already in use" if e.errno == errno.EADDRINUSE else e.strerror
        raise Conflict(
            f"{prefix}: failed to bind host port {where}/{candidate.proto}: {reason}"
        ) from None


def _ephemeral(request: Request, taken: list[Published], endpoint: str) -> list[Published]:
    """A port the kernel picks from its ephemeral range (on the first address), free on
    every address of the request, which we have not published yet."""
    for _ in range(_EPHEMERAL_TRIES):
        port = _probe(request.proto, request.host_ips[0], 0)
        try:
            return _on_every_address(request, port, taken, endpoint)
        except Conflict:
            continue
    raise Conflict(f"no free host port for {request.port}/{request.proto}")


def _probe(proto: str, host_ip: str, port: int) -> int:
    """Bind ``host_ip:port`` for a moment; the port bound (the kernel's pick for 0)."""
    try:
        sock = bind_on_host(proto, host_ip, port)
    except OSError as e:
        if e.errno == errno.EADDRNOTAVAIL:
            raise InvalidArgument(
                f"host address {host_ip} is not an address of this host"
            ) from None
        raise
    with sock:
        return int(sock.getsockname()[1])


def bind_on_host(proto: str, host_ip: str, port: int) -> socket.socket:
    """A socket of the host's network namespace bound to ``host_ip:port``: in a rootless
    engine's namespace, the host side binds it (rootless/ports.py)."""
    if rootless.active():
        from dockyard.rootless import ports as rootless_ports  # it uses bind_here

        return rootless_ports.bind(proto, host_ip, port)
    return bind_here(proto, host_ip, port)


def bind_here(proto: str, host_ip: str, port: int) -> socket.socket:
    """A socket bound to ``host_ip:port`` in this process's network namespace."""
    family = socket.AF_INET6 if is_ipv6(host_ip) else socket.AF_INET
    sock = socket.socket(family, _SOCKET_TYPES[proto])
    try:
        if proto == "tcp":  # connections of earlier users in TIME_WAIT do not hold a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # 0.0.0.0 is another socket
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host_ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


def bindings_view(
    published: list[Published], exposed: dict[str, Any]
) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: every exposed port, with its host bindings (None when unpublished)."""
    view: dict[str, list[dict[str, str]] | None] = dict.fromkeys(exposed or {})
    for p in published:
        entries = view.get(p.key()) or []
        entries.append({"HostIp": p.host_ip, "HostPort": str(p.host_port)})
        view[p.key()] = entries
    return dict(sorted(view.items()))  # as Go writes a map in JSON: its keys sorted
