"""A real registry (Debian's docker-registry, distribution 2.8) on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REGISTRY = Path("/usr/bin/docker-registry")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Registry:
    address: str  # 127.0.0.1:PORT
    storage: Path


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
        "log: {level: error}",
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
        yield Registry(address, storage)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _wait_ready(address: str, proc: subprocess.Popen[bytes], base: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            _NO_PROXY.open(f"http://{address}/v2/", timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # 401 with auth: it answers
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "docker-registry did not start: " + (base / "registry.log").read_text()
                ) from None
            time.sleep(0.05)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """An open registry: anyone may pull and push."""
    yield from _start(tmp_path, None)


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry that wants Basic auth as alice / s3cret."""
    yield from _start(tmp_path, ("alice", "s3cret"))
