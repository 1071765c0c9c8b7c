"""The real docker CLI (28) drives dockyardd through the Engine API."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.conftest import CLOSED_HUB_URL
from tests.e2e.helpers import wait_until


def _ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_version_negotiates_1_44(docker_cli: Any) -> None:
    out = _ok(docker_cli("version", "--format", "{{.Client.APIVersion}} {{.Server.APIVersion}}"))
    # CLI 28 goes down to our 1.44; CLI 20.10 speaks 1.41 at most, which we serve too.
    assert out.split() == [docker_cli.expects("1.44", v20_10="1.41"), "1.44"]


def test_run_attached_streams_output_and_exits_with_its_status(docker_cli: Any) -> None:
    result = docker_cli(
        "run", "--name", "att", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert _ok(docker_cli("wait", "att")) == "3\n"


def test_run_rm_with_stdin_piped(docker_cli: Any) -> None:
    result = docker_cli("run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z", input=b"piped in\n")
    assert (result.returncode, result.stdout) == (0, "PIPED IN\n")
    assert _ok(docker_cli("ps", "-aq")) == ""


def test_detached_container_lifecycle(docker_cli: Any) -> None:
    script = "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done"
    cid = _ok(docker_cli("run", "-d", "--name", "svc", "busybox", "sh", "-c", script)).strip()
    assert len(cid) == 64
    assert _ok(docker_cli("ps", "--format", "{{.Names}} {{.Status}}")).startswith("svc Up")
    assert _ok(docker_cli("inspect", "-f", "{{.State.Running}} {{.Name}}", "svc")) == "true /svc\n"
    assert _ok(docker_cli("exec", "svc", "sh", "-c", "echo $((40+2))")) == "42\n"
    assert docker_cli("exec", "svc", "sh", "-c", "exit 5").returncode == 5
    top = _ok(docker_cli("top", "svc"))
    assert top.splitlines()[0].split()[:2] == ["UID", "PID"]
    assert "sh -c trap 'echo bye; exit 0'" in top
    assert _ok(docker_cli("port", "svc")) == ""
    wait_until(lambda: docker_cli("logs", "svc").stdout == "started\n", what="the trap set")
    _ok(docker_cli("stop", "-t", "5", "svc"))
    assert _ok(docker_cli("logs", "svc")) == "started\nbye\n"
    assert _ok(docker_cli("inspect", "-f", "{{.State.ExitCode}}", "svc")) == "0\n"
    assert _ok(docker_cli("rm", "svc")) == "svc\n"
    assert docker_cli("inspect", "svc").returncode == 1


def test_logs_follow_and_tail(docker_cli: Any) -> None:
    _ok(
        docker_cli(
            "run",
            "-d",
            "--name",
            "counter",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3; do echo $i; sleep 0.2; done",
        )
    )
    assert _ok(docker_cli("logs", "-f", "counter")) == "1\n2\n3\n"
    assert _ok(docker_cli("logs", "--tail", "1", "counter")) == "3\n"


def test_kill_and_force_remove(docker_cli: Any) -> None:
    _ok(docker_cli("run", "-d", "--name", "victim", "busybox", "sleep", "60"))
    assert _ok(docker_cli("kill", "victim")) == "victim\n"
    assert _ok(docker_cli("wait", "victim")) == "137\n"
    _ok(docker_cli("run", "-d", "--name", "running", "busybox", "sleep", "60"))
    refused = docker_cli("rm", "running")
    assert refused.returncode == 1
    assert "container is running" in refused.stderr
    assert _ok(docker_cli("rm", "-f", "running")) == "running\n"


def test_images_import_tag_rmi(docker_cli: Any, busybox_tar: Path) -> None:
    image_id = _ok(
        docker_cli("import", "--change", 'CMD ["echo", "imported"]', str(busybox_tar), "mine:1")
    ).strip()
    assert image_id.startswith("sha256:")
    _ok(docker_cli("tag", "mine:1", "mine:2"))
    listed = _ok(docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert sorted(listed.split()) == ["busybox:latest", "mine:1", "mine:2"]
    assert _ok(docker_cli("run", "--rm", "mine:2")) == "imported\n"
    assert _ok(docker_cli("rmi", "mine:1")) == "Untagged: mine:1\n"
    assert _ok(docker_cli("image", "inspect", "-f", "{{.Id}}", "mine:2")).strip() == image_id


def test_cp_both_ways(docker_cli: Any, tmp_path: Path) -> None:
    _ok(docker_cli("run", "-d", "--name", "box", "busybox", "sleep", "60"))
    (tmp_path / "in.txt").write_text("into the container\n")
    _ok(docker_cli("cp", str(tmp_path / "in.txt"), "box:/tmp/in.txt"))
    assert _ok(docker_cli("exec", "box", "cat", "/tmp/in.txt")) == "into the container\n"
    _ok(docker_cli("cp", "box:/etc/passwd", str(tmp_path / "passwd")))
    assert (tmp_path / "passwd").read_text().startswith("root:x:0:0:")


def test_cp_to_stdout_is_a_tar(docker_cli: Any) -> None:
    _ok(docker_cli("create", "--name", "made", "busybox"))
    env_result = docker_cli("cp", "made:/etc/group", "-")
    assert env_result.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(env_result.stdout.encode("latin-1"))) as tar:
        assert tar.getnames() == ["group"]


def test_bad_input_gives_docker_exit_statuses(docker_cli: Any) -> None:
    missing = docker_cli("run", "--rm", "nosuchimage")
    assert missing.returncode == 125
    assert f'Get "{CLOSED_HUB_URL}/v2/": dial tcp' in missing.stderr  # the Hub, asked
    not_found = docker_cli("run", "busybox", "nosuchcommand")
    assert not_found.returncode == 127
    _ok(docker_cli("create", "--name", "dup", "busybox"))
    dup = docker_cli("run", "-d", "--name", "dup", "busybox")
    assert dup.returncode == 125
    assert 'The container name "/dup" is already in use' in dup.stderr
    stopped = docker_cli("exec", "dup", "true")
    assert stopped.returncode == 1
    assert "is not running" in stopped.stderr
    listed = _ok(docker_cli("ps", "-a", "--format", "{{json .}}")).splitlines()
    assert sum(json.loads(line)["Names"] == "dup" for line in listed) == 1


def test_rename_pause_diff_restart_stats(docker_cli: Any) -> None:
    _ok(
        docker_cli(
            "run",
            "-d",
            "--name",
            "first",
            "busybox",
            "sh",
            "-c",
            "touch /new; rm /etc/group; sleep 60",
        )
    )
    _ok(docker_cli("rename", "first", "second"))
    _ok(docker_cli("pause", "second"))
    assert _ok(docker_cli("ps", "--format", "{{.Names}} {{.Status}}")).strip().endswith("(Paused)")
    _ok(docker_cli("unpause", "second"))
    assert sorted(_ok(docker_cli("diff", "second")).splitlines()) == [
        "A /new",
        "C /etc",
        "D /etc/group",
    ]
    _ok(docker_cli("restart", "-t", "1", "second"))
    assert (
        _ok(docker_cli("inspect", "-f", "{{.State.Running}} {{.RestartCount}}", "second")).split()[
            0
        ]
        == "true"
    )
    assert (
        _ok(docker_cli("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "second"))
        == "second 1\n"
    )


def test_prune_and_past_events(docker_cli: Any) -> None:
    _ok(docker_cli("run", "--name", "done", "busybox", "true"))
    pruned = _ok(docker_cli("container", "prune", "-f"))
    assert pruned.startswith("Deleted Containers:\n")
    assert _ok(docker_cli("ps", "-aq")) == ""
    events = _ok(
        docker_cli(
            "events",
            "--since",
            "0",
            "--until",
            f"{time.time():.9f}",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        )
    )
    assert events.splitlines()[:4] == ["create done", "attach done", "start done", "die done"]
