"""A pull's layers download a few at a time (dockerd's max-concurrent-downloads, 3), each
unpacked in order as it arrives, and a push's layers go up a few at a time
(max-concurrent-uploads, 5); a broken download fails the pull and leaves nothing.

The registry is behind a proxy that holds the requests for the layers' blobs (a
pull's GETs, a push's first look, its HEADs) until so many of them are in flight at
once: layers moved one after another would never get past the first (the proxy
gives up with a 503).
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from dockyard import errors
from dockyard.distribution.endpoints import Endpoint
from dockyard.distribution.registry import Registry as Client
from dockyard.store import layers as layer_store
from tests.distribution.conftest import _HOP_HEADERS, Registry, _free_port, served_in_thread
from tests.distribution.test_registry import Progress

_HOP = _HOP_HEADERS - {"content-length"}  # a HEAD's length is the blob's
HELD_AT_MOST = 30  # seconds a held GET waits for the others before the proxy gives up


@dataclass
class Gate:
    """What the proxy saw of the gated blobs' GETs."""

    address: str  # 127.0.0.1:PORT of the proxy
    gated: set[str] = field(default_factory=set)  # the digests of the blobs held
    method: str = "GET"  # the requests held: GETs (a pull), HEADs (a push)
    together: int = 3  # how many GETs of them must be in flight before any goes on
    corrupt: str = ""  # a digest whose bytes the proxy changes
    in_flight: int = 0
    peak: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)


def _gate_proxy(backend: str, gate: Gate) -> web.Application:
    async def forward(request: web.Request) -> web.StreamResponse:
        digest = request.path.rpartition("/")[2]
        held = request.method == gate.method and "/blobs/" in request.path and digest in gate.gated
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
                session.request(
                    request.method,
                    f"http://{backend}{request.rel_url}",
                    # The Host header goes along, so upload locations name the proxy.
                    headers={k: v for k, v in request.headers.items() if k.lower() not in _HOP},
                    data=await request.read(),
                    allow_redirects=False,
                ) as reply,
            ):
                body = await reply.read()
            if gate.corrupt and digest == gate.corrupt:
                body = body[:-1] + bytes([body[-1] ^ 1])
            kept = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP}
            if request.method == "HEAD":
                return web.Response(status=reply.status, headers=kept)
            return web.Response(status=reply.status, headers=kept, body=body)
        finally:
            if held:
                gate.in_flight -= 1

    app = web.Application(client_max_size=64 << 20)
    app.router.add_route("*", "/v2/{tail:.*}", forward)
    return app


@pytest.fixture
def gate(registry: Registry) -> Iterator[Gate]:
    """The open ``registry`` behind a proxy that holds the GETs of ``gate.gated`` blobs."""
    state = Gate(f"127.0.0.1:{_free_port()}")
    with served_in_thread(_gate_proxy(registry.address, state), state.address):
        yield state


def _layer_tar(name: str, size: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BytesIO(bytes([len(name)]) * size))
    return out.getvalue()


def _layered_image(engine: Any, layers: int) -> str:
    """An image of busybox and ``layers`` more layers; its ID."""
    busybox = engine.images.resolve("busybox")
    stack = [engine.images.layers.get(chain) for chain in busybox.chain]
    for n in range(layers):
        tar = _layer_tar(f"file{n}", 300_000 + n)
        stack.append(engine.images.layers.register(io.BytesIO(tar), stack[-1].chain_id))
    config = {k: v for k, v in busybox.config.items() if k not in ("rootfs", "history")}
    return str(engine.images.create_image(config, stack))


def _pushed_image(engine: Any, registry: Registry, layers: int) -> tuple[str, list[str]]:
    """An image of busybox and ``layers`` more layers pushed to ``registry``, and no longer
    in the store; its repository and its layer blobs' digests (base first)."""
    image_id = _layered_image(engine, layers)
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


def test_layers_go_up_five_at_a_time(engine: Any, registry: Registry, gate: Gate) -> None:
    image_id = _layered_image(engine, 5)  # six layers with busybox's
    name = f"{gate.address}/layered"
    engine.images.tag(image_id, name, "latest")
    diff_ids = engine.images.inspect(image_id)["RootFS"]["Layers"]
    digests = [engine.images.layers.compressed(d, "gzip").digest for d in diff_ids]
    gate.gated, gate.method, gate.together = set(digests), "HEAD", 5
    pushed = Progress()
    engine.transfers.push(name, "latest", pushed)
    assert gate.peak == 5  # five at once, never more
    base = diff_ids[0].removeprefix("sha256:")[:12]  # pushed last, as Docker does
    statuses = [m["status"] for m in pushed.messages if m.get("id") == base]
    assert statuses[:2] == ["Preparing", "Waiting"]  # the sixth waits its turn
    assert statuses[-1] == "Pushed"
    client = Client(Endpoint(f"http://{registry.address}"), ["repository:layered:pull"])
    layers = client.get_manifest("layered", "latest").json()["layers"]
    assert [layer["digest"] for layer in layers] == digests


def test_a_pull_flushes_once_then_records_every_layer(
    engine: Any, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One syncfs of the store for all the pulled layers (not one each), and no layer row
    before it: nothing is recorded as present before its files are durable."""
    repo, _ = _pushed_image(engine, registry, 3)
    rows_at_flush: list[int] = []
    syncfs = layer_store._syncfs

    def counted(path: Path) -> None:
        rows_at_flush.append(len(engine.images.metadata.query("SELECT 1 FROM layers")))
        syncfs(path)

    monkeypatch.setattr(layer_store, "_syncfs", counted)
    image_id = engine.transfers.pull(f"{registry.address}/{repo}", Progress())
    assert rows_at_flush == [0]
    assert len(engine.images.inspect(image_id)["RootFS"]["Layers"]) == 4
