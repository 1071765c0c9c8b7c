"""The published ports' IPv6 listeners, against echo servers of the test's own on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from dockyard.network.proxy import Proxies, Target
from tests.network.test_engine_networks import free_port


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


async def _udp_echo(host: str) -> tuple[asyncio.DatagramTransport, int]:
    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(b"echo " + data, addr)

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(host, 0))
    return transport, int(transport.get_extra_info("sockname")[1])


async def _ask_udp(port: int, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        await loop.sock_connect(s, ("::1", port))
        await loop.sock_sendall(s, data)
        return await asyncio.wait_for(loop.sock_recv(s, 4096), 10)


async def _until_free(port: int) -> None:
    """Wait (a bounded number of loop turns) until [::]:port/udp can be bound again."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("::", port))
                return
            except OSError:
                await asyncio.sleep(0.01)
    raise AssertionError(f"[::]:{port}/udp is still bound")


@pytest.mark.parametrize("upstream", ["127.0.0.1", "::1"])  # a container's v4 or v6 address
def test_udp_is_relayed_per_client_and_stops_with_the_target(
    loop: asyncio.AbstractEventLoop, upstream: str
) -> None:
    async def scenario() -> None:
        echo, echo_port = await _udp_echo(upstream)
        proxies = Proxies()
        proxies.bind(asyncio.get_running_loop())
        port = free_port()
        # Bound at once: what comes before the loop reads it waits in the socket.
        proxies.sync({Target("udp", "::", port, upstream, echo_port)})
        assert await _ask_udp(port, b"one") == b"echo one"
        assert await _ask_udp(port, b"two") == b"echo two"  # another client, another flow
        proxies.sync(set())
        await _until_free(port)
        echo.close()

    loop.run_until_complete(scenario())


def test_tcp_is_piped_both_ways_with_half_close(loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        async def shout(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.read()  # until the client's half-close arrives
            writer.write(data.upper())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(shout, "127.0.0.1", 0)
        upstream = int(server.sockets[0].getsockname()[1])
        proxies = Proxies()
        proxies.bind(asyncio.get_running_loop())
        port = free_port()
        # Listening at once: a connection waits in the backlog until the loop accepts it.
        proxies.sync({Target("tcp", "::1", port, "127.0.0.1", upstream)})
        reader, writer = await asyncio.open_connection("::1", port)
        payload = b"x" * (1 << 20)  # beyond any one buffer: drained as it goes
        writer.write(payload)
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 30) == payload.upper()
        writer.close()
        proxies.close()
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionError):  # refused, or reset: nothing listens there
            await asyncio.open_connection("::1", port)

    loop.run_until_complete(scenario())
