"""The daemon's error messages as docker CLI 28 users see them: current moby's wording,
which scripts match on, with the CLI's exit codes."""

from __future__ import annotations

import socket

from tests.e2e.helpers import Docker, wait_running


def _full_id(docker: Docker, name: str) -> str:
    return docker("inspect", "-f", "{{.Id}}", name).stdout.strip()


def _failed(result: object, message: str, code: int = 1) -> None:
    """The command failed with ``code`` and ``message`` as the error's whole first line."""
    assert result.returncode == code, result  # type: ignore[attr-defined]
    first = result.stderr.splitlines()[0]  # type: ignore[attr-defined]
    assert first == message, result


def test_rm_of_a_running_or_paused_container(docker_cli: Docker) -> None:
    docker_cli("run", "-d", "--name", "busy", "busybox", "sleep", "300")
    _failed(
        docker_cli("rm", "busy"),
        'Error response from daemon: cannot remove container "busy": container is running: '
        "stop the container before removing or force remove",
    )
    docker_cli("pause", "busy")
    _failed(
        docker_cli("rm", "busy"),
        'Error response from daemon: cannot remove container "busy": '
        "container is paused and must be unpaused first",
    )
    docker_cli("unpause", "busy")


def test_exec_in_a_paused_or_stopped_container_and_as_an_unknown_user(
    docker_cli: Docker,
) -> None:
    docker_cli("run", "-d", "--name", "box", "busybox", "sleep", "300")
    wait_running(docker_cli, "box")
    unknown_user = docker_cli("exec", "-u", "nobody-here", "box", "true")
    _failed(
        unknown_user,
        "Error response from daemon: unable to find user nobody-here: "
        "no matching entries in passwd file",
    )
    docker_cli("pause", "box")
    _failed(
        docker_cli("exec", "box", "true"),
        "Error response from daemon: Container box is paused, unpause the container before exec",
    )
    docker_cli("unpause", "box")
    docker_cli("kill", "box")
    _failed(
        docker_cli("exec", "box", "true"),
        f"Error response from daemon: container {_full_id(docker_cli, 'box')} is not running",
    )


def test_rename_conflicts(docker_cli: Docker) -> None:
    docker_cli("create", "--name", "first", "busybox", "true")
    docker_cli("create", "--name", "second", "busybox", "true")
    holder = _full_id(docker_cli, "second")
    _failed(
        docker_cli("rename", "first", "second"),
        'Error response from daemon: Error when allocating new name: Conflict. The container name "/second" '
        f'is already in use by container "{holder}". You have to remove (or rename) that container to be '
        "able to reuse that name.",
    )
    _failed(
        docker_cli("rename", "first", "first"),
        "Error response from daemon: Renaming a container with the same name as its current name",
    )
    _failed(
        docker_cli("rename", "first", "bad name"),
        "Error response from daemon: Error when allocating new name: Invalid container name "
        "(/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    )


def test_kill_of_a_stopped_or_unknown_container(docker_cli: Docker) -> None:
    docker_cli("run", "--name", "done", "busybox", "true")
    _failed(
        docker_cli("kill", "done"),
        f"Error response from daemon: cannot kill container: done: "
        f"container {_full_id(docker_cli, 'done')} is not running",
    )
    _failed(
        docker_cli("kill", "nobody-here"),
        "Error response from daemon: cannot kill container: nobody-here: "
        "No such container: nobody-here",
    )


def test_run_as_an_unknown_user_or_with_an_unknown_capability(docker_cli: Docker) -> None:
    end = docker_cli.expects("", v20_10=".")  # CLI 20.10 ends `docker run` errors with a dot
    _failed(
        docker_cli("run", "--rm", "-u", "nobody-here", "busybox", "true"),
        "docker: Error response from daemon: unable to find user nobody-here: "
        "no matching entries in passwd file" + end,
        125,
    )
    _failed(
        docker_cli("run", "--cap-add", "fly", "busybox", "true"),
        'docker: Error response from daemon: invalid CapAdd: unknown capability: "CAP_FLY"' + end,
        125,
    )
    _failed(
        docker_cli("create", "--cap-drop", "swim", "busybox", "true"),
        'Error response from daemon: invalid CapDrop: unknown capability: "CAP_SWIM"',
    )
    assert docker_cli("ps", "-aq").stdout == ""  # refused at create: nothing was made


def test_ps_filters_that_are_refused(docker_cli: Docker) -> None:
    prefix = "Error response from daemon: "
    _failed(docker_cli("ps", "--filter", "foo=bar"), prefix + "invalid filter 'foo'")
    _failed(docker_cli("ps", "--filter", "label!=a"), prefix + "invalid filter 'label!'")
    _failed(
        docker_cli("ps", "--filter", "status=sleeping"),
        prefix + "invalid filter 'status=sleeping': invalid value for state (sleeping): "
        "must be one of created, running, paused, restarting, removing, exited, dead",
    )
    _failed(
        docker_cli("ps", "--filter", "exited=zero"),
        prefix + "invalid filter 'exited=zero': strconv.Atoi: parsing \"zero\": invalid syntax",
    )
    _failed(
        docker_cli("ps", "--filter", "is-task=maybe"), prefix + "invalid filter 'is-task=[maybe]'"
    )


def test_pull_from_a_registry_that_cannot_be_reached(docker_cli: Docker) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    _failed(
        docker_cli("pull", f"{closed}/app:1"),
        f'Error response from daemon: Get "http://{closed}/v2/": '
        f"dial tcp {closed}: connect: connection refused",
    )
