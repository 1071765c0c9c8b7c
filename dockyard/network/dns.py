"""The embedded DNS server: 127.0.0.11 in every container on a user-defined network.

One server in the daemon, no process per container. For each container it
serves, a UDP and a TCP socket are opened inside the container's network
namespace (by the netlink thread, which enters the namespace alone: setns
affects the calling thread only), bound to 127.0.0.11 on ports the kernel
picks, and an nftables table in that namespace sends 127.0.0.11:53 to them
(DNAT, as Docker does with its docker-dns table), so that the container
may still run a DNS server of its own on port 53. The sockets are then
served by the daemon's event loop. They keep the namespace alive: ``stop``
closes them when the container stops, and the table goes with the namespace.

Queries are answered from ``Names`` (the engine: names, aliases and short
IDs of the containers on the asker's networks), as moby's resolver does:
A and AAAA from the names (empty when a known name has none), MX empty, PTR
for the containers' addresses. Anything else is forwarded to the upstream
nameservers of the container's resolv.conf (network/resolvconf.py): those of
the host's file from the daemon's own namespace, those given with --dns from
the container's. Up to three are tried, each for 4 s at most; no answer is
SERVFAIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any, Protocol, TypeVar

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from dockyard.network.nftables import Nftables
from dockyard.network.resolvconf import INTERNAL_NAMESERVER, Upstream

T = TypeVar("T")
log = logging.getLogger(__name__)

DNS_PORT = 53
TTL = 600
MAX_UPSTREAMS = 3
UPSTREAM_TIMEOUT = 4.0
MAX_FORWARDS = 1024  # queries forwarded at once, over all containers
TCP_IDLE_TIMEOUT = 8.0
MIN_UDP_SIZE = 512
MAX_MESSAGE = 65535
TABLE = "dockyard-dns"
REVERSE_V4 = ".in-addr.arpa"


class Names(Protocol):
    """What the engine knows of names, from the point of view of one container."""

    def addresses(self, container_id: str, name: str) -> list[str] | None:
        """The addresses (v4 and v6) ``name`` stands for; None when it is not a name of ours."""

    def reverse(self, container_id: str, address: str) -> str | None:
        """``name.network`` of a container at ``address`` on the asker's networks."""

    def forwards_from_host(self, container_id: str) -> bool:
        """Whether queries may go out from the host (not when only on internal networks)."""


# Runs a function on a thread that has entered the network namespace of a process.
InNamespace = Callable[[int, Callable[[], Any]], "Future[Any]"]


@dataclass
class Listener:
    """One container's sockets and what its resolver was configured with."""

    container_id: str
    pid: int
    upstreams: list[Upstream]
    ndots_set: bool  # the container set ndots itself: short names are not forwarded
    udp: socket.socket
    tcp: socket.socket
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class DnsServer:
    def __init__(self, names: Names, in_namespace: InNamespace) -> None:
        self.names = names
        self.in_namespace = in_namespace
        self.loop: asyncio.AbstractEventLoop | None = None
        self._listeners: dict[str, Listener] = {}
        self._forwards = asyncio.Semaphore(MAX_FORWARDS)

    def serves(self, container_id: str) -> bool:
        return container_id in self._listeners

    # ------------------------------------------------------------------ listeners
    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        container_id: str,
        pid: int,
        upstreams: list[Upstream],
        ndots_set: bool,
    ) -> None:
        """Answer on 127.0.0.11 in the network namespace of ``pid`` (again, after a restart)."""
        self.stop(container_id)
        self.loop = loop
        udp, tcp = self.in_namespace(pid, _bind_in_namespace).result()
        listener = Listener(container_id, pid, upstreams, ndots_set, udp, tcp)
        self._listeners[container_id] = listener
        loop.add_reader(udp.fileno(), self._on_datagrams, listener)
        loop.add_reader(tcp.fileno(), self._on_connection, listener)

    def stop(self, container_id: str) -> None:
        """Close the container's sockets: its namespace may go."""
        listener = self._listeners.pop(container_id, None)
        if listener is None:
            return
        assert self.loop is not None
        for sock in (listener.udp, listener.tcp):
            if not self.loop.is_closed():
                self.loop.remove_reader(sock.fileno())
            sock.close()
        for task in listener.tasks:
            task.cancel()

    def close(self) -> None:
        for container_id in list(self._listeners):
            self.stop(container_id)

    def _spawn(self, listener: Listener, work: Any) -> None:
        assert self.loop is not None
        task = self.loop.create_task(work)
        listener.tasks.add(task)
        task.add_done_callback(listener.tasks.discard)

    # ------------------------------------------------------------------ UDP
    def _on_datagrams(self, listener: Listener) -> None:
        while True:
            try:
                data, client = listener.udp.recvfrom(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # an ICMP error of an earlier reply; nothing to read
            query = _parse(data)
            if query is None:
                continue
            reply = self._local_reply(listener, query)
            if reply is not None:
                self._send_udp(listener, client, reply.to_wire(**_udp_limit(query)))
            else:
                self._spawn(listener, self._forward_udp(listener, query, data, client))

    async def _forward_udp(
        self, listener: Listener, query: dns.message.Message, data: bytes, client: Any
    ) -> None:
        reply = await self._forward(listener, query, data, tcp=False)
        self._send_udp(listener, client, reply)

    @staticmethod
    def _send_udp(listener: Listener, client: Any, wire: bytes) -> None:
        with contextlib.suppress(OSError):  # the client went away, or its buffer is full
            listener.udp.sendto(wire, client)

    # ------------------------------------------------------------------ TCP
    def _on_connection(self, listener: Listener) -> None:
        try:
            conn, _ = listener.tcp.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        self._spawn(listener, self._serve_tcp(listener, conn))

    async def _serve_tcp(self, listener: Listener, conn: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=conn)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                data = await reader.readexactly(struct.unpack("!H", head)[0])
                query = _parse(data)
                if query is None:
                    return
                local = self._local_reply(listener, query)
                if local is not None:
                    wire = local.to_wire(max_size=MAX_MESSAGE, prefer_truncation=True)
                else:
                    wire = await self._forward(listener, query, data, tcp=True)
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    # ------------------------------------------------------------------ answers
    def _local_reply(
        self, listener: Listener, query: dns.message.Message
    ) -> dns.message.Message | None:
        """Our answer, or None when the query is to be forwarded."""
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        kind = question.rdtype
        if kind in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.MX):
            addresses = self.names.addresses(listener.container_id, name)
            if addresses is None:
                if kind != dns.rdatatype.MX and listener.ndots_set and "." not in name:
                    return _reply(query)  # let the client try its search domains
                return None
            reply = _reply(query)
            family = {dns.rdatatype.A: 4, dns.rdatatype.AAAA: 6}.get(kind)
            answers = [a for a in addresses if family and ip_address(a).version == family]
            if answers:
                record_type = dns.rdatatype.to_text(kind)
                reply.answer.append(
                    dns.rrset.from_text_list(question.name, TTL, "IN", record_type, answers)
                )
            return reply
        if kind == dns.rdatatype.PTR:
            address = _reverse_v4(name)
            host = self.names.reverse(listener.container_id, address) if address else None
            if host is None:
                return None
            reply = _reply(query)
            reply.answer.append(dns.rrset.from_text(question.name, TTL, "IN", "PTR", host + "."))
            return reply
        return None

    async def _forward(
        self, listener: Listener, query: dns.message.Message, data: bytes, tcp: bool
    ) -> bytes:
        """The first usable answer of the container's upstream servers; SERVFAIL without one."""
        from_host = self.names.forwards_from_host(listener.container_id)
        for upstream in listener.upstreams[:MAX_UPSTREAMS]:
            if upstream.from_host and not from_host:
                continue
            try:
                await asyncio.wait_for(self._forwards.acquire(), UPSTREAM_TIMEOUT)
            except TimeoutError:
                return _reply(query, dns.rcode.REFUSED).to_wire()
            try:
                wire = await asyncio.wait_for(
                    self._exchange(listener, upstream, data, tcp), UPSTREAM_TIMEOUT
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as e:
                log.debug("dns: upstream %s: %s", upstream, e)
                continue
            finally:
                self._forwards.release()
            if len(wire) < 4 or wire[:2] != data[:2]:
                continue
            if wire[3] & 0x0F in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
                continue
            return wire
        return _reply(query, dns.rcode.SERVFAIL).to_wire()

    async def _exchange(
        self, listener: Listener, upstream: Upstream, data: bytes, tcp: bool
    ) -> bytes:
        family = socket.AF_INET6 if ":" in upstream.address else socket.AF_INET
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        if upstream.from_host:
            sock = socket.socket(family, kind)
        else:  # a --dns server: asked from the container's namespace, as the container would
            sock = await asyncio.wrap_future(
                self.in_namespace(listener.pid, lambda: socket.socket(family, kind))
            )
        assert self.loop is not None
        loop = self.loop
        with sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, (upstream.address, DNS_PORT))
            if not tcp:
                await loop.sock_sendall(sock, data)
                return await loop.sock_recv(sock, MAX_MESSAGE)
            await loop.sock_sendall(sock, struct.pack("!H", len(data)) + data)
            size = struct.unpack("!H", await _recv_exactly(loop, sock, 2))[0]
            return await _recv_exactly(loop, sock, size)


def _parse(data: bytes) -> dns.message.Message | None:
    try:
        query = dns.message.from_wire(data)
    except Exception:  # noqa: BLE001 - anything malformed is dropped, as moby's server does
        return None
    return query if query.question and not query.flags & dns.flags.QR else None


def _reply(query: dns.message.Message, rcode: int = dns.rcode.NOERROR) -> dns.message.Message:
    reply = dns.message.make_response(query, recursion_available=True)
    reply.set_rcode(rcode)
    return reply


def _udp_limit(query: dns.message.Message) -> dict[str, Any]:
    """A UDP answer fits the client's buffer (512 bytes, or its EDNS size): else truncated."""
    size = max(MIN_UDP_SIZE, query.payload if query.edns >= 0 else 0)
    return {"max_size": size, "prefer_truncation": True}


def _reverse_v4(name: str) -> str | None:
    if not name.lower().endswith(REVERSE_V4):
        return None
    labels = name[: -len(REVERSE_V4)].split(".")
    try:
        return str(ip_address(".".join(reversed(labels))))
    except ValueError:
        return None


async def _recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise asyncio.IncompleteReadError(data, size)
        data += chunk
    return data


# ---------------------------------------------------------------------- in the container's namespace
def _bind_in_namespace() -> tuple[socket.socket, socket.socket]:
    """Sockets on 127.0.0.11 and the DNAT that sends port 53 to them (on the namespace's thread)."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((INTERNAL_NAMESERVER, 0))
        tcp.bind((INTERNAL_NAMESERVER, 0))
        tcp.listen(128)
        udp.setblocking(False)
        tcp.setblocking(False)
        # A context made here talks to this namespace's nftables (its netlink socket is opened now).
        nft = Nftables()
        try:
            nft.run(nat_table(udp.getsockname()[1], tcp.getsockname()[1]))
        finally:
            nft.close_later()
    except BaseException:
        udp.close()
        tcp.close()
        raise
    return udp, tcp


def nat_table(udp_port: int, tcp_port: int) -> str:
    """The container's table: 127.0.0.11:53 to our ports, and our answers from port 53."""
    ns = INTERNAL_NAMESERVER
    return (
        f"table ip {TABLE}\n"
        f"delete table ip {TABLE}\n"
        f"table ip {TABLE} {{\n"
        "\tchain dns-dnat {\n"
        # dstnat is a prerouting priority to nft; -100 is the same for the output hook.
        "\t\ttype nat hook output priority -100; policy accept;\n"
        f"\t\tip daddr {ns} udp dport {DNS_PORT} counter dnat to {ns}:{udp_port}\n"
        f"\t\tip daddr {ns} tcp dport {DNS_PORT} counter dnat to {ns}:{tcp_port}\n"
        "\t}\n"
        "\tchain dns-snat {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        f"\t\tip saddr {ns} udp sport {udp_port} counter snat to :{DNS_PORT}\n"
        f"\t\tip saddr {ns} tcp sport {tcp_port} counter snat to :{DNS_PORT}\n"
        "\t}\n"
        "}\n"
    )
