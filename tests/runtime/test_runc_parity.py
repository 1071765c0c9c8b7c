"""The same bundle run by runc and crun shows the process the same world.

This proves the bundle docker_default_spec writes is plain OCI, and that the
built-in runtime sets it up as the reference runtimes do. runc is Docker's
runtime and the reference: what crun adds of its own (below) is left out of
the comparison with crun, everything else must match.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.runtime import cgroups
from dockyard.runtime.users import resolve_user

from .conftest import HYBRID_UNIFIED, PATH, Bundle

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


def _reference(
    runtime: str, bundle: Bundle, state: Path, host: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``runtime run`` of the bundle, behind the ``host`` command prefix when there is one."""
    return _run(
        [
            *(host or []),
            runtime,
            "--root",
            str(state),
            "run",
            "--bundle",
            str(bundle.path),
            bundle.name,
        ]
    )


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
@pytest.mark.parametrize("kind", SPECS)
def test_runc_runs_the_bundle_and_sees_the_same(bundle: Bundle, tmp_path: Path, kind: str) -> None:
    bundle.write(SPECS[kind](bundle))
    reference = _reference("runc", bundle, tmp_path / "runc-state")
    assert (reference.returncode, reference.stderr) == (0, "")
    assert _ours(bundle) == reference.stdout


# crun 1.8 refuses every container on a hybrid machine whose cgroup2 mount holds a
# controller (here hugetlb), before it reads the config; its whole message:
CRUN_HYBRID_REFUSAL = "cgroups in hybrid mode not supported, drop all controllers from cgroupv2"
# What crun does otherwise than runc (Docker's runtime), left out of the comparison:
# a /dev/core link to /proc/kcore, and net_cls/net_prio names in /sys/fs/cgroup where
# the host has none; a file masked with a bind of the host's /dev/null (devtmpfs), where
# runc's is a tmpfs; size=1024k for the /sys/fs/cgroup tmpfs, where runc's has mode=755;
# no device rule of its own for /dev/net/tun (runc allows c 10:200 whatever the config
# says); and the cgroup hierarchies mounted in an order of its own.
_CRUN_ONLY = re.compile(r"^(core|net_cls|net_prio|\./core symbolic link .*)\n", re.MULTILINE)
_CRUN_AS_RUNC = (
    (re.compile(r"^(/proc/\S+) devtmpfs$", re.MULTILINE), r"\1 tmpfs"),
    (re.compile(r"^(/sys/fs/cgroup tmpfs \S*)size=1024k$", re.MULTILINE), r"\1mode=755"),
)
_RUNC_ONLY = re.compile(r"^c 10:200 rwm\n", re.MULTILINE)
_MOUNT_LINE = re.compile(r"^/\S*( \S+){1,2}\n")


def _crun_as_runc(output: str) -> str:
    for pattern, replacement in _CRUN_AS_RUNC:
        output = pattern.sub(replacement, output)
    return _mounts_sorted(_CRUN_ONLY.sub("", output))


def _mounts_sorted(output: str) -> str:
    """The probe's output with each run of mount lines sorted, every other line in place."""
    lines = output.splitlines(keepends=True)
    run: list[int] = []
    for i in range(len(lines) + 1):
        if i < len(lines) and _MOUNT_LINE.match(lines[i]):
            run.append(i)
            continue
        for at, line in zip(run, sorted(lines[j] for j in run), strict=True):
            lines[at] = line
        run = []
    return "".join(lines)


@pytest.fixture
def crun_host(cgroup_parent: str) -> Iterator[list[str]]:
    """A command prefix that shows crun a hybrid machine it accepts.

    Where the cgroup2 mount holds a controller, crun runs in a mount namespace of its
    own in which /sys/fs/cgroup/unified is a cgroup with no controller: the machine
    systemd sets up with every controller on a v1 mount. Elsewhere, no prefix.
    """
    unified = Path(HYBRID_UNIFIED)
    if cgroups.unified() or not (unified / "cgroup.controllers").read_text().strip():
        yield []
        return
    # A cgroup's controllers are those its parent enables for it: none, below a new one.
    host = unified / f"{cgroup_parent}-crun" / "unified"
    host.mkdir(parents=True)
    try:
        assert (host / "cgroup.controllers").read_text().strip() == ""
        yield [
            *("unshare", "--mount", "--propagation", "private", "sh", "-c"),
            f'mount --bind {host} {unified} && exec "$@"',
            "sh",
        ]
    finally:
        for directory, _, _ in sorted(os.walk(host.parent), reverse=True):
            os.rmdir(directory)


@pytest.mark.skipif(shutil.which("crun") is None, reason="crun is not installed")
def test_crun_runs_the_bundle_and_sees_the_same(
    bundle: Bundle, tmp_path: Path, crun_host: list[str]
) -> None:
    bundle.write(_probe_spec(bundle))
    reference = _reference("crun", bundle, tmp_path / "crun-state", crun_host)
    if reference.returncode != 0 and reference.stderr.strip() == CRUN_HYBRID_REFUSAL:
        pytest.skip(f"crun refuses this machine's cgroups: {CRUN_HYBRID_REFUSAL}")
    assert (reference.returncode, reference.stderr) == (0, "")
    assert _mounts_sorted(_RUNC_ONLY.sub("", _ours(bundle))) == _crun_as_runc(reference.stdout)
