"""Real peers drive our volumes: the docker CLI (`docker volume`, `run -v/--mount/--tmpfs`) and the SDK."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def test_docker_volume_create_ls_inspect_rm(docker_cli: Any, daemon: Any) -> None:
    docker = docker_cli
    assert ok(docker("volume", "create", "--label", "app=todo", "todo-db")) == "todo-db\n"
    assert ok(docker("volume", "ls")) == "DRIVER    VOLUME NAME\nlocal     todo-db\n"
    (volume,) = json.loads(ok(docker("volume", "inspect", "todo-db")))
    assert volume["Mountpoint"] == str(daemon.roots.data_root / "volumes" / "todo-db" / "_data")
    assert (volume["Driver"], volume["Scope"], volume["Labels"]) == (
        "local",
        "local",
        {"app": "todo"},
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", volume["CreatedAt"])
    ok(
        docker(
            "run",
            "--name",
            "writer",
            "-v",
            "todo-db:/etc/todos",
            "busybox",
            "sh",
            "-c",
            "echo buy milk > /etc/todos/x",
        )
    )
    refused = docker("volume", "rm", "todo-db")
    assert refused.returncode == 1 and "volume is in use" in refused.stderr
    mounts = json.loads(ok(docker("inspect", "-f", "{{json .Mounts}}", "writer")))
    assert mounts == [
        {
            "Type": "volume",
            "Name": "todo-db",
            "Source": volume["Mountpoint"],
            "Destination": "/etc/todos",
            "Driver": "local",
            "Mode": "z",
            "RW": True,
            "Propagation": "",
        }
    ]
    assert (
        ok(docker("ps", "-a", "--filter", "volume=todo-db", "--format", "{{.Names}} {{.Mounts}}"))
        == "writer todo-db\n"
    )
    ok(docker("rm", "writer"))
    out = ok(docker("run", "--rm", "-v", "todo-db:/etc/todos", "busybox", "cat", "/etc/todos/x"))
    assert out == "buy milk\n"
    assert ok(docker("volume", "rm", "todo-db")) == "todo-db\n"
    missing = docker("volume", "inspect", "todo-db")
    assert missing.returncode == 1
    assert (
        docker.expects(
            "Error response from daemon: get todo-db: no such volume",
            v20_10="Error: No such volume: todo-db",  # its own words for a 404
        )
        in missing.stderr
    )


def test_docker_run_binds_tmpfs_and_mount(docker_cli: Any, tmp_path: Path) -> None:
    docker = docker_cli
    host = tmp_path / "data"
    host.mkdir()
    ok(
        docker(
            "run",
            "--rm",
            "-v",
            f"{host}:/data",
            "--tmpfs",
            "/run:size=1m",
            "--mount",
            "type=volume,src=cache,dst=/cache",
            "busybox",
            "sh",
            "-c",
            "grep -q ' /run tmpfs ' /proc/mounts && date > /data/stamp",
        )
    )
    assert (host / "stamp").read_text()
    bad = docker("run", "--rm", "--mount", f"type=bind,src={host}/nope,dst=/x", "busybox", "true")
    assert bad.returncode == 125
    assert f"bind source path does not exist: {host}/nope" in bad.stderr
    assert ok(docker("volume", "ls", "-q")) == "cache\n"
    # CLI 20.10 has no --all: its API (1.41) prunes named volumes too.
    pruned = ok(docker("volume", "prune", *docker.expects(["--all"], v20_10=[]), "--force"))
    assert pruned == "Deleted Volumes:\ncache\n\nTotal reclaimed space: 0B\n"


def test_docker_sdk_volumes(docker_sdk: Any) -> None:
    import docker.errors

    volume = docker_sdk.volumes.create("sdk-vol", labels={"k": "v"})
    assert volume.name == "sdk-vol" and volume.attrs["Labels"] == {"k": "v"}
    assert [v.name for v in docker_sdk.volumes.list(filters={"label": "k=v"})] == ["sdk-vol"]
    output = docker_sdk.containers.run(
        "busybox",
        ["sh", "-c", "echo kept > /v/f && cat /v/f"],
        volumes={"sdk-vol": {"bind": "/v", "mode": "rw"}},
        remove=True,
    )
    assert output == b"kept\n"
    anonymous = docker_sdk.volumes.create()
    assert docker_sdk.volumes.prune() == {"VolumesDeleted": [anonymous.name], "SpaceReclaimed": 0}
    docker_sdk.volumes.get("sdk-vol").remove()
    try:
        docker_sdk.volumes.get("sdk-vol")
    except docker.errors.NotFound as err:
        assert "no such volume" in str(err)
    else:
        raise AssertionError("the volume is still there")


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def test_docker_tmpfs_volume_is_mounted_while_used(docker_cli: Any, daemon: Any) -> None:
    ok(
        docker_cli(
            "volume", "create", "--driver", "local", "--opt", "type=tmpfs",
            "--opt", "device=tmpfs", "--opt", "o=size=1m,uid=1000", "scratch",
        )
    )  # fmt: skip
    inspected = json.loads(ok(docker_cli("volume", "inspect", "scratch")))[0]
    assert inspected["Options"] == {"device": "tmpfs", "o": "size=1m,uid=1000", "type": "tmpfs"}
    mountpoint = inspected["Mountpoint"]
    assert not _mounted(mountpoint)
    ok(docker_cli("run", "-d", "--name", "user", "-v", "scratch:/data", "busybox", "sleep", "60"))
    assert _mounted(mountpoint)
    seen = ok(docker_cli("exec", "user", "sh", "-c", "stat -c %u /data; df -k /data | tail -1"))
    owner, usage = seen.splitlines()
    assert owner == "1000" and usage.split()[0] == "tmpfs" and usage.split()[1] == "1024"
    full = docker_cli("exec", "user", "dd", "if=/dev/zero", "of=/data/big", "bs=1k", "count=2048")
    assert full.returncode != 0 and "No space left on device" in full.stderr
    ok(docker_cli("rm", "-f", "user"))
    assert not _mounted(mountpoint)
    ok(docker_cli("volume", "rm", "scratch"))


def test_docker_bind_volume_shows_a_host_directory(
    docker_cli: Any, daemon: Any, tmp_path: Path
) -> None:
    host = tmp_path / "shared"
    host.mkdir()
    (host / "from-host").write_text("hello\n")
    ok(
        docker_cli(
            "volume", "create", "-o", "type=none", "-o", "o=bind",
            "-o", f"device={host}", "hostdir",
        )
    )  # fmt: skip
    out = ok(docker_cli("run", "--rm", "-v", "hostdir:/v", "busybox", "sh", "-c",
                        "cat /v/from-host; echo made > /v/from-container"))  # fmt: skip
    assert out == "hello\n"
    assert (host / "from-container").read_text() == "made\n"
    mountpoint = ok(docker_cli("volume", "inspect", "-f", "{{.Mountpoint}}", "hostdir")).strip()
    assert not _mounted(mountpoint)
    ok(docker_cli("volume", "rm", "hostdir"))
    # Removing the volume never removes what the bind showed.
    assert sorted(p.name for p in host.iterdir()) == ["from-container", "from-host"]


def test_docker_bind_volume_of_a_missing_directory_fails_at_start(
    docker_cli: Any, daemon: Any, tmp_path: Path
) -> None:
    missing = tmp_path / "nothere"
    ok(docker_cli("volume", "create", "-o", "type=none", "-o", "o=bind",
                  "-o", f"device={missing}", "ghost"))  # fmt: skip
    ran = docker_cli("run", "--rm", "-v", "ghost:/v", "busybox", "true")
    # The docker CLI exits 127 for any start error that says "no such file or directory".
    assert ran.returncode == 127
    assert "failed to mount local volume: mount " in ran.stderr
    assert "no such file or directory" in ran.stderr
    ok(docker_cli("volume", "rm", "ghost"))


def test_sdk_mount_with_volume_options_creates_a_tmpfs_volume(docker_sdk: Any) -> None:
    from docker.types import Mount

    mount = Mount(
        "/cache", "fast", driver_config={"Name": "local", "Options": {
            "type": "tmpfs", "device": "tmpfs", "o": "size=2m"}},
    )  # fmt: skip
    out = docker_sdk.containers.run(
        "busybox", ["sh", "-c", "df -k /cache | tail -1"], mounts=[mount], remove=True
    )
    assert out.split()[0] == b"tmpfs" and out.split()[1] == b"2048"
    assert docker_sdk.volumes.get("fast").attrs["Options"] == {
        "type": "tmpfs", "device": "tmpfs", "o": "size=2m"}  # fmt: skip
    docker_sdk.volumes.get("fast").remove()
