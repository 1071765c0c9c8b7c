"""Shared by the benchmarks: timing, a throw-away daemon, and the peers to compare with.

Figures are medians of repeated runs, printed as absolute milliseconds, and as a
ratio when a Docker or Podman engine is installed on the machine to run the
same workload in the same run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from tests.ready import answers_ping  # noqa: E402


def median_ms(action: Callable[[], object], runs: int = 15, warmup: int = 2) -> float:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(runs):
        begun = time.perf_counter()
        action()
        samples.append((time.perf_counter() - begun) * 1000)
    return statistics.median(samples)


def report(
    name: str, ms: float, target_ms: float | None = None, peers: dict[str, float] | None = None
) -> None:
    line = f"{name:<48} {ms:9.1f} ms"
    if target_ms is not None:
        line += f"   target ≤ {target_ms:g} ms {'ok' if ms <= target_ms else 'MISSED'}"
    for peer, peer_ms in (peers or {}).items():
        line += f"   {peer} {peer_ms:.1f} ms (×{ms / peer_ms:.2f})"
    print(line, flush=True)


@dataclass
class BenchDaemon:
    base: Path
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"unix://{self.base}/run/d.sock"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(BIN / "dockyard"), "-H", self.host, *args], capture_output=True, check=check
        )


@contextmanager
def daemon(*flags: str) -> Iterator[BenchDaemon]:
    """A dockyardd (with more of its ``flags``) on its own data root with busybox:latest imported."""
    base = Path(f"/tmp/dy-bench-{secrets.token_hex(4)}")
    (base / "run").mkdir(parents=True)
    tar = base / "busybox.tar"
    subprocess.run([str(REPO / "scripts" / "mkbusybox-rootfs.sh"), str(tar)], check=True)
    log = open(base / "daemon.log", "wb")  # noqa: SIM115 - the daemon's output for its lifetime
    proc = subprocess.Popen(
        [
            str(BIN / "dockyardd"),
            "--data-root",
            str(base / "data"),
            "--exec-root",
            str(base / "run"),
            "-H",
            f"unix://{base}/run/d.sock",
            *flags,
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    d = BenchDaemon(base, proc)
    try:
        deadline = time.monotonic() + 20
        while not answers_ping(base / "run" / "d.sock") and time.monotonic() < deadline:
            time.sleep(0.05)
        d.cli("import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest")
        yield d
    finally:
        left = d.cli("ps", "-aq", check=False).stdout.decode().split()
        if left:  # in one call: a workload may leave a thousand
            d.cli("rm", "-f", *left, check=False)
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        mounts = [
            line.split()[1]
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if str(base) in line
        ]
        for target in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(base, ignore_errors=True)


def peer_engines() -> dict[str, list[str]]:
    """Docker and Podman engines that answer on this machine, as command prefixes.

    DOCKYARD_BENCH_DOCKER names the docker CLI for the engine bench/dockerpeer.py starts."""
    peers = {}
    docker = os.environ.get("DOCKYARD_BENCH_DOCKER") or shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        peers["docker"] = [docker]
    if (
        shutil.which("podman")
        and subprocess.run(["podman", "info"], capture_output=True).returncode == 0
    ):
        peers["podman"] = ["podman"]
    return peers


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def smaps_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0
