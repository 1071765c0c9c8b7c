"""dockyardd killed with SIGKILL at random moments of a busy workload, 20 times: every
restart succeeds and finds nothing left to repair, and at the end every image runs,
every container and volume goes, the volumes made first hold their data, and nothing
is left on disk or in the kernel. (bench/crash.py runs the same loop 200 times.)

The seed is printed on failure; DOCKYARD_CRASH_SEED replays it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from tests.conftest import Roots
from tests.crash.killloop import KillLoop

KILLS = 20


def test_the_daemon_recovers_from_kills_at_random_moments(
    roots: Roots, busybox_tar: Path, registry: Any
) -> None:
    seed = int(os.environ.get("DOCKYARD_CRASH_SEED") or secrets.randbits(32))
    loop = KillLoop(roots.base, busybox_tar, registry.address, seed=seed)
    try:
        loop.prepare()
        report = loop.run(KILLS, max_delay=0.8)
        assert report.problems == [], f"seed {seed}: the check found after a restart"
        assert report.operations > KILLS, f"seed {seed}: the workers did next to nothing"
        loop.verify()
    except AssertionError as e:
        raise AssertionError(f"seed {seed}: {e}") from None
    finally:
        loop.cleanup()
