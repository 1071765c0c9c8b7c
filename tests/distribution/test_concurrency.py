"""A pull's layers download a few at a time (dockerd's max-concurrent-downloads, 3), each
unpacked in order as it arrives; a broken download fails the pull and leaves nothing.

The registry is behind a proxy that holds the layers' blob GETs until three of them
are in flight at once: a pull that fetched its layers one after another would never
get its first one (the proxy gives up with a 503).
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientSession, web

from dockyard import errors
from dockyard.distribution.endpoints import Endpoint
from dockyard.distribution.registry import Registry as Client
from tests.distribution.conftest import _HOP_HEADERS, Registry, _free_port
from tests.distribution.test_registry import Progress

HELD_AT_MOST = 30  # seconds a held GET waits for the others before the proxy gives up


@dataclass
class Gate:
    """What the proxy saw of the gated blobs' GETs."""

    address: str  # 127.0.0.1:PORT of the proxy
    gated: set[str] = field(default_factory=set)  # the digests of the blobs held
    together: int = 3  # how many GETs of them must be in flight before any goes on
    corrupt: str = ""  # a digest whose bytes the proxy changes
    in_flight: int = 0
    peak: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)


def _gate_proxy(backend: str, gate: Gate) -> web.Application:
    async def forward(request: web.Request) -> web.StreamResponse:
        digest = request.path.rpartition("/")[2]
        held = request.method == "GET" and "/blobs/" in request.path and digest in gate.gated
        if held:
            gate.in_flight += 1
            gate.peak = max(gate.peak, gate.in_flight)
            if gate.in_flight >= gate.together:
                gate.opened.set()
        try:
            if held:
                try:
                    await asyncio.wait_for(gate.opened.wait(), HELD_AT_MOST)
                except TimeoutError:
                    return web.Response(status=503, text="the other layers never came")
            async with (
                ClientSession(auto_decompress=False) as session,
                session.get(
                    f"http://{backend}{request.rel_url}",
                    headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                    allow_redirects=False,
                ) as reply,
            ):
                body = await reply.read()
            if digest == gate.corrupt:
                body = body[:-1] + bytes([body[-1] ^ 1])
            kept = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=reply.status, headers=kept, body=body)
        finally:
            if held:
                gate.in_flight -= 1

    app = web.Application()
    app.router.add_get("/v2/{tail:.*}", forward)
    return app


@pytest.fixture
def gate(registry: Registry) -> Iterator[Gate]:
    """The open ``registry`` behind a proxy that holds the GETs of ``gate.gated`` blobs."""
    loop = asyncio.new_event_loop()
    state = Gate(f"127.0.0.1:{_free_port()}")
    runner = web.AppRunner(_gate_proxy(registry.address, state))
    loop.run_until_complete(runner.setup())
    host, port = state.address.split(":")
    loop.run_until_complete(web.TCPSite(runner, host, int(port)).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _layer_tar(name: str, size: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BytesIO(bytes([len(name)]) * size))
    return out.getvalue()


def _pushed_image(engine: Any, registry: Registry, layers: int) -> tuple[str, list[str]]:
    """An image of busybox and ``layers`` more layers pushed to ``registry``, and no longer
    in the store; its repository and its layer blobs' digests (base first)."""
    busybox = engine.images.resolve("busybox")
    stack = [engine.images.layers.get(chain) for chain in busybox.chain]
    for n in range(layers):
        tar = _layer_tar(f"file{n}", 300_000 + n)
        stack.append(engine.images.layers.register(io.BytesIO(tar), stack[-1].chain_id))
    config = {k: v for k, v in busybox.config.items() if k not in ("rootfs", "history")}
    image_id = engine.images.create_image(config, stack)
    repo = f"{registry.address}/layered"
    engine.images.tag(image_id, repo, "latest")
    engine.transfers.push(repo, "latest", Progress())
    client = Client(Endpoint(f"http://{registry.address}"), ["repository:layered:pull"])
    manifest = client.get_manifest("layered", "latest").json()
    engine.loop.run_until_complete(engine.images.remove(f"{repo}:latest"))
    engine.loop.run_until_complete(engine.images.remove("busybox"))
    return "layered", [str(d["digest"]) for d in manifest["layers"]]


def test_layers_download_three_at_a_time(engine: Any, registry: Registry, gate: Gate) -> None:
    repo, digests = _pushed_image(engine, registry, 3)  # four layers with busybox's
    gate.gated = set(digests)
    pulled = Progress()
    image_id = engine.transfers.pull(f"{gate.address}/{repo}", pulled)
    assert gate.peak == 3  # three at once, never more
    assert engine.images.inspect(image_id)["RootFS"]["Layers"][-1].startswith("sha256:")
    last = digests[-1].removeprefix("sha256:")[:12]
    statuses = [m["status"] for m in pulled.messages if m.get("id") == last]
    assert statuses[:2] == ["Pulling fs layer", "Waiting"]  # the fourth waits its turn
    assert statuses[-1] == "Pull complete"
    assert list(engine.images.blobs.tmp.iterdir()) == []


def test_a_corrupt_layer_fails_the_pull_and_leaves_nothing(
    engine: Any, registry: Registry, gate: Gate
) -> None:
    repo, digests = _pushed_image(engine, registry, 3)
    gate.gated, gate.together, gate.corrupt = set(digests), 1, digests[2]
    layers_before = engine.images.metadata.query("SELECT chain_id FROM layers")
    blobs_before = set(engine.images.blobs.dir.iterdir())
    with pytest.raises(errors.SystemError, match=f"verification failed for digest {digests[2]}"):
        engine.transfers.pull(f"{gate.address}/{repo}", Progress())
    assert engine.images.metadata.query("SELECT chain_id FROM layers") == layers_before
    assert set(engine.images.blobs.dir.iterdir()) == blobs_before
    assert list(engine.images.blobs.tmp.iterdir()) == []
