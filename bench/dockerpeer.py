"""A throw-away Docker engine to measure beside, where dockerd is installed but none answers.

Debian's docker.io brings dockerd 20.10 with BuildKit built in, and the 20.10 CLI that
drives BuildKit without the buildx plugin (CLI 23 and later fall back to the legacy builder
without it). The engine gets its own data root, exec root, socket and bridge, and no
iptables rules: nothing of it outlives the bench.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import REPO

from tests.ready import answers_ping

DOCKER_IO_CLI = "/usr/bin/docker"
BRIDGE = "dybench0"
BRIDGE_ADDRESS = "10.213.254.1/24"


def docker_answers() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "info"], capture_output=True).returncode == 0


@contextmanager
def docker_engine() -> Iterator[dict[str, str]]:
    """The environment that points the bench's peer at a Docker engine: empty where one
    answers already or none can be started, else a private dockerd for the duration."""
    dockerd = shutil.which("dockerd")
    if docker_answers() or not dockerd or not os.path.exists(DOCKER_IO_CLI):
        yield {}
        return
    base = Path(f"/tmp/dy-bench-docker-{secrets.token_hex(4)}")
    base.mkdir()
    (base / "daemon.json").write_text("{}")
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    proc = None
    try:
        subprocess.run(["ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        log = open(base / "dockerd.log", "wb")  # noqa: SIM115 - for the engine's lifetime
        proc = subprocess.Popen(
            [dockerd, *_engine_flags(base)], stdout=log, stderr=log, start_new_session=True
        )
        env = {
            "DOCKER_HOST": f"unix://{base}/d.sock",
            "DOCKER_BUILDKIT": "1",
            "DOCKYARD_BENCH_DOCKER": DOCKER_IO_CLI,
        }
        _wait_ready(base / "d.sock", proc)
        _import_busybox(base, env)
        print(f"(Docker peer: a private dockerd 20.10 with BuildKit, log {base}/dockerd.log)")
        yield env
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        _unmount_under(base)
        subprocess.run(["ip", "link", "del", BRIDGE], check=False)
        shutil.rmtree(base, ignore_errors=True)


def _engine_flags(base: Path) -> list[str]:
    return [
        f"--config-file={base}/daemon.json",
        f"--data-root={base}/root",
        f"--exec-root={base}/exec",
        f"--pidfile={base}/dockerd.pid",
        f"-H=unix://{base}/d.sock",
        f"--bridge={BRIDGE}",
        "--iptables=false",
        "--ip6tables=false",
    ]


def _wait_ready(socket: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not answers_ping(socket):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not start: see {socket.parent}/dockerd.log")
        time.sleep(0.1)


def _import_busybox(base: Path, env: dict[str, str]) -> None:
    tar = base / "busybox.tar"
    subprocess.run([str(REPO / "scripts" / "mkbusybox-rootfs.sh"), str(tar)], check=True)
    subprocess.run(
        [DOCKER_IO_CLI, "import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )


def _unmount_under(base: Path) -> None:
    mounts = [
        line.split()[1]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if str(base) in line.split()[1]
    ]
    for target in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)
