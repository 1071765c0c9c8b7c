"""`make bench`: every workload with its target, beside Docker/Podman where installed.

Targets (issue 2, engine core; measured on the 2-core reference machine):
  dockyard run --rm busybox true, end to end      ≤ 90 ms median (docker 279 ms, podman 338 ms)
  the runtime alone, bundle to exit               ≤ 2 × crun (crun 13 ms, runc 33 ms)
  dockyard ps with 100 containers                 ≤ 100 ms
  20 containers started in parallel               ≤ 1 s (docker 2.9 s, podman 1.9 s)
  daemon idle RSS                                 ≤ 60 MB (dockerd + containerd 113 MB)
  per-container supervision memory                small (containerd-shim 12.9 MB RSS, conmon 2.1 MB)
Targets (issue 3, builds; 51 MB context, 14 steps, three RUNs, a late small COPY):
  cold ≤ 1475 ms, fully cached ≤ 82 ms, late file changed ≤ 266 ms (BuildKit's figures)
Figures (issue 7, the daemon under load): logs --tail 1 of a 100 MB log, time and the
  daemon's peak memory growth (dockyard read the whole log into memory: +550 MB, 3.3 s);
  exec c true end to end (forked by the daemon: ~100 ms; under a shim the zygote forks: ~78 ms)
  the slowest `GET /_ping` while ps -s, system df, inspect -s, top, rm, container and volume
  prune run on trees of 100,000 files   ≤ 100 ms (before: no answer until each ended)
Lifecycle waits (the tests check what happens, these how long it takes):
  stop -t 1 of a container that ignores SIGTERM   ≥ 1000 ms (its grace), ≤ 1500 ms
  kill until a `logs -f` on the container ends    ≤ 500 ms
Crash safety (issue 7): 200 kills of the daemon at random moments of a busy workload, each
  restart followed by the system check; nothing may be left to repair (crash.py)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = [
    "runtime.py",
    "engine.py",
    "cli.py",
    "build.py",
    "logs.py",
    "lifecycle.py",
    "exec.py",
    "responsive.py",
    "crash.py",
]


def main() -> int:
    failed = []
    for name in WORKLOADS:
        script = HERE / name
        if not script.exists():
            print(f"-- {name}: not written yet")
            continue
        print(f"\n== {name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode:
            failed.append(name)
    if failed:
        print("\nfailed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
