"""`make bench`: every workload with its target, beside Docker/Podman where installed.

Where no Docker engine answers but Debian's docker.io is installed (make install puts it
there for its CLI), a private dockerd 20.10 with BuildKit is started for the duration
(bench/dockerpeer.py), so the ratios to Docker and BuildKit are measured on this machine.

Targets (issue 2, engine core; measured on the 2-core reference machine):
  dockyard run --rm busybox true, end to end      ≤ 90 ms median (docker 279 ms, podman 338 ms)
  the runtime alone, bundle to exit               ≤ 2 × crun (crun 13 ms, runc 33 ms)
  dockyard ps with 100 containers                 ≤ 100 ms
  20 containers started in parallel               ≤ 1 s (docker 2.9 s, podman 1.9 s)
  daemon idle RSS                                 ≤ 60 MB (dockerd + containerd 113 MB)
  per-container supervision memory                small (containerd-shim 12.9 MB RSS, conmon 2.1 MB)
Targets (issue 3, builds; 51 MB context, 14 steps, three RUNs, a late small COPY):
  cold ≤ 1475 ms, fully cached ≤ 82 ms, late file changed ≤ 266 ms (BuildKit's figures)
Target (issue 10, builds): each of the three ≤ 0.6 × BuildKit's time, measured beside it
Target (issue 10, cache mounts): a rebuild whose RUN installs a package from a cache
  mount ≥ 5× faster than the same RUN without it (8 MB from a 2 MB/s loopback mirror)
Figures (issue 7, the daemon under load): logs --tail 1 of a 100 MB log, time and the
  daemon's peak memory growth (dockyard read the whole log into memory: +550 MB, 3.3 s);
  exec c true end to end (forked by the daemon: ~100 ms; under a shim the zygote forks: ~78 ms)
  the slowest `GET /_ping` while ps -s, system df, inspect -s, top, rm, container and volume
  prune run on trees of 100,000 files   ≤ 100 ms (before: no answer until each ended)
Rootless (issue 9): run --rm busybox true by a user's rootless engine beside root's
Storage drivers (issue 9): run --rm busybox true with fuse-overlayfs beside overlay2
Transfers (issue 10): push and pull of the bench image to a local registry ≤ skopeo's time
  for the same image (docker-registry and skopeo from make install)
Lifecycle waits (the tests check what happens, these how long it takes):
  stop -t 1 of a container that ignores SIGTERM   ≥ 1000 ms (its grace), ≤ 1500 ms
  kill until a `logs -f` on the container ends    ≤ 500 ms
Crash safety (issue 7): 200 kills of the daemon at random moments of a busy workload, each
  restart followed by the system check; nothing may be left to repair (crash.py)
Load (issue 7): 50 run -d at once; ps -a with 1,000 containers ≤ 300 ms; 100 concurrent
  API clients' p50/p99; the daemon's RSS over run --rm cycles (flat; LOAD_CYCLES=10000 for
  the long run, default 100); 50 logs -f followers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dockerpeer import docker_engine

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
    "rootless.py",
    "storage.py",
    "buildcache.py",
    "load.py",
    "transfer.py",
]


def main() -> int:
    failed = []
    with docker_engine() as peer_env:
        for name in WORKLOADS:
            script = HERE / name
            if not script.exists():
                print(f"-- {name}: not written yet")
                continue
            print(f"\n== {name}", flush=True)
            args = (
                [os.environ["LOAD_CYCLES"]]
                if name == "load.py" and "LOAD_CYCLES" in os.environ
                else []
            )
            run = [sys.executable, str(script), *args]
            if subprocess.run(run, env={**os.environ, **peer_env}, check=False).returncode:
                failed.append(name)
    if failed:
        print("\nfailed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
