"""The same bundle run by runc (and crun, where it runs) shows the process the same world.

This proves the bundle docker_default_spec writes is plain OCI, and that the
built-in runtime sets it up as the reference runtime does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.runtime.users import resolve_user

from .conftest import PATH, Bundle

# The container's device nodes (type, mode, owner, numbers), its device cgroup, and
# how /sys and the cgroup hierarchies are mounted: nothing in it writes.
DEVICE_PROBE = r"""
grep ^Cap /proc/self/status; cd /dev; find . | sort | while read -r node; do
  stat -c '%n %F %a %u:%g %t,%T' "$node"; done
sort /sys/fs/cgroup/devices/devices.list
grep -E ' /sys(/fs/cgroup[^ ]*)? ' /proc/self/mounts | cut -d' ' -f2-4
wc -l < /proc/interrupts; ls -A /sys/firmware | wc -l
"""
# What the container reports about itself; the same in every runtime.
PROBE = (
    r"""
id; hostname; pwd; grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; ls /dev; ls /sys/fs/cgroup
cat /proc/self/cgroup; unshare -n true 2>&1 | sed 's/.*: //'
ulimit -Sn; ulimit -Hn; cat /sys/class/net/lo/flags; env | sort
cat /proc/sys/net/ipv4/ip_unprivileged_port_start; wc -c < /proc/keys; ls -A /sys/firmware | wc -l
echo 1 2>&1 > /proc/sys/vm/overcommit_memory | sed 's/.*: //'; touch /sys/x 2>&1 | sed 's/.*: //'
cut -d' ' -f2,3 /proc/self/mounts
cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max
"""
    + DEVICE_PROBE
)


def _probe_spec(bundle: Bundle, **options: object) -> dict:
    (bundle.rootfs / "probe.sh").write_text(PROBE)
    uid, gid, groups = resolve_user(bundle.rootfs, "")
    return bundle.spec(
        ["sh", "/probe.sh"],
        env=[PATH, "HOME=/root"],
        hostname="parity",
        uid=uid,
        gid=gid,
        additional_gids=groups,
        memory=64 << 20,
        pids_limit=50,
        **options,
    )


_MAPPINGS = [
    {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/myzero", "CgroupPermissions": "r"},
    {"PathOnHost": "/dev/loop-control", "PathInContainer": "/dev/lc", "CgroupPermissions": "rw"},
    {"PathOnHost": "/dev/null", "PathInContainer": "/dev/null", "CgroupPermissions": "rwm"},
]


def _devices_spec(bundle: Bundle) -> dict:
    """--device mappings (one over a default node) and a --device-cgroup-rule."""
    (bundle.rootfs / "probe.sh").write_text(DEVICE_PROBE)
    return bundle.spec(["sh", "/probe.sh"], devices=_MAPPINGS, device_cgroup_rules=["c 42:* rm"])


def _privileged_spec(bundle: Bundle) -> dict:
    """--privileged: every host device, all capabilities, nothing masked, /sys writable."""
    (bundle.rootfs / "probe.sh").write_text(DEVICE_PROBE)
    return bundle.spec(["sh", "/probe.sh"], privileged=True, devices=_MAPPINGS)


def _no_new_privileges_spec(bundle: Bundle) -> dict:
    """The seccomp filter goes on at another moment with no-new-privileges (as in runc)."""
    return _probe_spec(bundle, no_new_privileges=True)


SPECS = {
    "default": _probe_spec,
    "no-new-privileges": _no_new_privileges_spec,
    "devices": _devices_spec,
    "privileged": _privileged_spec,
}


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )


def _ours(bundle: Bundle) -> str:
    result = _run(
        [sys.executable, "-m", "dockyard.runtime", "run", "--bundle", str(bundle.path), bundle.name]
    )
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout


def _reference(runtime: str, bundle: Bundle, state: Path) -> subprocess.CompletedProcess[str]:
    return _run([runtime, "--root", str(state), "run", "--bundle", str(bundle.path), bundle.name])


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
@pytest.mark.parametrize("kind", SPECS)
def test_runc_runs_the_bundle_and_sees_the_same(bundle: Bundle, tmp_path: Path, kind: str) -> None:
    bundle.write(SPECS[kind](bundle))
    reference = _reference("runc", bundle, tmp_path / "runc-state")
    assert (reference.returncode, reference.stderr) == (0, "")
    assert _ours(bundle) == reference.stdout


@pytest.mark.skipif(shutil.which("crun") is None, reason="crun is not installed")
def test_crun_runs_the_bundle_and_sees_the_same(bundle: Bundle, tmp_path: Path) -> None:
    bundle.write(_probe_spec(bundle))
    reference = _reference("crun", bundle, tmp_path / "crun-state")
    if reference.returncode != 0 and "hybrid" in reference.stderr:
        pytest.skip(f"crun does not run on this machine: {reference.stderr.strip()}")
    assert (reference.returncode, reference.stderr) == (0, "")
    assert _ours(bundle) == reference.stdout
