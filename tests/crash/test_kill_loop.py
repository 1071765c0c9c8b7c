"""dockyardd killed with SIGKILL at random moments of a busy workload, 20 times: every
restart succeeds and finds nothing left to repair, and at the end every image runs,
every container and volume goes, the volumes made first hold their data, and nothing
is left on disk or in the kernel. (bench/crash.py runs the same loop 200 times.)

The seed is printed on failure; DOCKYARD_CRASH_SEED replays it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import DOCKYARD, Roots
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


def test_a_kill_during_a_run_step_leaves_nothing_after_the_restart(
    daemon: Any, tmp_path: Path
) -> None:
    """The step's process runs on in its cgroup with its root mounted under tmp/: the next
    start kills it, detaches the root and empties tmp/."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo ready && sleep 1000\n")
    build = subprocess.Popen(
        [DOCKYARD, "-H", daemon.host, "build", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert build.stdout is not None
    for line in build.stdout:
        if line.strip() == "ready":
            break
    tmp = daemon.roots.data_root / "tmp"
    steps = [line for line in _mounts() if line.startswith(str(tmp))]
    assert steps, "the step's root is mounted under tmp/"
    sleepers = _step_processes(tmp)
    assert sleepers, "the step's process runs"
    daemon.stop(signal.SIGKILL)
    build.wait(timeout=30)
    daemon.start()
    assert [m for m in _mounts() if m.startswith(str(daemon.roots.data_root))] == []
    assert os.listdir(tmp) == []
    for pid in sleepers:
        assert not os.path.exists(f"/proc/{pid}") or _state(pid) == "Z"
    assert daemon.cli("system", "check").stdout == "no problems found\n"
    assert daemon.cli("run", "--rm", "busybox", "true").returncode == 0


def _mounts() -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f]


def _step_processes(tmp: Path) -> list[int]:
    """The processes in the cgroups of the build steps staged under ``tmp``."""
    from dockyard.runtime import cgroups

    found = []
    for config in tmp.glob("build-*/bundle-*/config.json"):
        path = json.loads(config.read_text())["linux"]["cgroupsPath"]
        found += cgroups.open_cgroup(path).pids()
    return found


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]
