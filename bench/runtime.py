"""The OCI runtime alone: one busybox bundle from `run` to the container's exit.

Four ways to run the same bundle (Docker's default config, command `true`):
  python -m dockyard.runtime run   the built-in runtime's CLI, a fresh Python each time
  in-process create+start+wait     the library as the shim calls it, from a warm process
  runc run / crun run              the reference runtimes, where they work on this machine
Target: the built-in runtime within 2× crun (crun 13 ms on the reference machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from common import REPO, median_ms, report

from dockyard.runtime import cgroups, container
from dockyard.runtime.spec import SpecOptions, docker_default_spec

CRUN_REFERENCE_MS = 13.0
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RUNS = 25
HYBRID_UNIFIED = "/sys/fs/cgroup/unified"


def make_bundle(base: Path, cgroup_parent: str) -> Path:
    bundle = base / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    tar = base / "busybox.tar"
    subprocess.run([str(REPO / "scripts" / "mkbusybox-rootfs.sh"), str(tar)], check=True)
    subprocess.run(["tar", "-xf", str(tar), "-C", str(bundle / "rootfs")], check=True)
    options = SpecOptions(
        args=["true"], env=[PATH], hostname="bench", cgroups_path=f"{cgroup_parent}/c"
    )
    (bundle / "config.json").write_text(json.dumps(docker_default_spec(options)))
    return bundle


def compile_runtime() -> None:
    """Byte-compile the runtime as an installed package would be (this checkout may never have)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "dockyard")], check=True, env=env
    )


def in_process(bundle: Path) -> None:
    init = container.create(bundle, container.Stdio(0, 1, 2), terminal=False, container_id="bench")
    init.start()
    os.waitpid(init.pid, 0)
    container.delete(bundle)


def command(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL)


def reference(runtime: str, bundle: Path, state: Path) -> float | str:
    """The median of `<runtime> run`, or why it does not run here."""
    if shutil.which(runtime) is None:
        return "not installed"
    argv = [runtime, "--root", str(state), "run", "--bundle", str(bundle), f"bench-{runtime}"]
    probe = subprocess.run(
        argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if probe.returncode != 0:
        return (probe.stderr.strip().splitlines() or ["failed"])[-1]
    return median_ms(lambda: command(argv), runs=RUNS)


def main() -> None:
    compile_runtime()
    base = Path(tempfile.mkdtemp(prefix="dockyard-bench-runtime-"))
    cgroup_parent = f"dockyard-bench-{uuid.uuid4().hex[:8]}"
    try:
        bundle = make_bundle(base, cgroup_parent)
        peers: dict[str, float] = {}
        for runtime in ("runc", "crun"):
            result = reference(runtime, bundle, base / f"{runtime}-state")
            if isinstance(result, str):
                print(f"{runtime + ' run':<48}   unavailable: {result}")
            else:
                peers[runtime] = result
        target = 2 * peers.get("crun", CRUN_REFERENCE_MS)
        python = median_ms(lambda: command([sys.executable, "-c", "pass"]), runs=RUNS)
        cli = [sys.executable, "-m", "dockyard.runtime", "run", "--bundle", str(bundle), "bench"]
        report(
            "python -m dockyard.runtime run (bundle → exit)",
            median_ms(lambda: command(cli), runs=RUNS),
            target,
            peers,
        )
        report(
            "in-process create+start+wait+delete",
            median_ms(lambda: in_process(bundle), runs=RUNS),
            target,
            peers,
        )
        report("(python start-up alone, for scale)", python)
        for runtime, ms in peers.items():
            report(f"{runtime} run", ms)
    finally:
        cgroups.open_cgroup(cgroup_parent).destroy()
        if not cgroups.unified() and os.path.isdir(HYBRID_UNIFIED):
            # runc joins a hybrid machine's cgroup2 hierarchy too, and leaves the parent there.
            cgroups.CgroupV2(cgroup_parent, root=HYBRID_UNIFIED).destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
