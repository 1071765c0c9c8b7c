"""`docker exec`: a process joining a running container (container.exec_process)."""

from __future__ import annotations

import os
import signal

import pytest

from dockyard.errors import CommandError
from dockyard.runtime import container

from .conftest import PATH, Bundle, exit_status


def _exec(bundle: Bundle, init_pid: int, args: list[str], **changes: object) -> tuple[int, str]:
    """Run ``args`` in the container like `docker exec`; (exit status, stdout)."""
    process = {**bundle.spec(args)["process"], **changes}
    out_path = bundle.path / "exec-out"
    with open(out_path, "w+b") as out, open(os.devnull, "rb") as null:
        stdio = container.Stdio(null.fileno(), out.fileno(), out.fileno())
        pid = container.exec_process(
            init_pid, process, stdio, bundle.cgroups_path, container_id=bundle.name
        )
    _, status = os.waitpid(pid, 0)
    return exit_status(status), out_path.read_text()


def test_exec_shares_the_pid_namespace_and_hostname(bundle: Bundle) -> None:
    with bundle.running(["sleep", "60"], hostname="shared") as init:
        status, out = _exec(
            bundle, init.pid, ["sh", "-c", "hostname; cat /proc/1/cmdline; echo; echo $$"]
        )
    hostname, init_cmdline, own_pid = out.splitlines()
    assert (status, hostname, init_cmdline) == (0, "shared", "sleep\x0060\x00")
    assert int(own_pid) > 1


def test_exec_sees_the_containers_filesystem(bundle: Bundle) -> None:
    with bundle.running(["sh", "-c", "echo from-init > /tmp/mark; sleep 60"]) as init:
        _, out = _exec(
            bundle,
            init.pid,
            ["sh", "-c", "while [ ! -s /tmp/mark ]; do sleep 0.01; done; cat /tmp/mark"],
        )
    assert out == "from-init\n"


def test_exec_runs_in_the_containers_cgroup(bundle: Bundle) -> None:
    with bundle.running(["sleep", "60"]) as init, open(os.devnull, "r+b") as null:
        stdio = container.Stdio(null.fileno(), null.fileno(), null.fileno())
        process = bundle.spec(["sleep", "60"])["process"]
        pid = container.exec_process(
            init.pid, process, stdio, bundle.cgroups_path, container_id=bundle.name
        )
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                host_view = f.read()
            _, inside = _exec(bundle, init.pid, ["cat", "/proc/self/cgroup"])
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert all(
        line.endswith(bundle.cgroups_path)
        for line in host_view.splitlines()
        if ":memory:" in line or ":pids:" in line
    )
    assert all(line.endswith(":/") for line in inside.splitlines())


def test_exec_with_user_cwd_env_and_exit_code(bundle: Bundle) -> None:
    with bundle.running(["sleep", "60"]) as init:
        status, out = _exec(
            bundle,
            init.pid,
            ["sh", "-c", "id -u; pwd; echo $WHO; exit 7"],
            user={"uid": 65534, "gid": 65534},
            cwd="/tmp",
            env=[PATH, "WHO=exec"],
        )
    assert (status, out.split()) == (7, ["65534", "/tmp", "exec"])


def test_exec_of_a_missing_command(bundle: Bundle) -> None:
    with bundle.running(["sleep", "60"]) as init, pytest.raises(CommandError) as caught:
        _exec(bundle, init.pid, ["nosuchcmd"])
    assert (caught.value.message, caught.value.exit_code) == (
        'exec: "nosuchcmd": executable file not found in $PATH',
        127,
    )
