"""The same bundle run by runc (and crun, where it runs) shows the process the same world.

This proves the bundle docker_default_spec writes is plain OCI, and that the
built-in runtime sets it up as the reference runtime does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.runtime.users import resolve_user

from .conftest import PATH, Bundle

# What the container reports about itself; the same in every runtime.
PROBE = r"""
id; hostname; pwd; grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; ls /dev; ls /sys/fs/cgroup
cat /proc/self/cgroup; unshare -n true 2>&1 | sed 's/.*: //'
ulimit -Sn; ulimit -Hn; cat /sys/class/net/lo/flags; env | sort
cat /proc/sys/net/ipv4/ip_unprivileged_port_start; wc -c < /proc/keys; ls -A /sys/firmware | wc -l
echo 1 2>&1 > /proc/sys/vm/overcommit_memory | sed 's/.*: //'; touch /sys/x 2>&1 | sed 's/.*: //'
cut -d' ' -f2,3 /proc/self/mounts
cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max
"""
# The built-in runtime binds the host's device nodes where runc makes them with mknod,
# so those nodes (and the masks made of /dev/null) are devtmpfs mounts here.
_DEVICE_BINDS = re.compile(r"^/dev/(null|zero|full|random|urandom|tty) devtmpfs\n", re.MULTILINE)
_MASKS = re.compile(r"^(/proc/\S+) devtmpfs$", re.MULTILINE)


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


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False
    )


def _ours(bundle: Bundle) -> str:
    result = _run(
        [sys.executable, "-m", "dockyard.runtime", "run", "--bundle", str(bundle.path), bundle.name]
    )
    assert (result.returncode, result.stderr) == (0, "")
    return _MASKS.sub(r"\1 tmpfs", _DEVICE_BINDS.sub("", result.stdout))


def _reference(runtime: str, bundle: Bundle, state: Path) -> subprocess.CompletedProcess[str]:
    return _run([runtime, "--root", str(state), "run", "--bundle", str(bundle.path), bundle.name])


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
@pytest.mark.parametrize("no_new_privileges", [False, True])
def test_runc_runs_the_bundle_and_sees_the_same(
    bundle: Bundle, tmp_path: Path, no_new_privileges: bool
) -> None:
    bundle.write(_probe_spec(bundle, no_new_privileges=no_new_privileges))
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
