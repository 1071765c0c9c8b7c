"""A real registry (Debian's docker-registry, distribution 2.8) on a free loopback port."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import ClientSession, web

from tests.ready import registry_answers

REGISTRY = Path("/usr/bin/docker-registry")


@dataclass
class Registry:
    address: str  # 127.0.0.1:PORT
    storage: Path
    log: Path

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, URI, status) of every request the registry has answered, in order."""
        answered = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("msg") in ("response completed", "response completed with error"):
                    answered.append(
                        (
                            entry["http.request.method"],
                            entry["http.request.uri"],
                            entry["http.response.status"],
                        )
                    )
        return answered


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _htpasswd(user: str, password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"


def _start(base: Path, auth: tuple[str, str] | None) -> Iterator[Registry]:
    if not REGISTRY.exists():
        pytest.skip("docker-registry is not installed (make install adds it)")
    address = f"127.0.0.1:{_free_port()}"
    storage = base / "storage"
    config = [
        "version: 0.1",
        "log: {level: info, formatter: json}",  # a line for each request: Registry.requests
        f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}",
        f"http: {{addr: '{address}'}}",
    ]
    if auth:
        (base / "htpasswd").write_text(_htpasswd(*auth))
        config.append(f"auth: {{htpasswd: {{realm: test, path: {base / 'htpasswd'}}}}}")
    (base / "config.yml").write_text("\n".join(config) + "\n")
    log = (base / "registry.log").open("wb")
    proc = subprocess.Popen(
        [str(REGISTRY), "serve", str(base / "config.yml")], stdout=log, stderr=log
    )
    try:
        _wait_ready(address, proc, base)
        yield Registry(address, storage, base / "registry.log")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _wait_ready(address: str, proc: subprocess.Popen[bytes], base: Path) -> None:
    deadline = time.monotonic() + 10
    while not registry_answers(address):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                "docker-registry did not start: " + (base / "registry.log").read_text()
            )
        time.sleep(0.05)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """An open registry: anyone may pull and push."""
    yield from _start(tmp_path, None)


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry that wants Basic auth as alice / s3cret."""
    yield from _start(tmp_path, ("alice", "s3cret"))


# ---------------------------------------------------------------------- token auth
@dataclass
class TokenRegistry:
    """A registry behind Bearer token auth, as Docker Hub's: the token server's log too."""

    address: str  # 127.0.0.1:PORT of the proxy that wants a token
    issued: list[tuple[str, list[str]]] = field(default_factory=list)  # (service, scopes)


TOKEN_SERVICE = "dockyard-test-registry"


def _token_proxy(backend: str, address: str, state: TokenRegistry) -> web.Application:
    """/token issues a token to alice / s3cret; /v2/ wants it, then forwards to ``backend``."""
    token = secrets.token_hex(16)
    challenge = f'Bearer realm="http://{address}/token",service="{TOKEN_SERVICE}"'
    unauthorized = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}

    async def issue(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Basic " + _basic("alice", "s3cret"):
            return web.json_response(unauthorized, status=401)
        state.issued.append((request.query.get("service", ""), request.query.getall("scope", [])))
        return web.json_response({"token": token})

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response(
                unauthorized, status=401, headers={"WWW-Authenticate": challenge}
            )
        # The Host header goes along, so the registry's upload locations name the proxy.
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with (
            ClientSession(auto_decompress=False) as session,
            session.request(
                request.method,
                f"http://{backend}{request.rel_url}",
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as reply,
        ):
            body = await reply.read()
            kept = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP_HEADERS}
            if request.method == "HEAD":
                return web.Response(status=reply.status, headers=kept)
            return web.Response(status=reply.status, headers=kept, body=body)

    app = web.Application(client_max_size=64 << 20)
    app.router.add_get("/token", issue)
    app.router.add_route("*", "/v2/{tail:.*}", forward)
    return app


_HOP_HEADERS = {"authorization", "content-length", "transfer-encoding", "connection"}


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def token_registry(registry: Registry) -> Iterator[TokenRegistry]:
    """The open ``registry`` behind a proxy that wants a Bearer token from its /token."""
    address = f"127.0.0.1:{_free_port()}"
    state = TokenRegistry(address)
    with served_in_thread(_token_proxy(registry.address, address, state), address):
        yield state


@contextlib.contextmanager
def served_in_thread(app: web.Application, address: str) -> Iterator[None]:
    """``app`` answering on ``address`` (host:port) from a loop of its own, in a thread."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    host, port = address.split(":")
    loop.run_until_complete(web.TCPSite(runner, host, int(port)).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
