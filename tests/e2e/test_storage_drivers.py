"""The storage driver (`dockyardd --storage-driver`, daemon.json's `storage-driver`): overlay2,
or fuse-overlayfs, whose mounts are served by fuse-overlayfs processes that must end with them.

The module's ``daemon`` is one started with ``--storage-driver fuse-overlayfs``: the
docker CLI fixture drives it."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.runtime import linux, storagedriver
from tests.conftest import (
    DOCKYARD,
    RUN_MARK,
    Daemon,
    DockerCli,
    Roots,
    _spawn_daemon,
    daemon_config,
    import_busybox,
)
from tests.e2e.helpers import wait_until

FUSE = ("--storage-driver", "fuse-overlayfs")


@pytest.fixture
def daemon(roots: Roots, busybox_tar: Path) -> Iterator[Daemon]:
    """dockyardd with the fuse-overlayfs storage driver, busybox:latest imported."""
    import_busybox(roots.data_root, roots.exec_root, busybox_tar)
    d = Daemon(roots, _spawn_daemon(roots, FUSE), FUSE)
    yield d
    if d.process.poll() is None:
        for cid in d.cli("ps", "-aq").stdout.split():
            d.cli("rm", "-f", cid)
    d.stop()


def fuse_mounts(roots: Roots) -> list[str]:
    """The fuse-overlayfs mounts under the test's roots."""
    with open("/proc/self/mountinfo") as f:
        return [
            line.split()[4]
            for line in f
            if line.split()[4].startswith(str(roots.base))
            and line.split(" - ")[1].startswith("fuse.fuse-overlayfs ")
        ]


def fuse_servers(roots: Roots) -> list[int]:
    """The live fuse-overlayfs processes serving a mount under the test's roots."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/environ", "rb") as f:
                marked = RUN_MARK.encode() in f.read().split(b"\0")
        except OSError:
            continue
        ours = any(str(roots.base).encode() in arg for arg in argv)
        if marked and ours and os.path.basename(argv[0]) == b"fuse-overlayfs":
            found.append(int(entry))
    return found


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_docker_info_and_inspect_name_the_driver(daemon: Daemon, docker_cli: DockerCli) -> None:
    assert ok(docker_cli("info", "--format", "{{.Driver}}")).strip() == "fuse-overlayfs"
    cid = ok(docker_cli("create", "busybox", "true")).strip()
    assert ok(docker_cli("inspect", "-f", "{{.GraphDriver.Name}}", cid)).strip() == "fuse-overlayfs"
    assert ok(docker_cli("image", "inspect", "-f", "{{.GraphDriver.Name}}", "busybox")).strip() == (
        "fuse-overlayfs"
    )


def test_the_basic_workflow_on_fuse_overlayfs(daemon: Daemon, docker_cli: DockerCli) -> None:
    cid = ok(
        docker_cli("run", "-d", "busybox", "sh", "-c", "echo kept > /data; exec sleep 1000")
    ).strip()
    wait_until(lambda: docker_cli("exec", cid, "cat", "/data").stdout == "kept\n", what="/data")
    # The container's root is fuse-overlayfs's, served by a process of its own.
    assert "fuse-overlayfs / fuse.fuse-overlayfs " in ok(
        docker_cli("exec", cid, "cat", "/proc/mounts")
    )
    assert fuse_mounts(daemon.roots) and len(fuse_servers(daemon.roots)) == 1

    ok(docker_cli("stop", "-t", "1", cid))
    assert fuse_mounts(daemon.roots) == [] and fuse_servers(daemon.roots) == []
    # A stopped container's files: docker cp mounts its root for the copy, and lets it go.
    assert ok(docker_cli("cp", f"{cid}:/data", "-"))
    ok(docker_cli("cp", str(daemon.roots.base / "daemon.log"), f"{cid}:/copied-in"))
    assert fuse_mounts(daemon.roots) == [] and fuse_servers(daemon.roots) == []

    ok(docker_cli("start", cid))
    assert ok(docker_cli("exec", cid, "cat", "/data")) == "kept\n"
    assert ok(docker_cli("exec", cid, "ls", "/copied-in")) == "/copied-in\n"
    ok(docker_cli("commit", cid, "kept:1"))
    assert ok(docker_cli("run", "--rm", "kept:1", "cat", "/data")) == "kept\n"

    ok(docker_cli("rm", "-f", cid))
    assert fuse_mounts(daemon.roots) == [] and fuse_servers(daemon.roots) == []
    # Another uid than root's reaches the root too (fuse-overlayfs's allow_other).
    as_1000 = "echo mine > /tmp/mine && cat /tmp/mine && id -u"
    said = ok(docker_cli("run", "--rm", "-u", "1000", "busybox", "sh", "-c", as_1000))
    assert said.split() == ["mine", "1000"]


def test_an_emptied_directory_commits_as_an_opaque_one(
    daemon: Daemon, docker_cli: DockerCli
) -> None:
    """fuse-overlayfs marks an opaque directory with files of its own beside the xattr:
    the layer says "opaque" once, and neither the marks nor the old files come back."""
    ok(docker_cli("run", "--name", "opaque", "busybox", "sh", "-c", "rm -rf /bin && mkdir /bin"))
    assert "/bin/.wh" not in ok(docker_cli("diff", "opaque"))
    ok(docker_cli("commit", "opaque", "opaque:1"))
    ok(docker_cli("rm", "opaque"))
    layer = _top_layer(daemon, "opaque:1")
    assert [name for name in layer if name.startswith("bin/")] == ["bin/.wh..wh..opq"]
    listing = ok(
        docker_cli("run", "--rm", "--entrypoint", "/usr/bin/env", "opaque:1", "ls", "-a", "/bin")
    )
    assert listing.split() == [".", ".."]


def _top_layer(daemon: Daemon, image: str) -> list[str]:
    """The names in the image's topmost layer, from `docker save`."""
    with tarfile.open(fileobj=io.BytesIO(_cli_bytes(daemon, "save", image))) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = archive.extractfile(manifest[0]["Layers"][-1])
        with tarfile.open(fileobj=layer) as tar:
            return tar.getnames()


def test_build_steps_run_on_fuse_overlayfs(
    daemon: Daemon, docker_cli: DockerCli, tmp_path: Path
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN grep -q '^fuse-overlayfs / fuse.fuse-overlayfs ' /proc/mounts\n"
        "RUN echo built > /built\n"
    )
    ok(docker_cli("build", "-q", "-t", "built:1", str(tmp_path), timeout=120))
    assert ok(docker_cli("run", "--rm", "built:1", "cat", "/built")) == "built\n"
    assert fuse_mounts(daemon.roots) == [] and fuse_servers(daemon.roots) == []


def test_export_and_build_output_read_layers_through_fuse_overlayfs(
    daemon: Daemon, docker_cli: DockerCli, tmp_path: Path
) -> None:
    """What reads a stack of layers mounted nowhere (`docker export` of a stopped container,
    `build --output type=tar`) mounts it read-only with fuse-overlayfs too: its server is
    there while the tar streams, and ends with it."""
    # A file larger than every buffer between the daemon and us: the stream waits for us.
    big = "dd if=/dev/zero of=/zz bs=1M count=32 2>/dev/null"
    cid = ok(
        docker_cli("run", "-d", "busybox", "sh", "-c", f"echo kept > /data; rm /bin/ls; {big}")
    )
    ok(docker_cli("wait", cid.strip()))
    servers, exported = _streamed(daemon, "export", cid.strip())
    assert servers == 1
    assert exported["data"] == b"kept\n" and "bin/ls" not in exported
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox\nRUN echo built > /built && rm /bin/ls && {big}\n"
    )
    servers, built = _streamed(daemon, "build", "-o", "-", str(tmp_path))
    assert servers == 1
    assert built["built"] == b"built\n" and "bin/ls" not in built and "bin/sh" in built
    assert fuse_mounts(daemon.roots) == [] and fuse_servers(daemon.roots) == []


def _streamed(daemon: Daemon, *args: str) -> tuple[int, dict[str, bytes]]:
    """Our CLI's tar on stdout: how many fuse-overlayfs served the test's roots once the
    tar began (the daemon waits for us to read on), and the tar's files."""
    with subprocess.Popen(
        [DOCKYARD, "-H", daemon.host, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as cli:
        assert cli.stdout is not None
        head = cli.stdout.read(512)
        servers = len(fuse_servers(daemon.roots))
        data = head + cli.stdout.read()
    assert cli.returncode == 0
    return servers, _files(data)


def _files(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name: (tar.extractfile(m) or io.BytesIO()).read() if m.isfile() else b""
            for m in tar.getmembers()
        }


def _cli_bytes(daemon: Daemon, *args: str) -> bytes:
    """Our CLI's output, as bytes (a tar)."""
    return subprocess.run(
        [DOCKYARD, "-H", daemon.host, *args], capture_output=True, timeout=120, check=True
    ).stdout


def test_the_fuse_overlayfs_of_a_container_outlives_the_daemon(
    daemon: Daemon, docker_cli: DockerCli
) -> None:
    """The container's shim, not the daemon, started its fuse-overlayfs: a daemon killed
    leaves the container's root served, and the next daemon finds it as it was."""
    cid = ok(docker_cli("run", "-d", "busybox", "sleep", "1000")).strip()
    server = fuse_servers(daemon.roots)
    daemon.stop(signal.SIGKILL)
    assert fuse_servers(daemon.roots) == server
    daemon.start()
    ok(docker_cli("exec", cid, "sh", "-c", "echo after > /after"))
    assert ok(docker_cli("exec", cid, "cat", "/after")) == "after\n"
    ok(docker_cli("rm", "-f", cid))
    assert fuse_mounts(daemon.roots) == [] and fuse_servers(daemon.roots) == []


def test_a_start_repairs_the_fuse_mount_a_crash_left(daemon: Daemon, docker_cli: DockerCli) -> None:
    """The daemon, the shim and the container killed: the orphaned fuse-overlayfs still
    serves the root until the next start's check detaches it, and it ends."""
    cid = ok(docker_cli("run", "-d", "busybox", "sleep", "1000")).strip()
    daemon.stop(signal.SIGKILL)
    shim = json.loads(Path(daemon.roots.data_root, "containers", cid, "shim.json").read_text())
    pids = (shim["shim_pid"], shim["pid"])
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(map(_alive, pids)), what="the shim and container to end")
    assert fuse_mounts(daemon.roots) and fuse_servers(daemon.roots)

    daemon.start()
    assert fuse_mounts(daemon.roots) == []
    wait_until(lambda: fuse_servers(daemon.roots) == [], what="the orphaned fuse-overlayfs to end")
    assert "Exited" in ok(docker_cli("ps", "-a", "--format", "{{.Status}}"))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# ---------------------------------------------------------------------- choosing one
def _start_fails(roots: Roots, *args: str) -> str:
    roots.exec_root.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        roots.dockyardd(*args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    return result.stderr.strip()


def test_an_unknown_driver_stops_the_start_with_dockerds_message(roots: Roots) -> None:
    config = str(daemon_config(roots.base))
    assert _start_fails(roots, "--config-file", config, "--storage-driver", "aufs") == (
        "dockyardd: error initializing graphdriver: failed to GetDriver graph aufs "
        f"{roots.data_root}: driver not supported"
    )
    config = str(daemon_config(roots.base, {"storage-driver": "zfs"}))
    assert "failed to GetDriver graph zfs" in _start_fails(roots, "--config-file", config)


def test_daemon_json_chooses_the_driver(roots: Roots, busybox_tar: Path) -> None:
    config = daemon_config(roots.base, {"storage-driver": "fuse-overlayfs"})
    d = Daemon(roots, _spawn_daemon(roots, ("--config-file", str(config))))
    try:
        assert ok(d.cli("info", "--format", "{{.Driver}}")).strip() == "fuse-overlayfs"
    finally:
        d.stop()
    # The flag and the file both: dockerd's conflict.
    message = _start_fails(roots, "--config-file", str(config), "-s", "overlay2")
    assert "storage-driver: (from flag: overlay2, from file: fuse-overlayfs)" in message


def test_overlay2_where_a_probe_overlay_mounts_and_the_probe_leaves_nothing(
    tmp_path: Path,
) -> None:
    assert storagedriver.choose(None, tmp_path) == "overlay2"
    assert os.listdir(tmp_path) == [] and not linux.mount_points_under(str(tmp_path))


def test_without_native_overlay_fuse_overlayfs_else_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storagedriver, "_native_overlay_fails", lambda scratch: "refused")
    assert storagedriver.choose(None, tmp_path) == "fuse-overlayfs"
    with pytest.raises(storagedriver.DriverError) as error:
        storagedriver.choose("overlay2", tmp_path)  # asked for by name: no fallback
    assert error.value.message == (
        "error initializing graphdriver: overlay2: refused: driver not supported"
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(storagedriver.DriverError) as error:
        storagedriver.choose(None, tmp_path)
    assert error.value.message == (
        "error initializing graphdriver: no storage driver works here (overlay2: refused; "
        'fuse-overlayfs: exec: "fuse-overlayfs": executable file not found in $PATH)'
    )
