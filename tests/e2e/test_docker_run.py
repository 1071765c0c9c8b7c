"""`docker run` (CLI 28.2.2) against dockyardd: streams, stdin, detaching, --rm, exit statuses."""

from __future__ import annotations

import re

from tests.e2e.helpers import Background, Docker, state, wait_running

# A registry on loopback where nothing listens: an unknown image whose pull can
# never leave this machine, whatever the daemon's registry client does.
UNKNOWN_IMAGE = "127.0.0.1:9/no-such-image"


def test_run_attached_passes_output_and_exit_status(docker_cli: Docker) -> None:
    result = docker_cli(
        "run", "--name", "three", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert (
        docker_cli("inspect", "-f", "{{.State.ExitCode}} {{.State.Status}}", "three").stdout
        == "3 exited\n"
    )


def test_run_detached_prints_the_full_id(docker_cli: Docker) -> None:
    result = docker_cli("run", "-d", "--name", "bg", "busybox", "sleep", "300")
    assert result.returncode == 0, result.stderr
    container_id = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", container_id), result.stdout
    assert docker_cli("ps", "-q").stdout == container_id[:12] + "\n"
    assert (
        docker_cli("inspect", "-f", "{{.Id}} {{.State.Running}}", "bg").stdout
        == f"{container_id} true\n"
    )


def test_run_interactive_reads_piped_stdin(docker_cli: Docker) -> None:
    assert docker_cli("run", "-i", "busybox", "cat", input=b"hi\n").stdout == "hi\n"
    big = b"0123456789abcdef" * 65536  # 1 MiB: more than any one buffer on the way
    counted = docker_cli("run", "-i", "--rm", "busybox", "wc", "-c", input=big)
    assert (counted.returncode, counted.stdout.strip()) == (0, str(len(big)))


def test_run_without_stdin_gets_eof(docker_cli: Docker) -> None:
    # No -i: the CLI half-closes at once and the container's stdin is empty.
    result = docker_cli("run", "--rm", "busybox", "sh", "-c", "cat; echo done", input=b"ignored\n")
    assert (result.returncode, result.stdout) == (0, "done\n")


def test_run_rm_leaves_nothing_and_keeps_the_exit_status(docker_cli: Docker) -> None:
    result = docker_cli("run", "--rm", "busybox", "sh", "-c", "echo bye; exit 7")
    assert (result.returncode, result.stdout) == (7, "bye\n")
    assert docker_cli("ps", "-aq").stdout == ""


def test_run_with_a_tty_gives_a_terminal(docker_cli: Docker) -> None:
    # Both streams come through the one terminal, on stdout (the fixture's text
    # mode reads the terminal's CRLF as LF).
    result = docker_cli("run", "-t", "--rm", "busybox", "sh", "-c", "tty; echo err >&2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "/dev/pts/0\nerr\n", "")


def test_run_options_reach_the_process(docker_cli: Docker) -> None:
    result = docker_cli(
        "run",
        "--rm",
        "-e",
        "GREETING=hello",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "-h",
        "boat",
        "--entrypoint",
        "sh",
        "busybox",
        "-c",
        'echo "$GREETING $(pwd) $(id -u):$(id -g) $(hostname)"',
    )
    assert (result.returncode, result.stdout) == (0, "hello /tmp 1000:1000 boat\n")


def test_create_then_start_attached(docker_cli: Docker) -> None:
    created = docker_cli("create", "--name", "later", "busybox", "sh", "-c", "echo started; exit 2")
    assert re.fullmatch(r"[0-9a-f]{64}\n", created.stdout), created.stderr
    assert state(docker_cli, "later") == "created"
    started = docker_cli("start", "-a", "later")
    assert (started.returncode, started.stdout) == (2, "started\n")


def test_unknown_image_tries_a_pull_and_exits_125(docker_cli: Docker) -> None:
    result = docker_cli("run", "--rm", UNKNOWN_IMAGE, "true")
    assert result.returncode == 125
    assert f"Unable to find image '{UNKNOWN_IMAGE}:latest' locally" in result.stderr
    assert "Error response from daemon" in result.stderr
    assert docker_cli("ps", "-aq").stdout == ""


def test_name_in_use_exits_125_and_creates_nothing(docker_cli: Docker) -> None:
    first = docker_cli("create", "--name", "taken", "busybox", "true").stdout.strip()
    result = docker_cli("run", "--name", "taken", "busybox", "true")
    assert result.returncode == 125
    assert 'Conflict. The container name "/taken" is already in use' in result.stderr
    assert docker_cli("ps", "-aq", "--no-trunc").stdout == first + "\n"


def test_bad_memory_values_exit_125(docker_cli: Docker) -> None:
    # "12q" is refused by the CLI itself, 1k by the daemon (below Docker's 6 MB minimum).
    unparsable = docker_cli("run", "-m", "12q", "busybox", "true")
    assert unparsable.returncode == 125 and 'invalid argument "12q"' in unparsable.stderr
    too_small = docker_cli("run", "-m", "1k", "busybox", "true")
    assert too_small.returncode == 125
    assert "Minimum memory limit allowed is 6MB" in too_small.stderr
    assert docker_cli("ps", "-aq").stdout == ""


def test_command_that_cannot_be_invoked_exits_126(docker_cli: Docker) -> None:
    result = docker_cli("run", "--name", "noexec", "busybox", "/etc/passwd")
    assert result.returncode == 126
    assert "permission denied" in result.stderr


def test_missing_command_exits_127(docker_cli: Docker) -> None:
    result = docker_cli("run", "--name", "nocmd", "busybox", "no-such-command")
    assert result.returncode == 127
    assert "no-such-command" in result.stderr and "not found" in result.stderr


def test_killed_container_exits_137(docker_cli: Docker) -> None:
    attached = Background(docker_cli, "run", "--name", "victim", "busybox", "sleep", "300")
    wait_running(docker_cli, "victim")
    assert docker_cli("kill", "victim").stdout == "victim\n"
    result = attached.result()
    assert result.returncode == 137
    assert docker_cli("inspect", "-f", "{{.State.ExitCode}}", "victim").stdout == "137\n"
