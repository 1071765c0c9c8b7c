"""A full disk: the data root on a small tmpfs (mounted and unmounted by the test), filled
by a container, by its logs, by a build, a commit or a pull, and a daemon started while
it is full. Each time: a clear error or the container's own exit, never a hang; the
daemon keeps running; the store passes the system check; `rm` gives the space back."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.store.metadata import RESERVE_BYTES
from tests.conftest import Daemon, Roots, _spawn_daemon, import_busybox

DISK = "48m"
MIB = 1 << 20


@pytest.fixture
def small(roots: Roots, busybox_tar: Path) -> Iterator[Daemon]:
    """A daemon whose data root is a tmpfs of ``DISK``, busybox imported."""
    roots.data_root.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(roots.data_root)], check=True
    )
    try:
        import_busybox(roots.data_root, roots.exec_root, busybox_tar)
        daemon = Daemon(roots, _spawn_daemon(roots))
        try:
            yield daemon
        finally:
            if daemon.process.poll() is None:
                for cid in daemon.cli("ps", "-aq").stdout.split():
                    daemon.cli("rm", "-f", cid)
            daemon.stop()
    finally:
        subprocess.run(["umount", "-l", str(roots.data_root)], check=True)


def free(daemon: Daemon) -> int:
    st = os.statvfs(daemon.roots.data_root)
    return st.f_bfree * st.f_frsize


def leave_free(daemon: Daemon, room: int) -> Path:
    """A file of the test's on the data root that leaves ``room`` bytes free."""
    filler = daemon.roots.data_root / "filler"
    with open(filler, "ab") as f:
        f.write(b"\0" * max(free(daemon) - room, 0))
    return filler


def fill_up(daemon: Daemon) -> Path:
    filler = daemon.roots.data_root / "filler"
    with open(filler, "ab") as f:
        try:
            while True:
                f.write(b"\0" * MIB)
                f.flush()
        except OSError:
            pass
    return filler


def ok(daemon: Daemon, *args: str) -> str:
    result = daemon.cli(*args)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def check_passes(daemon: Daemon) -> None:
    result = daemon.cli("system", "check")
    assert (result.returncode, result.stdout) == (0, "no problems found\n"), result


def state(daemon: Daemon, name: str) -> tuple[str, int]:
    found = json.loads(ok(daemon, "inspect", name))[0]["State"]
    return found["Status"], found["ExitCode"]


def test_a_container_filling_the_disk_ends_and_its_rm_gives_the_space_back(small: Daemon) -> None:
    before = free(small)
    result = small.cli(
        "run", "--name", "filler", "busybox", "sh", "-c", "dd if=/dev/zero of=/fill bs=1M; exit 3"
    )
    assert result.returncode == 3, result.stderr
    assert "No space left on device" in result.stderr
    assert state(small, "filler") == ("exited", 3)
    check_passes(small)
    ok(small, "rm", "-f", "filler")
    assert free(small) >= before - MIB


def test_a_container_whose_logs_fill_the_disk_ends(small: Daemon) -> None:
    before = free(small)
    filler = leave_free(small, 6 * MIB)
    line = "0123456789" * 10
    result = small.cli(
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        f"yes {line} | head -c 12000000; exit 4",
    )
    assert result.returncode == 0, result.stderr
    assert ok(small, "wait", "talker") == "4\n"
    assert state(small, "talker") == ("exited", 4)
    assert small.cli("logs", "--tail", "1", "talker").returncode == 0  # what fitted is readable
    check_passes(small)
    ok(small, "rm", "talker")
    filler.unlink()
    assert free(small) >= before - MIB


def test_the_daemon_starts_again_on_a_full_disk(small: Daemon) -> None:
    ok(small, "run", "--name", "kept", "busybox", "true")
    small.stop()
    filler = fill_up(small)
    small.start()
    assert "kept" in ok(small, "ps", "-a")
    ok(small, "rm", "kept")
    filler.unlink()
    ok(small, "run", "--rm", "busybox", "true")
    check_passes(small)


def test_a_build_filling_the_disk_fails_clearly(small: Daemon, tmp_path: Path) -> None:
    before = free(small)
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN head -c 30000000 /dev/zero > /big\nRUN true\n"
    )
    result = small.cli("build", "-t", "big", str(tmp_path))
    assert result.returncode != 0
    assert "no space left on device" in result.stderr.lower() + result.stdout.lower()
    check_passes(small)
    assert small.cli("images", "-q", "big").stdout == ""
    assert free(small) >= before - MIB


def test_a_commit_filling_the_disk_fails_clearly(small: Daemon) -> None:
    before = free(small)
    ok(
        small,
        "run",
        "--name",
        "changed",
        "busybox",
        "sh",
        "-c",
        "head -c 12000000 /dev/urandom > /big",
    )
    filler = leave_free(small, 16 * MIB)  # the layer's tar fits, its unpacked copy does not
    result = small.cli("commit", "changed", "snapshot")
    assert result.returncode != 0
    assert "no space left on device" in result.stderr.lower()
    check_passes(small)
    ok(small, "rm", "changed")
    filler.unlink()
    assert free(small) >= before - MIB


def test_a_pull_filling_the_disk_fails_clearly(small: Daemon, registry: Any) -> None:
    big = _layer_tar(12 * MIB)
    imported = subprocess.run(
        [*_cli(small), "import", "-", f"{registry.address}/big"], input=big, capture_output=True
    )
    assert imported.returncode == 0, imported.stderr
    ok(small, "push", f"{registry.address}/big")
    ok(small, "rmi", f"{registry.address}/big")
    # The database's reserve may be given back already (the push kept a compressed copy of
    # the layer until the rmi); it is taken again once the space has returned.
    reserve = small.roots.data_root / "dockyard.db-reserve"
    before = free(small) - (0 if reserve.exists() else RESERVE_BYTES)
    filler = leave_free(small, 16 * MIB)  # the download fits, its unpacked layer does not
    result = small.cli("pull", f"{registry.address}/big")
    assert result.returncode != 0
    assert "no space left on device" in result.stderr.lower()
    check_passes(small)
    filler.unlink()
    assert free(small) >= before - MIB


def _cli(daemon: Daemon) -> list[str]:
    from tests.conftest import DOCKYARD

    return [DOCKYARD, "-H", daemon.host]


def _layer_tar(size: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("big")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return out.getvalue()
