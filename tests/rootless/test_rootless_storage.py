"""A user's engine with each storage driver (`dockyardd --storage-driver`): native overlay
mounts in the user namespace, or fuse-overlayfs, the fallback for kernels that refuse
those. Containers' roots and build steps are the driver's mounts in the engine's
namespaces (fuse-overlayfs's served by processes of the user's that end with them), and
a directory emptied in a container stays empty in the image committed from it: overlay
marks it opaque with xattrs a user namespace may set (user.*, not trusted.*)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DOCKYARDD
from tests.e2e.helpers import wait_until
from tests.ready import answers_ping
from tests.rootless.conftest import User

DRIVERS = {
    "overlay2": "overlay / overlay ",
    "fuse-overlayfs": "fuse-overlayfs / fuse.fuse-overlayfs ",
}


@pytest.fixture(params=list(DRIVERS))
def driver_user(
    request: pytest.FixtureRequest, user: User, busybox_tar: Path, fuse_for_users: None
) -> Iterator[tuple[User, str]]:
    """The user with their engine started by hand with the storage driver of the test."""
    user.stop_engine()
    config = user.home / "daemon.json"
    config.write_text("{}")
    log = user.home / "dockyardd-fuse.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            ["runuser", "-u", user.name, "--", DOCKYARDD, "--config-file", str(config),
             "--storage-driver", request.param],
            stdout=out, stderr=out, env=user.environment(), cwd=user.home,
            start_new_session=True,
        )  # fmt: skip
    try:
        socket = user.runtime_dir / "dockyard.sock"
        wait_until(
            lambda: answers_ping(socket) or daemon.poll() is not None, what="the user's engine"
        )
        assert daemon.poll() is None, log.read_text()
        with open(busybox_tar, "rb") as tar:
            imported = user.dockyard("import", "-", "busybox:latest", stdin=tar)
        assert imported.returncode == 0, imported.stderr
        yield user, request.param
    finally:
        user.stop_engine()
        daemon.wait(timeout=30)


def _fuse_servers(user: User) -> list[int]:
    """The user's live fuse-overlayfs processes."""
    found = []
    for pid in user.processes():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "fuse-overlayfs":
                    found.append(pid)
        except OSError:
            continue
    return found


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_users_engine_on_each_driver(driver_user: tuple[User, str]) -> None:
    user, driver = driver_user
    assert ok(user.dockyard("info", "--format", "{{.Driver}}")) == f"{driver}\n"
    script = "echo kept > /data && rm -rf /bin/../usr && mkdir /usr && exec sleep 1000"
    cid = ok(user.dockyard("run", "-d", "busybox", "sh", "-c", script)).strip()
    wait_until(lambda: user.dockyard("exec", cid, "cat", "/data").stdout == "kept\n", what="/data")
    mounts = ok(user.dockyard("exec", cid, "cat", "/proc/mounts"))
    assert mounts.startswith(DRIVERS[driver])
    assert len(_fuse_servers(user)) == (driver == "fuse-overlayfs")  # the user's, not root's

    ok(user.dockyard("stop", "-t", "1", cid))
    assert _fuse_servers(user) == []
    ok(user.dockyard("start", cid))
    assert ok(user.dockyard("exec", cid, "cat", "/data")) == "kept\n"
    ok(user.dockyard("commit", cid, "kept:1"))
    # The emptied directory is opaque in the layer: none of the old files come back.
    listed = ok(user.dockyard("run", "--rm", "kept:1", "/bin/ls", "-a", "/usr"))
    assert listed.split() == [".", ".."]
    ok(user.dockyard("rm", "-f", cid))
    # Another uid than root's reaches the root too (fuse-overlayfs's allow_other).
    as_1000 = "echo mine > /tmp/mine && cat /tmp/mine && id -u"
    assert ok(
        user.dockyard("run", "--rm", "-u", "1000", "busybox", "sh", "-c", as_1000)
    ).split() == [
        "mine",
        "1000",
    ]

    context = user.home / f"context-{driver}"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM busybox\nRUN grep -q '^{DRIVERS[driver]}' /proc/mounts\nRUN echo built > /built\n"
    )
    for path in (context, context / "Dockerfile"):
        os.chown(path, user.uid, user.gid)
    ok(user.dockyard("build", "-q", "-t", "built:1", str(context)))
    assert ok(user.dockyard("run", "--rm", "built:1", "cat", "/built")) == "built\n"
    assert _fuse_servers(user) == []
