"""The API client against small real servers on a Unix socket."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from dockyard.client import APIError, Client, DaemonUnreachable
from dockyard.client.streams import EscapeFilter, OutputWriter, parse_detach_keys
from dockyard.stdcopy import frame


class Server:
    """An aiohttp app on a Unix socket, served from a thread."""

    def __init__(self, path: Path, app: web.Application) -> None:
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.UnixSite(self.runner, str(path)).start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def make_app(seen: list[str]) -> web.Application:
    async def ping(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path}")
        return web.Response(text="OK", headers={"Api-Version": "1.41"})

    async def containers(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.path_qs}")
        return web.json_response([{"Id": "abc"}])

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"message": "No such container: nope"}, status=404)

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read(), content_type="application/octet-stream")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for line in (b'{"status":"one"}\n', b'{"status":', b'"two"}\n'):
            await response.write(line)
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    app = web.Application(client_max_size=16 << 20)
    app.router.add_route("*", "/_ping", ping)
    app.router.add_get("/v1.41/containers/json", containers)
    app.router.add_get("/v1.41/containers/nope/json", missing)
    app.router.add_post("/v1.41/echo", echo)
    app.router.add_get("/v1.41/events", chunked)
    return app


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Client, list[str]]]:
    seen: list[str] = []
    server = Server(tmp_path / "api.sock", make_app(seen))
    client = Client(f"unix://{tmp_path / 'api.sock'}")
    yield client, seen
    client.close()
    server.close()


def test_negotiates_once_and_uses_the_lower_version(served: tuple[Client, list[str]]) -> None:
    client, seen = served
    assert client.request("GET", "/containers/json", {"all": True}).json() == [{"Id": "abc"}]
    assert client.request("GET", "/containers/json").json() == [{"Id": "abc"}]
    assert client.api_version == "1.41"
    assert seen == ["HEAD /_ping", "GET /v1.41/containers/json?all=1", "GET /v1.41/containers/json"]


def test_keep_alive_reuses_one_connection(served: tuple[Client, list[str]]) -> None:
    client, _ = served
    client.request("GET", "/containers/json").read()
    first = client._idle[-1]
    client.request("GET", "/containers/json").read()
    assert client._idle == [first]


def test_error_carries_the_daemons_message(served: tuple[Client, list[str]]) -> None:
    client, _ = served
    with pytest.raises(APIError) as caught:
        client.request("GET", "/containers/nope/json")
    assert (caught.value.status, caught.value.message) == (404, "No such container: nope")


def test_bodies_as_bytes_files_and_chunks(served: tuple[Client, list[str]]) -> None:
    client, _ = served
    assert client.request("POST", "/echo", body=b"raw").read() == b"raw"
    big = bytes(range(256)) * 5000
    assert client.request("POST", "/echo", body=io.BytesIO(big)).read() == big
    assert client.request("POST", "/echo", body=iter([b"a", b"b"])).read() == b"ab"
    assert client.request("POST", "/echo", body={"k": 1}).json() == {"k": 1}


def test_streamed_json_messages_split_across_chunks(served: tuple[Client, list[str]]) -> None:
    client, _ = served
    messages = list(client.request("GET", "/events").iter_json())
    assert messages == [{"status": "one"}, {"status": "two"}]


def test_nothing_listening_is_reported(tmp_path: Path) -> None:
    client = Client(f"unix://{tmp_path / 'none.sock'}")
    with pytest.raises(DaemonUnreachable, match="Cannot connect to the dockyard daemon at unix://"):
        client.request("GET", "/containers/json")


def hijack_server(path: Path, status: bytes = b"101 UPGRADED") -> threading.Thread:
    """A raw server: answers the upgrade, echoes input upper-cased until the client's
    half-close, then sends "done" (output after stdin EOF) and closes."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 " + status + b"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            if not status.startswith(b"101"):
                return
            conn.sendall(b"early:")
            while data := conn.recv(4096):
                conn.sendall(data.upper())
            conn.sendall(b"done")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_hijack_half_close_keeps_reading(tmp_path: Path) -> None:
    thread = hijack_server(tmp_path / "h.sock")
    client = Client(f"unix://{tmp_path / 'h.sock'}", version="1.44")
    stream = client.hijack("POST", "/containers/x/attach", {"stream": True, "stdin": True})
    stream.sendall(b"abc")
    stream.close_write()
    received = b""
    while data := stream.recv():
        received += data
    stream.close()
    thread.join(5)
    assert received == b"early:ABCdone"


def test_hijack_requires_101(tmp_path: Path) -> None:
    thread = hijack_server(tmp_path / "h.sock", status=b"200 OK")
    client = Client(f"unix://{tmp_path / 'h.sock'}", version="1.44")
    with pytest.raises(Exception, match="unable to upgrade to tcp, received 200"):
        client.hijack("POST", "/containers/x/attach")
    thread.join(5)


def test_output_writer_demultiplexes_frames_split_anywhere(tmp_path: Path) -> None:
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        writer = OutputWriter(tty=False, stdout=out.fileno(), stderr=err.fileno())
        data = frame(1, b"hello ") + frame(2, b"oops") + frame(1, b"world")
        for index in range(0, len(data), 5):
            writer.write(data[index : index + 5])
    assert out_path.read_bytes() == b"hello world"
    assert err_path.read_bytes() == b"oops"


def test_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@") == b"a\x00"
    escape = EscapeFilter(b"\x10\x11")
    assert escape.filter(b"ab\x10c") == b"ab\x10c"
    assert not escape.detached
    assert escape.filter(b"x\x10") == b"x"
    assert escape.filter(b"\x11rest") == b""
    assert escape.detached
