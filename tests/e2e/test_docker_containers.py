"""The docker CLI's container commands against dockyardd: what a user sees from each."""

from __future__ import annotations

import re
import socket

from tests.conftest import cgroup_freezer_state
from tests.e2e.helpers import Docker, state, wait_until

# PID 1 ignores SIGTERM unless it handles it: POLITE leaves at once on TERM, STUBBORN
# says it got it and stays. Each says "ready" once its trap is set (wait_ready).
POLITE = "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done"
STUBBORN = "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.1; done"


def _run_detached(docker: Docker, name: str, *command: str, options: tuple[str, ...] = ()) -> str:
    result = docker("run", "-d", "--name", name, *options, "busybox", *command)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _wait_ready(docker: Docker, name: str, logs: str = "ready\n") -> None:
    wait_until(lambda: docker("logs", name).stdout == logs, what=f"{name} to say {logs!r}")


def test_ps_all_quiet_and_filters(docker_cli: Docker) -> None:
    up = _run_detached(docker_cli, "up", "sleep", "300", options=("-l", "tier=front"))
    docker_cli("run", "--name", "done", "busybox", "sh", "-c", "exit 3")
    table = docker_cli("ps").stdout.splitlines()
    assert table[0].split() == [
        "CONTAINER",
        "ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ]
    assert len(table) == 2 and table[1].startswith(up[:12]) and table[1].endswith("up")
    assert '"sleep 300"' in table[1] and " Up " in table[1]
    assert docker_cli("ps", "-q").stdout == up[:12] + "\n"
    assert len(docker_cli("ps", "-aq").stdout.split()) == 2
    assert docker_cli("ps", "-q", "--no-trunc").stdout == up + "\n"
    names = ("ps", "-a", "--format", "{{.Names}}")
    assert docker_cli(*names, "--filter", "status=exited").stdout == "done\n"
    assert docker_cli(*names, "--filter", "exited=3").stdout == "done\n"
    assert docker_cli(*names, "--filter", "label=tier=front").stdout == "up\n"
    assert docker_cli(*names, "--filter", "name=do").stdout == "done\n"
    assert docker_cli(*names, "--filter", "ancestor=busybox").stdout.split() == ["done", "up"]
    assert docker_cli(*names, "--filter", f"id={up[:8]}").stdout == "up\n"
    status = docker_cli("ps", "-a", "--filter", "name=done", "--format", "{{.Status}}").stdout
    assert status.startswith("Exited (3) ")


def test_logs_tail_timestamps_and_streams(docker_cli: Docker) -> None:
    docker_cli(
        "run",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two; echo three; echo oops >&2",
    )
    logs = docker_cli("logs", "talker")
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "one\ntwo\nthree\n", "oops\n")
    tail = docker_cli("logs", "--tail", "2", "talker")
    assert (tail.stdout + tail.stderr).split() == ["three", "oops"]
    stamped = docker_cli("logs", "-t", "talker").stdout.splitlines()
    assert len(stamped) == 3
    for line, text in zip(stamped, ["one", "two", "three"], strict=True):
        assert re.fullmatch(rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z {text}", line), line


def test_logs_follow_ends_when_the_container_stops(docker_cli: Docker) -> None:
    script = "echo first; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo second"
    _run_detached(docker_cli, "slow", "sh", "-c", script)
    follower = docker_cli.popen("logs", "-f", "slow")
    try:
        assert follower.stdout is not None and follower.stdout.readline() == "first\n"
        assert docker_cli("exec", "slow", "touch", "/tmp/go").returncode == 0
        out, _ = follower.communicate(timeout=20)  # it ends when the container does
    finally:
        follower.kill()
        follower.wait()
    assert (follower.returncode, out) == (0, "second\n")
    assert state(docker_cli, "slow") == "exited"


def test_exec_output_exit_code_env_workdir_user(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "box", "sleep", "300")
    result = docker_cli("exec", "box", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (result.returncode, result.stdout, result.stderr) == (4, "out\n", "err\n")
    options = docker_cli(
        "exec",
        "-e",
        "X=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "box",
        "sh",
        "-c",
        'echo "$X $(pwd) $(id -u)"',
    )
    assert (options.returncode, options.stdout) == (0, "1 /tmp 65534\n")
    assert docker_cli("exec", "-i", "box", "cat", input=b"piped").stdout == "piped"
    assert docker_cli("exec", "-d", "box", "sh", "-c", "echo bg > /tmp/mark").returncode == 0
    wait_until(
        lambda: docker_cli("exec", "box", "cat", "/tmp/mark").stdout == "bg\n", what="exec -d"
    )


def test_exec_failures(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "box", "sleep", "300")
    missing = docker_cli("exec", "box", "no-such-command")
    assert missing.returncode == 127
    assert "executable file not found" in missing.stdout + missing.stderr
    docker_cli("run", "--name", "gone", "busybox", "true")
    stopped = docker_cli("exec", "gone", "true")
    assert stopped.returncode == 1
    assert re.search(
        r"Error response from daemon: container [0-9a-f]{64} is not running", stopped.stderr
    ), stopped.stderr
    unknown = docker_cli("exec", "nobody-here", "true")
    assert unknown.returncode == 1
    assert (
        docker_cli.expects(
            "Error response from daemon: No such container: nobody-here",
            v20_10="Error: No such container: nobody-here",
        )
        in unknown.stderr
    )


def test_inspect_formats_and_unknown_object(docker_cli: Docker) -> None:
    docker_cli("run", "--name", "ran", "-e", "A=b", "busybox", "sh", "-c", "exit 9")
    fmt = "{{.State.ExitCode}} {{.Name}} {{.Config.Image}} {{json .Config.Cmd}}"
    assert docker_cli("inspect", "-f", fmt, "ran").stdout == '9 /ran busybox ["sh","-c","exit 9"]\n'
    assert "A=b" in docker_cli("inspect", "-f", "{{json .Config.Env}}", "ran").stdout
    unknown = docker_cli("inspect", "nothing-here")
    assert unknown.returncode == 1
    assert "Error: No such object: nothing-here" in unknown.stderr


def test_stop_with_timeout_then_kill(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "polite", "sh", "-c", POLITE)
    _run_detached(docker_cli, "stubborn", "sh", "-c", STUBBORN)
    _wait_ready(docker_cli, "polite")
    _wait_ready(docker_cli, "stubborn")
    assert docker_cli("stop", "polite").stdout == "polite\n"
    assert docker_cli("inspect", "-f", "{{.State.ExitCode}}", "polite").stdout == "0\n"
    stopped = docker_cli("stop", "-t", "1", "stubborn")
    assert (stopped.returncode, stopped.stdout) == (0, "stubborn\n")
    # TERM first (its trap answered), KILL once the second of grace was over.
    assert docker_cli("logs", "stubborn").stdout == "ready\ngot TERM\n"
    assert (
        docker_cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "stubborn").stdout
        == "exited 137\n"
    )
    again = docker_cli("stop", "stubborn")  # Docker: stopping a stopped container is no error
    assert (again.returncode, again.stdout) == (0, "stubborn\n")


def test_kill_with_a_signal(docker_cli: Docker) -> None:
    _run_detached(
        docker_cli,
        "target",
        "sh",
        "-c",
        "trap 'echo got USR1' USR1; echo ready; while true; do sleep 0.1; done",
    )
    _wait_ready(docker_cli, "target")
    assert docker_cli("kill", "-s", "USR1", "target").stdout == "target\n"
    _wait_ready(docker_cli, "target", "ready\ngot USR1\n")
    assert state(docker_cli, "target") == "running"
    assert docker_cli("kill", "target").stdout == "target\n"
    assert docker_cli("wait", "target").stdout == "137\n"
    not_running = docker_cli("kill", "target")
    assert not_running.returncode == 1 and "is not running" in not_running.stderr


def test_rm_refuses_a_running_container_unless_forced(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "busy", "sleep", "300")
    docker_cli("create", "--name", "idle", "busybox", "true")
    refused = docker_cli("rm", "busy")
    assert refused.returncode == 1
    assert "stop the container before removing or force remove" in refused.stderr
    assert docker_cli("rm", "idle").stdout == "idle\n"
    assert docker_cli("rm", "-f", "busy").stdout == "busy\n"
    assert docker_cli("ps", "-aq").stdout == ""
    unknown = docker_cli("rm", "busy")
    assert unknown.returncode == 1 and "No such container: busy" in unknown.stderr


def test_wait_prints_exit_codes(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "five", "sh", "-c", "sleep 1; exit 5")
    _run_detached(docker_cli, "zero", "true")
    result = docker_cli("wait", "five", "zero", timeout=20)
    assert (result.returncode, result.stdout) == (0, "5\n0\n")


def test_top_lists_the_container_processes(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "topped", "sleep", "300")
    top = docker_cli("top", "topped").stdout.splitlines()
    assert top[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert len(top) == 2 and top[1].endswith("sleep 300") and top[1].split()[0] == "root"
    stopped = docker_cli("run", "--name", "over", "busybox", "true")
    assert stopped.returncode == 0
    refused = docker_cli("top", "over")
    assert refused.returncode == 1 and "is not running" in refused.stderr


def test_port_shows_and_serves_published_ports(docker_cli: Docker) -> None:
    host_port = _free_loopback_port()
    _run_detached(
        docker_cli,
        "served",
        "sh",
        "-c",
        "echo hello | nc -l -p 80",
        options=("-p", f"127.0.0.1:{host_port}:80", "-p", "8443/udp"),
    )
    assert docker_cli("port", "served", "80").stdout == f"127.0.0.1:{host_port}\n"
    lines = docker_cli("port", "served").stdout.splitlines()
    assert f"80/tcp -> 127.0.0.1:{host_port}" in lines
    assert any(re.fullmatch(r"8443/udp -> 0\.0\.0\.0:\d+", line) for line in lines), lines
    wait_until(lambda: _read_from(host_port) == b"hello\n", what="the published port to answer")
    _run_detached(docker_cli, "plain", "sleep", "300")
    assert docker_cli("port", "plain").stdout == ""


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_from(port: int) -> bytes:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            return conn.recv(100)
    except OSError:
        return b""


def test_rename(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "old", "sleep", "300")
    renamed = docker_cli("rename", "old", "new")
    assert (renamed.returncode, renamed.stdout) == (0, "")
    assert docker_cli("ps", "--format", "{{.Names}}").stdout == "new\n"
    assert docker_cli("inspect", "-f", "{{.Name}}", "new").stdout == "/new\n"
    assert docker_cli("inspect", "old").returncode == 1
    _run_detached(docker_cli, "old", "true")  # the old name is free again
    clash = docker_cli("rename", "new", "old")
    assert clash.returncode == 1 and "is already in use" in clash.stderr


def test_pause_and_unpause(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "frozen", "sleep", "300")
    pid = int(docker_cli("inspect", "-f", "{{.State.Pid}}", "frozen").stdout)
    assert docker_cli("pause", "frozen").stdout == "frozen\n"
    assert state(docker_cli, "frozen") == "paused"
    assert cgroup_freezer_state(pid) == "FROZEN"
    assert docker_cli("ps", "--format", "{{.Status}}").stdout.endswith("(Paused)\n")
    refused = docker_cli("exec", "frozen", "true")
    assert refused.returncode == 1 and "is paused" in refused.stderr
    assert docker_cli("unpause", "frozen").stdout == "frozen\n"
    assert state(docker_cli, "frozen") == "running"
    assert cgroup_freezer_state(pid) == "THAWED"
    assert docker_cli("exec", "frozen", "echo", "thawed").stdout == "thawed\n"


def test_restart_starts_the_process_again(docker_cli: Docker) -> None:
    _run_detached(docker_cli, "again", "sh", "-c", POLITE)
    _wait_ready(docker_cli, "again")
    first = docker_cli("inspect", "-f", "{{.State.StartedAt}} {{.State.Pid}}", "again").stdout
    assert docker_cli("restart", "-t", "1", "again").stdout == "again\n"
    assert state(docker_cli, "again") == "running"
    assert (
        docker_cli("inspect", "-f", "{{.State.StartedAt}} {{.State.Pid}}", "again").stdout != first
    )
    _wait_ready(docker_cli, "again", "ready\nready\n")
    docker_cli("run", "--name", "exited", "busybox", "true")
    assert docker_cli("restart", "exited").returncode == 0  # restarting a stopped one starts it


def test_kill_returns_once_the_container_has_exited(docker_cli: Docker) -> None:
    # Docker waits for the exit of a SIGKILLed container: its status is recorded, and
    # `rm` right after is no conflict. Each time, even just after the start.
    for attempt in range(3):
        name = f"doomed{attempt}"
        _run_detached(docker_cli, name, "sleep", "300")
        assert docker_cli("kill", name).stdout == f"{name}\n"
        shown = docker_cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name).stdout
        assert shown == "exited 137\n"
        assert docker_cli("rm", name).stdout == f"{name}\n"


def test_ps_filters_as_moby_applies_them(docker_cli: Docker) -> None:
    net = docker_cli("network", "create", "side").stdout.strip()
    _run_detached(docker_cli, "web-1", "sleep", "300", options=("-p", "127.0.0.1::80"))
    _run_detached(docker_cli, "web-2", "sleep", "300", options=("--expose", "81"))
    _run_detached(docker_cli, "db", "sleep", "300")
    docker_cli("network", "connect", "side", "db")
    docker_cli("run", "--name", "batch", "busybox", "true")
    docker_cli("create", "--name", "fresh", "busybox", "true")

    def names(*args: str) -> list[str]:
        result = docker_cli("ps", "--format", "{{.Names}}", *args)
        assert result.returncode == 0, result.stderr
        return sorted(result.stdout.split())

    # name= is a regular expression, matched anywhere in the name
    assert names("--filter", "name=^web-[0-9]$") == ["web-1", "web-2"]
    assert names("--filter", "name=b$") == ["db"]
    # network= by name or ID prefix, joined at run or with `network connect`
    assert names("--filter", "network=side") == ["db"]
    assert names("--filter", f"network={net[:10]}") == ["db"]
    # -n and -l count stopped containers too, newest first
    assert docker_cli("ps", "-l", "--format", "{{.Names}}").stdout == "fresh\n"
    assert docker_cli("ps", "-n", "2", "--format", "{{.Names}}").stdout == "fresh\nbatch\n"
    # exited= alone does not show stopped containers; it needs -a, as status= does not
    assert names("--filter", "exited=0") == []
    assert names("-a", "--filter", "exited=0") == ["batch"]  # never started: no exit code
    assert names("--filter", "status=created") == ["fresh"]
    assert names("--filter", "expose=80-81") == ["web-1", "web-2"]
    published = docker_cli("port", "web-1", "80").stdout.strip().rpartition(":")[2]
    assert names("--filter", f"publish={published}") == ["web-1"]
    assert names("--filter", "publish=80") == []
    assert names("--filter", "is-task=true") == []
    docker_cli("network", "disconnect", "side", "db")
    docker_cli("network", "rm", "side")


def test_exec_exit_codes_and_output_as_docker_28(docker_cli: Docker) -> None:
    # Docker 28 gives a missing command 127 and one that cannot run 126 (before 28 both
    # were 126); the runtime's error comes on stdout, as moby writes it.
    _run_detached(docker_cli, "box", "sleep", "300")
    missing = docker_cli("exec", "box", "no-such-command")
    assert (missing.returncode, missing.stderr) == (127, "")
    assert missing.stdout == (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "no-such-command": executable file not found in $PATH: unknown\n'
    )
    directory = docker_cli("exec", "box", "/etc")
    assert directory.returncode == 126 and directory.stdout.startswith("OCI runtime exec failed")
    detached = docker_cli("exec", "-d", "box", "no-such-command")
    assert detached.returncode == 1
    assert detached.stderr.startswith("Error response from daemon: OCI runtime exec failed")
