"""The embedded DNS server alone, in a network namespace of its own (no engine, no container).

Queries are sent from inside the namespace to 127.0.0.11:53, as a container's
would be; upstream servers are fakes on loopback addresses.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from dockyard.network.dns import DnsServer
from dockyard.network.links import Links
from dockyard.network.resolvconf import Upstream
from tests.network.dnsfakes import FakeUpstream, loopback_upstream

CONTAINER = "c" * 64


@dataclass
class FakeNames:
    """The engine's side: names by asker, as the engine would answer them."""

    names: dict[str, list[str]] = field(default_factory=dict)
    pointers: dict[str, str] = field(default_factory=dict)
    from_host: bool = True

    def addresses(self, container_id: str, name: str) -> list[str] | None:
        return self.names.get(name.lower()) if container_id == CONTAINER else None

    def reverse(self, container_id: str, address: str) -> str | None:
        return self.pointers.get(address)

    def forwards_from_host(self, container_id: str) -> bool:
        return self.from_host


@dataclass
class Served:
    names: FakeNames
    server: DnsServer
    links: Links
    pid: int
    loop: asyncio.AbstractEventLoop

    def on_loop(self, fn: Any, *args: Any) -> Any:
        """Call ``fn`` on the server's loop (its thread) and return what it returns."""

        async def call() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result()

    def start(self, upstreams: list[Upstream], ndots_set: bool = False) -> None:
        self.on_loop(self.server.start, self.loop, CONTAINER, self.pid, upstreams, ndots_set)

    def socket(self, kind: int) -> socket.socket:
        """A socket of the namespace (the test's thread stays where it is)."""
        return self.links.in_namespace(
            self.pid, lambda: socket.socket(socket.AF_INET, kind)
        ).result()

    def ask(
        self, name: str, kind: str = "A", tcp: bool = False, **make: Any
    ) -> dns.message.Message:
        query = dns.message.make_query(name, kind, **make)
        if tcp:
            with self.socket(socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(("127.0.0.11", 53))
                sock.setblocking(False)  # as dnspython wants a socket it is given
                return dns.query.tcp(query, "127.0.0.11", timeout=10, sock=sock)
        return self.ask_udp(query, timeout=10)

    def ask_udp(self, query: dns.message.Message, timeout: float) -> dns.message.Message:
        with self.socket(socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            return dns.query.udp(query, "127.0.0.11", timeout=timeout, sock=sock)


@pytest.fixture
def namespace() -> Iterator[int]:
    """A process alone in a new network namespace, its loopback up."""
    process = subprocess.Popen(
        ["unshare", "-n", "sh", "-c", "ip link set lo up && echo ready && exec sleep 300"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    yield process.pid
    process.kill()
    process.wait()


@pytest.fixture
def served(namespace: int) -> Iterator[Served]:
    links = Links()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    names = FakeNames()
    server = DnsServer(names, links.in_namespace)
    yield Served(names, server, links, namespace, loop)
    Served(names, server, links, namespace, loop).on_loop(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()
    links.close()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = loopback_upstream({"upstream.test": "192.0.2.7"})
    yield fake
    fake.close()


def addresses(reply: dns.message.Message) -> list[str]:
    return sorted(item.address for rrset in reply.answer for item in rrset)


def test_names_of_ours_are_answered_here(served: Served, upstream: FakeUpstream) -> None:
    served.names.names = {"web": ["10.0.0.2"], "both": ["10.0.0.3", "10.0.0.4"]}
    served.start([Upstream(upstream.address, from_host=True)])
    reply = served.ask("web")
    assert reply.rcode() == dns.rcode.NOERROR and addresses(reply) == ["10.0.0.2"]
    assert reply.flags & dns.flags.RA and reply.answer[0].ttl == 600
    assert addresses(served.ask("BOTH.")) == ["10.0.0.3", "10.0.0.4"]
    # A name of ours has no IPv6 address and no mail exchanger: an empty answer, not forwarded.
    for kind in ("AAAA", "MX"):
        empty = served.ask("web", kind)
        assert (empty.rcode(), empty.answer) == (dns.rcode.NOERROR, [])
    assert addresses(served.ask("web", tcp=True)) == ["10.0.0.2"]
    assert upstream.questions == []


def test_pointer_queries_name_the_container_and_its_network(served: Served) -> None:
    served.names.pointers = {"10.0.0.2": "web.backend"}
    served.start([])
    reply = served.ask("2.0.0.10.in-addr.arpa", "PTR")
    assert [item.target.to_text() for item in reply.answer[0]] == ["web.backend."]


def test_a_long_answer_is_truncated_over_udp_and_whole_over_tcp(served: Served) -> None:
    many = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(100)]
    served.names.names = {"many": many}
    served.start([])
    truncated = served.ask("many")
    assert truncated.flags & dns.flags.TC and len(truncated.to_wire()) <= 512
    assert addresses(served.ask("many", tcp=True)) == sorted(many)
    bigger = served.ask("many", use_edns=0, payload=4096)  # the client's EDNS buffer
    assert not bigger.flags & dns.flags.TC and addresses(bigger) == sorted(many)


def test_other_names_are_forwarded_from_the_host(served: Served, upstream: FakeUpstream) -> None:
    served.start([Upstream(upstream.address, from_host=True)])
    assert addresses(served.ask("upstream.test")) == ["192.0.2.7"]
    assert served.ask("nosuch.test").rcode() == dns.rcode.NXDOMAIN
    assert addresses(served.ask("upstream.test", tcp=True)) == ["192.0.2.7"]
    assert [(q.name, q.proto) for q in upstream.questions] == [
        ("upstream.test", "udp"),
        ("nosuch.test", "udp"),
        ("upstream.test", "tcp"),
    ]
    # The host's loopback address is reachable only from the host's namespace.
    assert {q.client for q in upstream.questions} == {"127.0.0.1"}


def test_servers_given_with_dns_are_asked_from_the_container(served: Served) -> None:
    # A server on the namespace's own loopback: only a query sent from there reaches it.
    inside = FakeUpstream("127.0.0.1", {"inside.test": "192.0.2.9"}, served.socket)
    try:
        served.start([Upstream("127.0.0.1", from_host=False)])
        assert addresses(served.ask("inside.test")) == ["192.0.2.9"]
        assert addresses(served.ask("inside.test", tcp=True)) == ["192.0.2.9"]
        assert inside.names() == ["inside.test", "inside.test"]
    finally:
        inside.close()


def test_without_an_upstream_that_answers_the_reply_is_servfail(
    served: Served, upstream: FakeUpstream
) -> None:
    served.names.from_host = False  # only on internal networks: nothing goes out from the host
    served.start([Upstream(upstream.address, from_host=True)])
    assert served.ask("upstream.test").rcode() == dns.rcode.SERVFAIL
    assert upstream.questions == []


def test_short_names_stay_here_when_the_container_set_ndots(
    served: Served, upstream: FakeUpstream
) -> None:
    served.start([Upstream(upstream.address, from_host=True)], ndots_set=True)
    reply = served.ask("short")
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])
    assert served.ask("nosuch.test").rcode() == dns.rcode.NXDOMAIN
    assert upstream.names() == ["nosuch.test"]


def test_the_container_keeps_its_own_port_53_and_our_sockets_go_with_stop(served: Served) -> None:
    served.names.names = {"web": ["10.0.0.2"]}
    served.start([])
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with served.socket(kind) as own:
            own.bind(("0.0.0.0", 53))  # a DNS server of the container's own
    assert addresses(served.ask("web")) == ["10.0.0.2"]
    table = subprocess.run(
        ["nsenter", "-t", str(served.pid), "-n", "nft", "list", "table", "ip", "dockyard-dns"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dnat to 127.0.0.11:" in table and "snat to :53" in table
    served.on_loop(served.server.stop, CONTAINER)
    assert not served.server.serves(CONTAINER)
    with pytest.raises(dns.exception.Timeout):
        served.ask_udp(dns.message.make_query("web", "A"), timeout=1)
