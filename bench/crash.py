"""Crash safety (issue 7): dockyardd killed with SIGKILL at random moments, 200 times.

Workers create, run (published ports), start, stop and remove containers, build,
commit, pull, push, load, create and remove volumes and images; the daemon is
killed at a random moment and started again on the same roots. Every restart must
succeed and its system check find nothing left; at the end every image runs,
every container and volume goes, the volumes made first still hold their data and
nothing is left on disk or in the kernel (tests/crash/killloop.py, which the suite
runs with 20 kills). Prints the restart times and the operations done.

    bench/crash.py [KILLS] [SEED]
"""

from __future__ import annotations

import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO))

from tests.crash.killloop import KillLoop, remove_base  # noqa: E402
from tests.distribution.conftest import REGISTRY  # noqa: E402
from tests.distribution.conftest import _start as start_registry  # noqa: E402

KILLS = 200


def main() -> int:
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else KILLS
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else secrets.randbits(32)
    base = Path(f"/tmp/dy-crash-{secrets.token_hex(3)}")  # short: socket paths are limited
    (base / "registry").mkdir(parents=True)
    registry = start_registry(base / "registry", None)  # a generator: close() stops it
    address = next(registry).address if REGISTRY.exists() else None
    if address is None:
        print("docker-registry is not installed: no pulls and pushes in the loop")
    tar = base / "busybox.tar"
    subprocess.run([str(REPO / "scripts" / "mkbusybox-rootfs.sh"), str(tar)], check=True)
    loop = KillLoop(base, tar, address, seed=seed)
    begun = time.perf_counter()
    try:
        loop.prepare()
        report = loop.run(kills)
        loop.verify()
    except Exception as e:  # noqa: BLE001 - reported, with the seed to replay it
        print(f"crash loop FAILED (seed {seed}): {type(e).__name__}: {e}")
        print(f"the roots are kept in {base}")
        return 1
    finally:
        loop.cleanup()
        registry.close()
    minutes = (time.perf_counter() - begun) / 60
    restarts = sorted(report.restart_seconds)
    print(f"{'kills, each followed by a restart and a check':<48} {report.kills:9d}")
    print(f"{'operations done by the workers':<48} {report.operations:9d}")
    print(f"{'restart, median':<48} {statistics.median(restarts) * 1000:9.1f} ms")
    print(f"{'restart, slowest':<48} {restarts[-1] * 1000:9.1f} ms")
    print(f"{'problems found after a restart':<48} {len(report.problems):9d}")
    print(f"{'the whole loop':<48} {minutes:9.1f} min   (seed {seed})")
    remove_base(base)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
