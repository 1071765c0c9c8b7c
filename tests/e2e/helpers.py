"""Small helpers the end-to-end tests share: waiting on a condition, running the CLI in the background."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tests.conftest import DockerCli

Docker = DockerCli
"""The `docker_cli` fixture: ``docker(*args, input=None, timeout=60)`` -> CompletedProcess."""


def wait_until(condition: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail with ``what`` when it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def state(docker: Docker, container: str) -> str:
    """``State.Status`` as `docker inspect` shows it ("running", "exited", ...)."""
    return docker("inspect", "-f", "{{.State.Status}}", container).stdout.strip()


def wait_running(docker: Docker, container: str) -> None:
    wait_until(lambda: state(docker, container) == "running", what=f"{container} to run")


class Background:
    """A `docker` command running in a thread, e.g. an attached `docker run` to kill."""

    def __init__(self, docker: Docker, *args: str, timeout: float = 60) -> None:
        self._result: Any = None
        self._thread = threading.Thread(target=self._run, args=(docker, args, timeout))
        self._thread.start()

    def _run(self, docker: Docker, args: tuple[str, ...], timeout: float) -> None:
        self._result = docker(*args, timeout=timeout)

    def result(self, timeout: float = 30) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the docker command did not finish"
        return self._result


def hostport(cli: Any, ip: str, port: int) -> str:
    """A host address and port as a CLI writes them: the docker CLI 20.10 as "%s:%d"
    (`:::8080`), 23 and later and ours as Go's net.JoinHostPort (`[::]:8080`)."""
    if ":" in ip and getattr(cli, "version", (99,)) >= (23,):
        return f"[{ip}]:{port}"
    return f"{ip}:{port}"
