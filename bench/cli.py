"""The CLI's hot paths, end to end against a real daemon.

- ``dockyard run --rm busybox true`` (target ≤ 90 ms median; docker 279 ms)
- ``dockyard ps`` with 100 containers (target ≤ 100 ms)
- 20 ``dockyard run -d`` started in parallel (target ≤ 1 s; docker 2.9 s, podman 1.9 s)
- the CLI alone: ``dockyard --version`` (interpreter start + imports, no daemon)
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from common import BIN, BenchDaemon, daemon, median_ms, peer_engines, report

DOCKYARD = str(BIN / "dockyard")


def run_rm_true(d: BenchDaemon) -> None:
    d.cli("run", "--rm", "busybox", "true")


def parallel_runs(d: BenchDaemon, count: int = 20) -> float:
    begun = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        ids = list(
            pool.map(lambda _: d.cli("run", "-d", "busybox", "sleep", "30").stdout, range(count))
        )
    elapsed = (time.perf_counter() - begun) * 1000
    d.cli("rm", "-f", *(cid.decode().strip() for cid in ids))
    return elapsed


def peer_run_ms() -> dict[str, float]:
    return {
        name: median_ms(
            lambda p=prefix: subprocess.run(
                [*p, "run", "--rm", "busybox", "true"], capture_output=True
            ),
            runs=5,
        )
        for name, prefix in peer_engines().items()
    }


def main() -> None:
    report(
        "dockyard --version (start-up and imports)",
        median_ms(lambda: subprocess.run([DOCKYARD, "--version"], capture_output=True)),
    )
    with daemon() as d:
        report(
            "dockyard run --rm busybox true", median_ms(lambda: run_rm_true(d)), 90, peer_run_ms()
        )
        report("20 x dockyard run -d in parallel", min(parallel_runs(d) for _ in range(3)), 1000)
        for _ in range(100):
            d.cli("create", "busybox", "true")
        report("dockyard ps -a with 100 containers", median_ms(lambda: d.cli("ps", "-a")), 100)


if __name__ == "__main__":
    main()
