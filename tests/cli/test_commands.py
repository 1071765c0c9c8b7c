"""`dockyard` against a real daemon: what a user sees, and the exit statuses."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import DOCKYARD, Daemon


def test_run_attached_streams_output_and_passes_the_exit_status(daemon: Daemon) -> None:
    result = daemon.cli(
        "run", "--name", "three", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert daemon.cli(
        "ps", "-a", "--filter", "name=three", "--format", "{{.Status}}"
    ).stdout.startswith("Exited (3)")


def test_run_rm_leaves_nothing(daemon: Daemon) -> None:
    result = daemon.cli("run", "--rm", "busybox", "true")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert daemon.cli("ps", "-aq").stdout == ""


def test_run_interactive_with_piped_stdin(daemon: Daemon) -> None:
    result = daemon.cli(
        "run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z; echo end", input=b"hello\n"
    )
    assert (result.returncode, result.stdout) == (0, "HELLO\nend\n")


def test_run_detached_then_ps_logs_exec_stop_rm(daemon: Daemon) -> None:
    started = daemon.cli(
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        "busybox",
        "sh",
        "-c",
        "echo ready; exec sleep 300",
    )
    assert started.returncode == 0
    container_id = started.stdout.strip()
    assert len(container_id) == 64
    ps = daemon.cli("ps")
    assert ps.stdout.splitlines()[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert container_id[:12] in ps.stdout and "web" in ps.stdout
    assert daemon.cli("ps", "-q").stdout == container_id[:12] + "\n"
    assert daemon.cli("ps", "-q", "--filter", "label=tier=back").stdout == ""
    assert daemon.cli("ps", "--format", "{{.Names}} {{.State}}").stdout == "web running\n"
    rows = [json.loads(line) for line in daemon.cli("ps", "--format", "json").stdout.splitlines()]
    assert rows[0]["Names"] == "web"
    deadline = time.monotonic() + 10
    while "ready" not in daemon.cli("logs", "web").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.cli("logs", "web").stdout == "ready\n"
    assert (
        daemon.cli("inspect", "-f", "{{.State.Status}} {{.Name}}", "web").stdout == "running /web\n"
    )
    executed = daemon.cli(
        "exec", "-e", "X=1", "-w", "/tmp", "web", "sh", "-c", "echo $X $(pwd); exit 4"
    )
    assert (executed.returncode, executed.stdout) == (4, "1 /tmp\n")
    assert daemon.cli("exec", "-i", "web", "cat", input=b"piped").stdout == "piped"
    stopped = daemon.cli("stop", "-t", "1", "web")
    assert (stopped.returncode, stopped.stdout) == (0, "web\n")
    assert daemon.cli("inspect", "-f", "{{.State.Running}}", "web").stdout == "false\n"
    assert daemon.cli("rm", "web").stdout == "web\n"
    assert daemon.cli("ps", "-aq").stdout == ""


def test_killed_container_exits_137(daemon: Daemon) -> None:
    running = subprocess.Popen(
        [DOCKYARD, "-H", daemon.host, "run", "--name", "victim", "busybox", "sleep", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while (
        daemon.cli("ps", "-q", "--filter", "name=victim").stdout == ""
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert daemon.cli("kill", "victim").stdout == "victim\n"
    assert running.wait(timeout=20) == 137
    assert daemon.cli("wait", "victim").stdout == "137\n"


def test_exit_status_of_a_missing_or_unrunnable_command(daemon: Daemon) -> None:
    missing = daemon.cli("run", "--rm", "busybox", "no-such-command")
    assert missing.returncode == 127
    assert missing.stderr.startswith("dockyard: Error response from daemon: ")
    not_executable = daemon.cli("run", "--rm", "busybox", "/etc/passwd")
    assert not_executable.returncode == 126


def test_engine_errors_exit_125(daemon: Daemon) -> None:
    unknown = daemon.cli("run", "no-such-image")
    assert unknown.returncode == 125
    assert "Unable to find image 'no-such-image:latest' locally" in unknown.stderr
    assert daemon.cli("create", "--name", "taken", "busybox").returncode == 0
    taken = daemon.cli("run", "--name", "taken", "busybox", "true")
    assert taken.returncode == 125
    assert "Conflict" in taken.stderr or "already in use" in taken.stderr
    assert daemon.cli("run", "-m", "12q", "busybox").returncode == 125


def test_errors_of_other_commands_exit_1(daemon: Daemon) -> None:
    result = daemon.cli("rm", "ghost")
    assert (result.returncode, result.stderr) == (
        1,
        "Error response from daemon: No such container: ghost\n",
    )
    inspected = daemon.cli("inspect", "ghost")
    assert (inspected.returncode, inspected.stdout) == (1, "[]\n")
    assert inspected.stderr == "Error: No such object: ghost\n"


def test_cp_both_ways(daemon: Daemon, tmp_path: Path) -> None:
    assert daemon.cli("run", "-d", "--name", "box", "busybox", "sleep", "300").returncode == 0
    source = tmp_path / "hello.txt"
    source.write_text("hi there\n")
    assert daemon.cli("cp", str(source), "box:/tmp/").returncode == 0
    assert daemon.cli("exec", "box", "cat", "/tmp/hello.txt").stdout == "hi there\n"
    assert daemon.cli("cp", str(source), "box:/tmp/renamed.txt").returncode == 0
    assert daemon.cli("exec", "box", "cat", "/tmp/renamed.txt").stdout == "hi there\n"
    daemon.cli("exec", "box", "sh", "-c", "mkdir -p /data/sub && echo deep > /data/sub/f")
    assert daemon.cli("cp", "box:/data", str(tmp_path / "copied")).returncode == 0
    assert (tmp_path / "copied" / "sub" / "f").read_text() == "deep\n"
    assert daemon.cli("cp", "box:/etc/passwd", str(tmp_path)).returncode == 0
    assert (tmp_path / "passwd").read_text().startswith("root:")
    tar = subprocess.run(
        [DOCKYARD, "-H", daemon.host, "cp", "box:/tmp/hello.txt", "-"],
        capture_output=True,
        check=True,
    )
    assert b"hi there" in tar.stdout


def test_images_import_tag_rmi(daemon: Daemon, busybox_tar: Path) -> None:
    listing = daemon.cli("images")
    assert listing.stdout.splitlines()[0].split() == [
        "REPOSITORY",
        "TAG",
        "IMAGE",
        "ID",
        "CREATED",
        "SIZE",
    ]
    assert listing.stdout.splitlines()[1].startswith("busybox   ")
    assert daemon.cli("tag", "busybox", "mine:1").returncode == 0
    assert daemon.cli("images", "--format", "{{.Repository}}:{{.Tag}}", "mine").stdout == "mine:1\n"
    assert daemon.cli("rmi", "mine:1").stdout == "Untagged: mine:1\n"
    imported = daemon.cli("import", "-c", 'CMD ["echo", "imported"]', str(busybox_tar), "second:v2")
    assert imported.returncode == 0 and imported.stdout.startswith("sha256:")
    assert daemon.cli("run", "--rm", "second:v2").stdout == "imported\n"
    history = daemon.cli("history", "-q", "second:v2")
    assert history.returncode == 0 and history.stdout.strip()


def test_signals_to_the_cli_reach_the_container(daemon: Daemon) -> None:
    script = 'trap "echo got-term; exit 9" TERM; echo armed; sleep 100 & wait'
    running = subprocess.Popen(
        [DOCKYARD, "-H", daemon.host, "run", "--rm", "busybox", "sh", "-c", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert running.stdout is not None
    assert running.stdout.readline() == "armed\n"
    running.terminate()
    assert running.wait(timeout=20) == 9
    assert running.stdout.read() == "got-term\n"


def test_events_between_two_times(daemon: Daemon) -> None:
    since = str(int(time.time()) - 1)
    daemon.cli("run", "--rm", "--name", "evented", "busybox", "true")
    until = str(int(time.time()) + 1)
    events = daemon.cli(
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "container=evented",
        "--format",
        "{{.Type}} {{.Action}}",
    )
    assert events.returncode == 0
    assert "container start" in events.stdout.splitlines()


CLEAR_SCREEN = "\033[2J\033[H"  # each frame of a live `stats` begins so


def test_stats_streams_until_interrupted(daemon: Daemon) -> None:
    assert daemon.cli("run", "-d", "--name", "busy", "busybox", "sleep", "60").returncode == 0
    once = daemon.cli("stats", "--no-stream", "busy")
    assert once.stdout.splitlines()[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
    live = subprocess.Popen(
        [DOCKYARD, "-H", daemon.host, "stats", "busy"], stdout=subprocess.PIPE, text=True
    )
    assert live.stdout is not None
    seen = ""
    while seen.count(CLEAR_SCREEN) < 3:  # two whole frames, and the third begun
        seen += live.stdout.read(1)
    live.send_signal(signal.SIGINT)
    out, _ = live.communicate(timeout=10)
    assert live.returncode == 0
    frames = [frame for frame in (seen + out).split(CLEAR_SCREEN) if frame]
    assert len(frames) >= 2 and all("busy" in frame for frame in frames)
