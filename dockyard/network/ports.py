"""Published ports: from a container's port bindings to host ports that are free.

A published port is a DNAT rule (see ruleset.py), not a listening socket, so
a host port is checked twice before it is given out: against the ports this
engine already published, and by binding it for a moment, which fails when
a process of the host listens there.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockyard.errors import Conflict, InvalidArgument

ANY_ADDRESS = "0.0.0.0"
_SOCKET_TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM, "sctp": socket.SOCK_STREAM}
_EPHEMERAL_TRIES = 64


@dataclass(frozen=True)
class Request:
    """One binding of HostConfig.PortBindings: ``host_ports`` empty for any free port."""

    proto: str
    port: int
    host_ip: str
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
        same_address = ANY_ADDRESS in (self.host_ip, other.host_ip) or self.host_ip == other.host_ip
        return self.proto == other.proto and self.host_port == other.host_port and same_address


def requests(host_config: dict[str, Any], exposed: dict[str, Any]) -> list[Request]:
    """What a container asks to publish: its PortBindings, and with -P every exposed port."""
    bindings: dict[str, list[dict[str, str]]] = dict(host_config.get("PortBindings") or {})
    if host_config.get("PublishAllPorts"):
        for key in exposed or {}:
            bindings.setdefault(key, [{"HostIp": "", "HostPort": ""}])
    found = []
    for key, entries in sorted(bindings.items()):
        port, proto = _port_key(key)
        for entry in entries or [{"HostIp": "", "HostPort": ""}]:
            host_ip = (entry.get("HostIp") or ANY_ADDRESS).strip("[]")
            found.append(Request(proto, port, host_ip, _host_ports(entry.get("HostPort") or "")))
    return found


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
    """Host ports for ``wanted``; Conflict naming the port when one is taken."""
    taken = list(in_use)
    result = []
    for request in wanted:
        published = _pick(request, taken, endpoint)
        taken.append(published)
        result.append(published)
    return result


def _pick(request: Request, taken: list[Published], endpoint: str) -> Published:
    if request.host_ports is None:
        return _ephemeral(request, taken)
    start, end = request.host_ports
    failure: Conflict | None = None
    for port in range(start, end + 1):
        candidate = Published(request.proto, request.port, request.host_ip, port)
        try:
            _check(candidate, taken, endpoint)
            return candidate
        except Conflict as e:
            failure = e
    assert failure is not None
    raise failure


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


def _ephemeral(request: Request, taken: list[Published]) -> Published:
    """A port the kernel picks from its ephemeral range, which we have not published yet."""
    for _ in range(_EPHEMERAL_TRIES):
        port = _probe(request.proto, request.host_ip, 0)
        candidate = Published(request.proto, request.port, request.host_ip, port)
        if not any(candidate.overlaps(other) for other in taken):
            return candidate
    raise Conflict(f"no free host port for {request.port}/{request.proto}")


def _probe(proto: str, host_ip: str, port: int) -> int:
    """Bind ``host_ip:port`` for a moment; the port bound (the kernel's pick for 0)."""
    with socket.socket(socket.AF_INET, _SOCKET_TYPES[proto]) as sock:
        if proto == "tcp":  # connections of earlier users in TIME_WAIT do not hold a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip, port))
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(
                    f"host address {host_ip} is not an address of this host"
                ) from None
            raise
        return int(sock.getsockname()[1])


def bindings_view(
    published: list[Published], exposed: dict[str, Any]
) -> dict[str, list[dict[str, str]] | None]:
    """NetworkSettings.Ports: every exposed port, with its host bindings (None when unpublished)."""
    view: dict[str, list[dict[str, str]] | None] = dict.fromkeys(exposed or {})
    for p in published:
        entries = view.get(p.key()) or []
        entries.append({"HostIp": p.host_ip, "HostPort": str(p.host_port)})
        view[p.key()] = entries
    return view
