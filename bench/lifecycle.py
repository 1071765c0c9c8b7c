"""How long the container lifecycle's waits take (timings the tests no longer assert).

dockyard stop -t 1 of a container that ignores SIGTERM   the grace second, then KILL:
                                                         ≥ 1000 ms, target ≤ 1500 ms
dockyard kill, until a `logs -f` on it has ended         the follower leaves with the
                                                         container: target ≤ 500 ms
"""

from __future__ import annotations

import subprocess
import time

from common import BIN, BenchDaemon, daemon, report

RUNS = 5
READY = "trap '' TERM; echo ready; while true; do sleep 0.1; done"


def _started(d: BenchDaemon) -> str:
    """A container that ignores SIGTERM, once its trap is set (it says "ready")."""
    cid = d.cli("run", "-d", "busybox", "sh", "-c", READY).stdout.decode().strip()
    deadline = time.monotonic() + 10
    while d.cli("logs", cid).stdout != b"ready\n":
        if time.monotonic() > deadline:
            raise RuntimeError(f"container {cid[:12]} never said ready")
        time.sleep(0.02)
    return cid


def stop_with_grace_ms(d: BenchDaemon) -> float:
    cid = _started(d)
    begun = time.perf_counter()
    d.cli("stop", "-t", "1", cid)
    took = (time.perf_counter() - begun) * 1000
    d.cli("rm", cid)
    return took


def follower_end_ms(d: BenchDaemon) -> float:
    cid = _started(d)
    follower = subprocess.Popen(
        [str(BIN / "dockyard"), "-H", d.host, "logs", "-f", cid], stdout=subprocess.PIPE
    )
    assert follower.stdout is not None
    follower.stdout.readline()  # "ready": it follows
    begun = time.perf_counter()
    d.cli("kill", cid)
    follower.wait(timeout=30)
    took = (time.perf_counter() - begun) * 1000
    d.cli("rm", cid)
    return took


def main() -> None:
    with daemon() as d:
        stops = sorted(stop_with_grace_ms(d) for _ in range(RUNS))
        report("dockyard stop -t 1, SIGTERM ignored", stops[RUNS // 2], 1500)
        if stops[0] < 1000:
            print(f"{'':<48} MISSED: a stop took {stops[0]:.0f} ms, less than its grace second")
        ends = sorted(follower_end_ms(d) for _ in range(RUNS))
        report("dockyard kill until logs -f has ended", ends[RUNS // 2], 500)


if __name__ == "__main__":
    main()
