"""The getting-started volume flows with our own CLI against a real daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def test_todo_db_outlives_its_container(daemon: Any) -> None:
    assert ok(daemon.cli("volume", "create", "todo-db")) == "todo-db\n"
    ok(
        daemon.cli(
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
    ok(daemon.cli("rm", "writer"))
    assert (
        ok(daemon.cli("run", "--rm", "-v", "todo-db:/etc/todos", "busybox", "cat", "/etc/todos/x"))
        == "buy milk\n"
    )
    (volume,) = json.loads(ok(daemon.cli("volume", "inspect", "todo-db")))
    assert (
        volume["Name"] == "todo-db" and volume["Driver"] == "local" and volume["Scope"] == "local"
    )
    assert volume["Mountpoint"] == str(daemon.roots.data_root / "volumes" / "todo-db" / "_data")
    assert (
        ok(daemon.cli("volume", "inspect", "-f", "{{.Mountpoint}}", "todo-db")).strip()
        == volume["Mountpoint"]
    )
    assert ok(daemon.cli("volume", "ls")) == "DRIVER    VOLUME NAME\nlocal     todo-db\n"


def test_bind_mount_of_the_working_directory(daemon: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in").write_text("from the host\n")
    out = ok(
        daemon.cli(
            "run",
            "--rm",
            "-v",
            f"{data}:/data",
            "busybox",
            "sh",
            "-c",
            "cat /data/in; echo from the container > /data/out",
        )
    )
    assert out == "from the host\n" and (data / "out").read_text() == "from the container\n"
    refused = daemon.cli("run", "--rm", "-v", f"{data}:/data:ro", "busybox", "touch", "/data/nope")
    assert refused.returncode == 1 and "Read-only file system" in refused.stderr
    assert not (data / "nope").exists()


def test_tmpfs_and_mount_flags(daemon: Any) -> None:
    out = ok(
        daemon.cli(
            "run",
            "--rm",
            "--tmpfs",
            "/run",
            "--mount",
            "type=volume,src=vol,dst=/d",
            "busybox",
            "sh",
            "-c",
            "grep ' /run ' /proc/mounts; touch /d/made",
        )
    )
    assert out.split()[2] == "tmpfs"
    assert ok(daemon.cli("volume", "ls", "-q")) == "vol\n"
    (volume,) = json.loads(ok(daemon.cli("volume", "inspect", "vol")))
    assert (Path(volume["Mountpoint"]) / "made").exists()


def test_volume_in_use_is_not_removed(daemon: Any) -> None:
    cid = ok(daemon.cli("create", "-v", "busy:/d", "busybox", "true")).strip()
    refused = daemon.cli("volume", "rm", "busy")
    assert refused.returncode == 1
    assert (
        refused.stderr == f"Error response from daemon: remove busy: volume is in use - [{cid}]\n"
    )
    assert ok(daemon.cli("ps", "-aq", "--filter", "volume=busy")) == cid[:12] + "\n"
    ok(daemon.cli("rm", cid))
    assert ok(daemon.cli("volume", "rm", "busy")) == "busy\n"
    missing = daemon.cli("volume", "rm", "busy")
    assert (missing.returncode, missing.stderr) == (
        1,
        "Error response from daemon: get busy: no such volume\n",
    )
    assert ok(daemon.cli("volume", "rm", "-f", "busy")) == "busy\n"


def test_bad_specs_exit_125_and_store_nothing(daemon: Any, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    for args, message in (
        (
            ["--mount", f"type=bind,src={missing},dst=/x"],
            f'invalid mount config for type "bind": bind source path does not exist: {missing}',
        ),
        (["-v", "/a:/b:bogus"], "invalid mode: bogus"),
        (["-v", "bad@name:/d"], "includes invalid characters for a local volume name"),
        (["-v", "one:/d", "-v", "two:/d"], "Duplicate mount point: /d"),
    ):
        result = daemon.cli("run", "--rm", *args, "busybox", "true")
        assert result.returncode == 125, (args, result.stderr)
        assert message in result.stderr
    assert ok(daemon.cli("ps", "-aq")) == ""
    assert ok(daemon.cli("volume", "ls", "-q")) == ""


def test_rm_v_and_prune(daemon: Any) -> None:
    cid = ok(daemon.cli("create", "-v", "/scratch", "-v", "named:/n", "busybox", "true")).strip()
    (anonymous,) = [n for n in ok(daemon.cli("volume", "ls", "-q")).split() if n != "named"]
    ok(daemon.cli("rm", "-v", cid))
    assert ok(daemon.cli("volume", "ls", "-q")) == "named\n"
    ok(daemon.cli("volume", "create"))
    out = ok(daemon.cli("volume", "prune", "-f"))
    assert out.startswith("Deleted Volumes:\n") and out.endswith("\n\nTotal reclaimed space: 0B\n")
    assert ok(daemon.cli("volume", "ls", "-q")) == "named\n"
    assert ok(daemon.cli("volume", "prune", "-f")) == "Total reclaimed space: 0B\n"
    assert (
        ok(daemon.cli("volume", "prune", "-af"))
        == "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 0B\n"
    )
    assert anonymous not in ok(daemon.cli("volume", "ls", "-q"))


def test_create_flags_and_ls_format(daemon: Any) -> None:
    ok(daemon.cli("volume", "create", "--label", "tier=db", "--name", "db10"))
    ok(daemon.cli("volume", "create", "db9"))
    assert (
        ok(daemon.cli("volume", "ls", "--format", "{{.Name}} {{.Labels}}"))
        == "db9 \ndb10 tier=db\n"
    )
    assert ok(daemon.cli("volume", "ls", "-q", "--filter", "label=tier=db")) == "db10\n"
    row = json.loads(ok(daemon.cli("volume", "ls", "--format", "json", "-f", "name=db9")))
    assert row["Name"] == "db9" and row["Driver"] == "local" and row["Links"] == "N/A"
    both = daemon.cli("volume", "create", "--name", "a1", "a2")
    assert both.returncode == 1 and "conflicting options" in both.stderr
    bad = daemon.cli("volume", "create", "-o", "type=nfs", "nfsvol")
    assert bad.returncode == 1
    assert (
        bad.stderr
        == 'Error response from daemon: create nfsvol: missing required option: "device"\n'
    )

    label = daemon.cli("volume", "create", "--label", "=x")
    assert label.returncode == 125 and "invalid label '=x': empty name" in label.stderr
    missing = daemon.cli("volume", "inspect", "db9", "nope")
    assert missing.returncode == 1
    assert json.loads(missing.stdout)[0]["Name"] == "db9"
    assert missing.stderr == "Error response from daemon: get nope: no such volume\n"
