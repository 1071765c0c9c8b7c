"""docker-compose (1.29, Debian's package) drives a two-service project on dockyardd."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.e2e.helpers import wait_until

COMPOSE_FILE = """\
version: "2.4"
services:
  db:
    image: busybox
    init: true
    command: sh -c "until test -e /data/go; do sleep 0.1; done; sleep 300"
    healthcheck:
      test: ["CMD", "test", "-e", "/data/go"]
      interval: 100ms
      retries: 100
    volumes:
      - data:/data
    networks: [back]
  web:
    build: ./app
    init: true
    depends_on:
      db:
        condition: service_healthy
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - ./site:/www:ro
    networks: [back]
volumes:
  data: {{}}
networks:
  back: {{}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Compose = Callable[..., subprocess.CompletedProcess[str]]


def _up_while_db_gets_healthy(run: Compose, daemon: Daemon) -> subprocess.CompletedProcess[str]:
    """``up -d`` must hold web back until db is healthy: db is made healthy only once
    it runs and web has not been created."""
    with ThreadPoolExecutor(1) as pool:
        up = pool.submit(run, "up", "-d")

        def names() -> list[str]:
            return daemon.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()

        wait_until(lambda: any("_db_" in n for n in names()) or up.done(), what="db created")
        db = next(n for n in names() if "_db_" in n)
        wait_until(
            lambda: "(health: starting)" in daemon.cli("ps", "--format", "{{.Status}}").stdout,
            what="db running, not yet healthy",
        )
        assert not any("_web_" in n for n in names()), "web was created before db was healthy"
        assert daemon.cli("exec", db, "touch", "/data/go").returncode == 0
        return up.result(timeout=120)


@pytest.fixture
def compose(daemon: Daemon, tmp_path: Path) -> Compose:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (make install adds it)")
    project = f"dy{daemon.roots.base.name[-6:]}"

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "DOCKER_HOST": daemon.host,
            "COMPOSE_DOCKER_CLI_BUILD": "0",  # build through the API, as docker-py does
            "COMPOSE_PROJECT_NAME": project,
        }
        return subprocess.run(
            [binary, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    return run


def test_up_waits_for_health_then_a_second_up_changes_nothing_and_down_cleans(
    compose: Compose, daemon: Daemon, tmp_path: Path
) -> None:
    run = compose
    port = _free_port()
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.format(port=port))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(
        'FROM busybox\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n'
    )
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("from the bind mount\n")

    first = _up_while_db_gets_healthy(run, daemon)
    assert first.returncode == 0, first.stderr
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()  # noqa: S310
    assert body == b"from the bind mount\n"
    status = daemon.cli("ps", "--format", "{{.Names}} {{.Status}}").stdout
    assert "(healthy)" in status

    again = run("up", "-d")
    assert again.returncode == 0, again.stderr
    assert "Recreating" not in again.stderr and "Creating" not in again.stderr
    assert again.stderr.count("is up-to-date") == 2

    down = run("down", "-v")
    assert down.returncode == 0, down.stderr
    assert daemon.cli("ps", "-aq").stdout == ""
    assert daemon.cli("volume", "ls", "-q").stdout == ""
    networks = daemon.cli("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert sorted(networks) == ["bridge", "host", "none"]
