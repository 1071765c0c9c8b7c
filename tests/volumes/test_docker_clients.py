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
