"""The CLI's hot paths, end to end against a real daemon.

- ``dockyard run --rm busybox true`` (target ≤ 90 ms median; docker 279 ms)
- ``dockyard ps`` with 100 containers (target ≤ 100 ms)
- 20 ``dockyard run -d`` started in parallel (target ≤ 1 s; docker 2.9 s, podman 1.9 s)
- ``dockyard run --rm`` on a user-defined network: what the embedded DNS server
  (sockets and a DNAT table made in the container's namespace) adds to a run
  (target: a few ms over the default bridge)
- the CLI alone: ``dockyard --version`` (interpreter start + imports, no daemon)
"""

from __future__ import annotations

import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from common import BIN, BenchDaemon, daemon, median_ms, peer_engines, report

DOCKYARD = str(BIN / "dockyard")


def run_rm_true(d: BenchDaemon, *network: str) -> None:
    d.cli("run", "--rm", *network, "busybox", "true")


def user_network_cost(d: BenchDaemon) -> None:
    """Runs on the default bridge and on a user network, interleaved so both see the same load."""
    d.cli("network", "create", "bench-net")
    bridge, user = [], []
    for _ in range(15):
        bridge.append(median_ms(lambda: run_rm_true(d), runs=1, warmup=0))
        user.append(median_ms(lambda: run_rm_true(d, "--network", "bench-net"), runs=1, warmup=0))
    report("dockyard run --rm busybox true (default bridge)", statistics.median(bridge))
    report("dockyard run --rm --network bench-net (embedded DNS)", statistics.median(user))
    report("  the user network's extra cost", statistics.median(user) - statistics.median(bridge))


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
        user_network_cost(d)
        report("20 x dockyard run -d in parallel", min(parallel_runs(d) for _ in range(3)), 1000)
        for _ in range(100):
            d.cli("create", "busybox", "true")
        report("dockyard ps -a with 100 containers", median_ms(lambda: d.cli("ps", "-a")), 100)


if __name__ == "__main__":
    main()
