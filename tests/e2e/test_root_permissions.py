"""Other users of the host reach nothing under the data and exec roots (CVE-2021-41091).

Each check runs a command as `nobody` against the host paths of what
a daemon made: it must be refused. Containers running as non-root users must
still use their roots and volumes.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.helpers import Docker, wait_until

# Not setpriv: it keeps its capabilities until its execve, whose own path lookup they pass.
NOBODY = 65534
# A container leaves a setuid-root copy of busybox in its root, and a secret in its environment.
SETUID_COPY = "cp /bin/busybox /x && chmod u+s /x && echo ready > /ready && exec sleep 600"


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def assert_refused(*argv: str | Path) -> None:
    """``argv`` run as nobody fails for want of permission (to execute it, or to do its job)."""
    try:
        result = subprocess.run(
            [str(arg) for arg in argv],
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except PermissionError:
        return
    assert result.returncode != 0 and "Permission denied" in result.stderr, (
        f"nobody could run {argv}: {result.returncode} {result.stdout!r} {result.stderr!r}"
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def run_setuid_container(docker: Docker, daemon: Any) -> Path:
    """A running container that made /x setuid root; its directory under the data root."""
    cid = ok(docker("run", "-d", "-e", "TOKEN=s3cret", "busybox", "sh", "-c", SETUID_COPY)).strip()
    root = daemon.roots.data_root / "containers" / cid
    wait_until(lambda: (root / "upper" / "ready").exists(), what="the container's setuid copy")
    return root


def test_no_other_user_reaches_a_containers_files(docker_cli: Docker, daemon: Any) -> None:
    root = run_setuid_container(docker_cli, daemon)
    data_root, exec_root = daemon.roots.data_root, daemon.roots.exec_root
    assert (mode(data_root), mode(exec_root)) == (0o710, 0o700)
    assert (mode(data_root / "containers"), mode(root)) == (0o710, 0o700)
    assert mode(root / "config.json") == mode(data_root / "dockyard.db") == 0o600
    assert "TOKEN=s3cret" in (root / "config.json").read_text()
    assert_refused("ls", data_root)
    assert_refused("ls", exec_root)
    assert_refused("cat", root / "config.json")
    assert_refused("cat", data_root / "dockyard.db")
    assert_refused("cat", root / "upper" / "ready")
    assert_refused("cat", root / "rootfs" / "ready")
    for path in (root / "upper" / "x", root / "rootfs" / "x"):
        assert os.stat(path).st_mode & stat.S_ISUID
        assert_refused(path, "id", "-u")


def test_no_other_user_reaches_built_images_or_volumes(docker_cli: Docker, daemon: Any) -> None:
    context = daemon.roots.base / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN cp /bin/busybox /y && chmod u+s /y\n")
    ok(docker_cli("build", "-q", "-t", "suid", str(context)))
    data_root = daemon.roots.data_root
    (setuid_file,) = data_root.glob("layers/*/diff/y")
    assert mode(setuid_file.parent.parent) == 0o700
    assert_refused(setuid_file, "id", "-u")
    assert_refused("ls", data_root / "layers")
    (blob, *_) = (data_root / "blobs" / "sha256").iterdir()
    assert_refused("cat", blob)
    ok(docker_cli("run", "--rm", "-v", "notes:/notes", "busybox", "sh", "-c", "echo hi >/notes/a"))
    assert_refused("cat", data_root / "volumes" / "notes" / "_data" / "a")


def test_volumes_still_serve_containers_of_other_users(docker_cli: Docker) -> None:
    ok(docker_cli("run", "--rm", "-v", "shared:/data", "busybox", "sh", "-c", "echo hi >/data/a"))
    # An image's /tmp (1777) gives its mode to the volume that is mounted there.
    script = "cat /data/a && echo mine >/tmp/b && cat /tmp/b"
    result = docker_cli(
        "run", "--rm", "--user", "1000", "-v", "shared:/data", "-v", "scratch:/tmp", "busybox",
        "sh", "-c", script,
    )  # fmt: skip
    assert ok(result) == "hi\nmine\n"


def test_an_older_root_is_tightened_at_start(docker_cli: Docker, daemon: Any) -> None:
    root = run_setuid_container(docker_cli, daemon)
    daemon.stop()
    data_root, exec_root = daemon.roots.data_root, daemon.roots.exec_root
    # What an older dockyard made: everything readable and traversable by everyone.
    for path in (data_root, *data_root.iterdir(), root, exec_root):
        if path.is_dir():
            os.chmod(path, 0o755)
    os.chmod(data_root / "dockyard.db", 0o644)
    daemon.start()
    assert (mode(data_root), mode(exec_root), mode(root)) == (0o710, 0o700, 0o700)
    assert (mode(data_root / "tmp"), mode(data_root / "dockyard.db")) == (0o700, 0o600)
    assert_refused("cat", root / "config.json")
    assert_refused(root / "rootfs" / "x", "id", "-u")
    assert ok(docker_cli("exec", root.name, "cat", "/ready")) == "ready\n"
