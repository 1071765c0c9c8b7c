"""Published ports served by listeners of the daemon that forward to the container.

As docker-proxy does, for the ports DNAT does not serve:

- IPv6 (root): a port published without host address is bound on ``0.0.0.0``
  and on ``::``, as Docker 28 binds it (ports.py); one may also be published on
  a v6 address alone (``-p [::1]:8080:80``). IPv4 is DNAT (ruleset.py); the v6
  bindings are served here, so that ``[::1]:8080`` works: the kernel never
  routes ``::1`` off the loopback, and a container of an IPv4-only network has
  no v6 address to DNAT to anyway.
- every published port of a rootless engine, whose listening sockets are the
  host's, bound by the host side (rootless/ports.py): no DNAT rule of the
  daemon's namespace sees the host's connections.

The proxy forwards to the container's v6 address where it has one and the
binding is v6, else to its v4 address. These listeners run on the engine's
event loop: TCP connections are piped both ways (reads bounded, writes
drained), UDP datagrams relayed per client with the reply coming back from
the listening port.

The set of listeners is rendered whole from the published ports (``sync``),
like the ruleset: one that is no longer wanted is closed with its connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass

from dockyard.network.ports import bind_on_host, is_ipv6

log = logging.getLogger(__name__)

_CHUNK = 64 << 10  # what one read takes; a write waits for the peer beyond asyncio's high water
_UDP_IDLE = 90.0  # docker-proxy's UDP connection timeout
_UDP_FLOWS = 1024  # clients of one UDP port relayed at once; more are dropped


@dataclass(frozen=True)
class Target:
    """``[host_ip]:host_port/proto`` forwarded to ``address:port`` (a container's address)."""

    proto: str  # tcp or udp
    host_ip: str  # an address of the host, "::" or "0.0.0.0" for all of them
    host_port: int
    address: str  # the container's v6 or v4 address
    port: int


class Proxies:
    """The listeners of the published ports this engine serves itself, owned by its loop."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._running: dict[Target, _TcpListener | _UdpListener] = {}
        self._wanted: set[Target] = set()  # what the last sync asked for
        self._syncing = threading.Lock()  # one sync at a time, handed to the loop in order

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def sync(self, wanted: set[Target]) -> None:
        """Listen for exactly ``wanted``, from whatever thread the engine calls on.

        The new sockets are bound here (a rootless engine asks its host side for
        them: not on the loop when called from a thread), then handed to the loop.
        """
        if self.loop is None or self.loop.is_closed():
            return  # an engine not serving (in-process tools): no proxies
        with self._syncing:
            opened = {t: sock for t in wanted - self._wanted if (sock := _listening_socket(t))}
            self._wanted = set(wanted)
            if _on(self.loop):
                self._sync(self._wanted, opened)
            else:
                self.loop.call_soon_threadsafe(self._sync, self._wanted, opened)

    def close(self) -> None:
        self.sync(set())

    def _sync(self, wanted: set[Target], opened: dict[Target, socket.socket]) -> None:
        for target in [t for t in self._running if t not in wanted]:
            self._running.pop(target).close()
        assert self.loop is not None
        for target, sock in sorted(opened.items(), key=lambda item: item[0].host_port):
            if target in self._running:  # asked for again before this sync ran
                sock.close()
                continue
            listener = (
                _TcpListener(self.loop, sock, target)
                if target.proto == "tcp"
                else _UdpListener(self.loop, sock, target)
            )
            self._running[target] = listener


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _listening_socket(target: Target) -> socket.socket | None:
    """The target's socket, listening; None (logged) when the port was taken since the
    engine checked it (ports.py)."""
    try:
        sock = bind_on_host(target.proto, target.host_ip, target.host_port)
    except OSError as e:
        where = f"{target.host_ip}:{target.host_port}/{target.proto}"
        log.warning("cannot publish %s: %s", where, e.strerror or e)
        return None
    try:
        if target.proto == "tcp":
            sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _TcpListener:
    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, target: Target):
        self.target = target
        self._connections: set[asyncio.Task[None]] = set()
        self._server = loop.create_task(
            asyncio.start_server(self._accepted, sock=sock, limit=_CHUNK)
        )

    def close(self) -> None:
        def stop(task: asyncio.Task[asyncio.Server]) -> None:
            if not task.cancelled() and task.exception() is None:
                task.result().close()

        self._server.add_done_callback(stop)
        for connection in list(self._connections):
            connection.cancel()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target.address, self.target.port, limit=_CHUNK
            )
        except OSError:
            self._connections.discard(task)
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            self._connections.discard(task)
            for w in (writer, upstream_writer):
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One direction of a connection, until EOF; the half-close goes on to the other side."""
    with contextlib.suppress(OSError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


class _UdpListener(asyncio.DatagramProtocol):
    """Datagrams from each client go out on a socket of its own to the container; what
    comes back on it is sent to that client from the listening port."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, target: Target):
        self.loop = loop
        self.target = target
        self.transport: asyncio.DatagramTransport | None = None
        self._flows: dict[tuple[str, int], tuple[socket.socket, float]] = {}
        self._closed = False
        self._endpoint = loop.create_task(loop.create_datagram_endpoint(lambda: self, sock=sock))
        self._sweeper = loop.call_later(_UDP_IDLE, self._sweep)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._closed:
            transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        client = (addr[0], addr[1])
        flow = self._flows.get(client)
        if flow is None:
            if len(self._flows) >= _UDP_FLOWS:
                return
            family = socket.AF_INET6 if is_ipv6(self.target.address) else socket.AF_INET
            upstream = socket.socket(family, socket.SOCK_DGRAM)
            upstream.setblocking(False)
            try:
                upstream.connect((self.target.address, self.target.port))
            except OSError:
                upstream.close()
                return
            self.loop.add_reader(upstream.fileno(), self._reply, client, upstream)
            flow = (upstream, 0.0)
        self._flows[client] = (flow[0], time.monotonic())
        with contextlib.suppress(OSError):  # a full buffer drops the datagram, as UDP may
            flow[0].send(data)

    def _reply(self, client: tuple[str, int], upstream: socket.socket) -> None:
        try:
            data = upstream.recv(65535)
        except OSError:
            return
        if self.transport is not None:
            self.transport.sendto(data, client)
        self._flows[client] = (upstream, time.monotonic())

    def _sweep(self) -> None:
        idle = time.monotonic() - _UDP_IDLE
        for client, (_, last) in list(self._flows.items()):
            if last < idle:
                self._forget(client)
        self._sweeper = self.loop.call_later(_UDP_IDLE, self._sweep)

    def _forget(self, client: tuple[str, int]) -> None:
        upstream, _ = self._flows.pop(client)
        self.loop.remove_reader(upstream.fileno())
        upstream.close()

    def close(self) -> None:
        self._closed = True
        self._sweeper.cancel()
        for client in list(self._flows):
            self._forget(client)
        if self.transport is not None:
            self.transport.close()  # else connection_made closes it, when it comes
