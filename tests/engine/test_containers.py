"""The container service in-process: lifecycle, streams, exec, cp, and the shim's survival."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard import stdcopy
from dockyard.config import Paths
from dockyard.engine import specgen
from dockyard.engine.engine import Engine
from dockyard.errors import CommandError, Conflict, InvalidArgument, NotFound, NotModified
from dockyard.runtime import cgroups, linux
from tests.conftest import cgroup_freezer_state, runc_state
from tests.e2e.helpers import wait_until


def _run(engine: Any, coro: Any) -> Any:
    return engine.loop.run_until_complete(coro)


async def _collect(stream: Any) -> bytes:
    out = b""
    while chunk := await stream.read():
        out += chunk
    return out


def _demux(data: bytes) -> tuple[bytes, bytes]:
    out = {stdcopy.STDOUT: b"", stdcopy.STDERR: b""}
    for stream, payload in stdcopy.FrameParser().feed(data):
        out[stream] += payload
    return out[stdcopy.STDOUT], out[stdcopy.STDERR]


async def _run_container(
    engine: Any,
    body: dict,
    stdin: bytes | None = None,
    while_running: Callable[[str], object] | None = None,
) -> tuple[int, bytes, bytes, str]:
    cid = (await engine.containers.create({"Image": "busybox", **body}, None))["Id"]
    attach = await engine.containers.attach(cid, stdin=stdin is not None)
    waited = engine.containers.wait_begin(cid, "next-exit")
    await engine.containers.start(cid)
    if while_running is not None:  # a container that reads its stdin runs until it closes
        while_running(cid)
    if stdin is not None:
        await attach.write(stdin)
        await attach.close_stdin()
    raw = await _collect(attach)
    code = (await waited)["StatusCode"]
    if body.get("Tty"):
        return code, raw, b"", cid
    out, err = _demux(raw)
    return code, out, err, cid


def run(
    engine: Any,
    body: dict,
    stdin: bytes | None = None,
    while_running: Callable[[str], object] | None = None,
) -> tuple[int, bytes, bytes, str]:
    return _run(engine, _run_container(engine, body, stdin, while_running))


def test_run_streams_output_and_exit_code(engine: Any) -> None:
    code, out, err, cid = run(engine, {"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]})
    assert (code, out, err) == (3, b"out\n", b"err\n")
    state = engine.containers.inspect(cid)["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 3 and not state["Running"]


def test_isolation_pid_hostname_and_root(engine: Any, busybox_tar: Path) -> None:
    code, out, _, cid = run(
        engine,
        {"Cmd": ["sh", "-c", "echo $$; hostname; cat /etc/hostname; ls -A /proc/1/root/"]},
    )
    pid, hostname, etc_hostname, *root = out.decode().splitlines()
    assert code == 0 and pid == "1"
    assert hostname == etc_hostname == cid[:12]
    with tarfile.open(busybox_tar) as tar:
        image = {member.name.removeprefix("./").split("/")[0] for member in tar} - {"", "."}
    assert root == sorted([*image, ".dockerenv"])  # the image's root, not the host's


def test_stdin_is_piped_and_closed_with_stdin_once(engine: Any) -> None:
    code, out, _, _ = run(
        engine, {"Cmd": ["cat"], "OpenStdin": True, "StdinOnce": True}, stdin=b"some input\n"
    )
    assert (code, out) == (0, b"some input\n")


def test_tty_gives_a_real_terminal(engine: Any) -> None:
    code, out, _, _ = run(engine, {"Cmd": ["sh", "-c", "tty; echo $TERM"], "Tty": True})
    assert code == 0 and out == b"/dev/pts/0\r\nxterm\r\n"


@pytest.mark.parametrize(("cmd", "exit_code"), [(["no-such-command"], 127), (["/etc/passwd"], 126)])
def test_command_that_cannot_run(engine: Any, cmd: list[str], exit_code: int) -> None:
    cid = engine.loop.run_until_complete(
        engine.containers.create({"Image": "busybox", "Cmd": cmd}, None)
    )["Id"]
    with pytest.raises(CommandError) as failure:
        _run(engine, engine.containers.start(cid))
    assert failure.value.exit_code == exit_code
    state = engine.containers.inspect(cid)["State"]
    assert state["Status"] == "created" and state["ExitCode"] == exit_code and state["Error"]


def test_env_workdir_user_and_memory_limit(engine: Any) -> None:
    code, out, _, _ = run(
        engine,
        {
            "Cmd": [
                "sh",
                "-c",
                "echo $GREETING; pwd; id -u; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
            ],
            "Env": ["GREETING=hello"],
            "WorkingDir": "/tmp",
            "User": "nobody",
            "HostConfig": {"Memory": 64 * 1024 * 1024},
        },
    )
    assert code == 0
    assert out.decode().split() == ["hello", "/tmp", "65534", str(64 * 1024 * 1024)]


def test_bad_input_leaves_the_store_unchanged(engine: Any) -> None:
    engine.loop.run_until_complete(
        engine.containers.create({"Image": "busybox", "Cmd": ["true"]}, "taken")
    )
    before = [c.id for c in engine.containers.all()]
    with pytest.raises(Conflict, match="already in use"):
        engine.loop.run_until_complete(
            engine.containers.create({"Image": "busybox", "Cmd": ["true"]}, "taken")
        )
    with pytest.raises(NotFound, match="No such image"):
        engine.loop.run_until_complete(
            engine.containers.create({"Image": "no-such-image", "Cmd": ["true"]}, None)
        )
    with pytest.raises(InvalidArgument, match="Minimum memory"):
        engine.loop.run_until_complete(
            engine.containers.create(
                {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 1024}}, None
            )
        )
    with pytest.raises(InvalidArgument, match="Invalid container name"):
        engine.loop.run_until_complete(
            engine.containers.create({"Image": "busybox", "Cmd": ["true"]}, "bad name!")
        )
    assert [c.id for c in engine.containers.all()] == before
    assert sorted(p.name for p in engine.paths.containers.iterdir()) == before


async def _logs_say(engine: Any, cid: str, expected: list[bytes], timeout: float = 10) -> None:
    """Wait until the container's logs are ``expected``, e.g. its "ready" once a trap is set."""
    deadline = time.monotonic() + timeout
    while (logs := [data async for _, data in engine.containers.logs(cid)]) != expected:
        assert time.monotonic() < deadline, f"the logs are {logs}, not {expected}"
        await asyncio.sleep(0.05)


def test_stop_sends_the_stop_signal_then_kills(engine: Any) -> None:
    async def scenario() -> tuple[dict, list]:
        script = "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.1; done"
        cid = (
            await engine.containers.create({"Image": "busybox", "Cmd": ["sh", "-c", script]}, None)
        )["Id"]
        await engine.containers.start(cid)
        await _logs_say(engine, cid, [b"ready\n"])
        await engine.containers.stop(cid, timeout=1)
        logs = [data async for _, data in engine.containers.logs(cid)]
        return engine.containers.inspect(cid)["State"], logs

    state, logs = _run(engine, scenario())
    # TERM first (the trap answered it), KILL when the second of grace was over.
    assert state["ExitCode"] == 128 + signal.SIGKILL and logs == [b"ready\n", b"got TERM\n"]
    with pytest.raises(NotModified):
        _run(engine, engine.containers.stop(engine.containers.all()[0].id))


def test_kill_delivers_the_signal_and_gives_128_plus_n(engine: Any) -> None:
    async def scenario() -> tuple[dict, list]:
        script = "trap 'echo got USR1' USR1; echo ready; while true; do sleep 0.1; done"
        cid = (
            await engine.containers.create({"Image": "busybox", "Cmd": ["sh", "-c", script]}, None)
        )["Id"]
        await engine.containers.start(cid)
        await _logs_say(engine, cid, [b"ready\n"])
        waited = engine.containers.wait_begin(cid)
        await engine.containers.kill(cid, "USR1")
        await _logs_say(engine, cid, [b"ready\n", b"got USR1\n"])
        await engine.containers.kill(cid, "KILL")
        # As moby's, a SIGKILL returns once the exit is recorded.
        assert engine.containers.inspect(cid)["State"]["ExitCode"] == 128 + signal.SIGKILL
        result = await asyncio.wait_for(waited, 10)
        return result, [data async for _, data in engine.containers.logs(cid)]

    result, logs = _run(engine, scenario())
    assert result["StatusCode"] == 128 + signal.SIGKILL and logs == [b"ready\n", b"got USR1\n"]


def test_restart_policy_on_failure_counts_retries(engine: Any) -> None:
    async def scenario() -> dict:
        cid = (
            await engine.containers.create(
                {
                    "Image": "busybox",
                    "Cmd": ["sh", "-c", "exit 2"],
                    "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}},
                },
                None,
            )
        )["Id"]
        await engine.containers.start(cid)
        for _ in range(100):
            record = engine.containers.inspect(cid)
            if (
                record["RestartCount"] == 2
                and not record["State"]["Running"]
                and not record["State"]["Restarting"]
            ):
                return record
            await asyncio.sleep(0.05)
        return engine.containers.inspect(cid)

    record = _run(engine, scenario())
    assert record["RestartCount"] == 2 and record["State"]["ExitCode"] == 2


def test_auto_remove_and_wait_removed(engine: Any) -> None:
    async def scenario() -> tuple[dict, list]:
        cid = (
            await engine.containers.create(
                {
                    "Image": "busybox",
                    "Cmd": ["sh", "-c", "exit 5"],
                    "HostConfig": {"AutoRemove": True},
                },
                None,
            )
        )["Id"]
        removed = engine.containers.wait_begin(cid, "removed")
        await engine.containers.start(cid)
        return await asyncio.wait_for(removed, 10), engine.containers.all()

    result, left = _run(engine, scenario())
    assert result["StatusCode"] == 5 and left == []


def test_logs_tail_and_timestamps(engine: Any) -> None:
    _, _, _, cid = run(engine, {"Cmd": ["sh", "-c", "echo one; echo two; echo three >&2"]})

    async def read(**kwargs: Any) -> list[tuple[int, bytes]]:
        return [item async for item in engine.containers.logs(cid, **kwargs)]

    assert _run(engine, read()) == [(1, b"one\n"), (1, b"two\n"), (2, b"three\n")]
    assert _run(engine, read(tail=1)) == [(2, b"three\n")]
    assert _run(engine, read(stderr=False)) == [(1, b"one\n"), (1, b"two\n")]
    stamped = _run(engine, read(timestamps=True, tail=1))[0][1]
    assert stamped.endswith(b"Z three\n") and stamped[:4].isdigit()


def test_logs_follow_ends_when_the_container_stops(engine: Any) -> None:
    async def scenario() -> list[bytes]:
        cid = (
            await engine.containers.create(
                {"Image": "busybox", "Cmd": ["sh", "-c", "echo a; sleep 0.3; echo b"]}, None
            )
        )["Id"]
        await engine.containers.start(cid)
        return [data async for _, data in engine.containers.logs(cid, follow=True)]

    assert _run(engine, asyncio.wait_for(scenario(), 10)) == [b"a\n", b"b\n"]


def test_exec_runs_in_the_container(engine: Any) -> None:
    async def scenario() -> tuple[bytes, dict, bytes]:
        cid = (
            await engine.containers.create(
                {"Image": "busybox", "Cmd": ["sleep", "30"], "Env": ["FROM_IMAGE=1"]}, None
            )
        )["Id"]
        await engine.containers.start(cid)
        exec_id = engine.execs.create(
            cid,
            {
                "Cmd": ["sh", "-c", "echo $$ $FROM_IMAGE $EXTRA; hostname; pwd; exit 4"],
                "Env": ["EXTRA=x"],
                "WorkingDir": "/tmp",
                "AttachStdout": True,
            },
        )
        stream = await engine.execs.start(exec_id, detach=False, tty=False)
        out = await _collect(stream)
        await engine.execs.get(exec_id).done.wait()
        missing = engine.execs.create(cid, {"Cmd": ["no-such-command"], "AttachStderr": True})
        with pytest.raises(CommandError) as failed:
            await engine.execs.start(missing, detach=False, tty=False)
        assert engine.execs.inspect(missing)["ExitCode"] == 127
        return out, engine.execs.inspect(exec_id), failed.value.message

    out, info, err = _run(engine, scenario())
    stdout, _ = _demux(out)
    first, hostname, cwd = stdout.decode().splitlines()
    pid, from_image, extra = first.split()
    assert int(pid) > 1 and from_image == "1" and extra == "x" and cwd == "/tmp"
    assert info["ExitCode"] == 4 and not info["Running"]
    assert "executable file not found" in err


def test_an_exec_whose_shim_is_gone_and_reaped_before_the_daemon_looks_still_ends(
    engine: Any,
) -> None:
    """A short exec's shim can end, and its reaper reap it, before the daemon gets to
    it (seen under load): the daemon must not look the shim up by pid."""
    spawn = engine.execs.spawn_exec

    def spawn_and_reap(cfg: Any) -> tuple[int, Any]:
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)  # the shim, orphaned, becomes ours
        try:
            shim_pid, sock = spawn(cfg)
        finally:
            linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 0)
        os.waitpid(shim_pid, 0)
        return shim_pid, sock

    engine.execs.spawn_exec = spawn_and_reap

    async def scenario() -> tuple[bytes, dict]:
        cid = (await engine.containers.create({"Image": "busybox", "Cmd": ["sleep", "30"]}, None))[
            "Id"
        ]
        await engine.containers.start(cid)
        exec_id = engine.execs.create(cid, {"Cmd": ["echo", "hi"], "AttachStdout": True})
        stream = await engine.execs.start(exec_id, detach=False, tty=False)
        out = await _collect(stream)
        await engine.execs.get(exec_id).done.wait()
        return out, engine.execs.inspect(exec_id)

    out, info = _run(engine, asyncio.wait_for(scenario(), 10))
    assert _demux(out) == (b"hi\n", b"")
    assert info["ExitCode"] == 0 and not info["Running"]


def test_exec_into_a_stopped_container_is_refused(engine: Any) -> None:
    _, _, _, cid = run(engine, {"Cmd": ["true"]})
    with pytest.raises(Conflict, match="is not running"):
        engine.execs.create(cid, {"Cmd": ["true"]})


def test_copy_in_and_out_and_diff(engine: Any) -> None:
    cid = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["sh", "-c", "rm /etc/group; echo x > /tmp/new"]}, None
        )
    )["Id"]
    _run(engine, engine.containers.start(cid))
    _run(engine, engine.containers.wait(cid))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"copied in\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    engine.containers.archive_put(cid, "/root", buf)
    archive, stat = engine.containers.archive_get(cid, "/root/hello.txt")
    with archive, tarfile.open(fileobj=archive, mode="r|") as tar:
        member = tar.next()
        assert member is not None and member.name == "hello.txt"
        assert tar.extractfile(member).read() == b"copied in\n"  # type: ignore[union-attr]
    assert stat["name"] == "hello.txt" and stat["size"] == 10
    changes = {c["Path"]: c["Kind"] for c in engine.containers.changes(cid)}
    assert (
        changes["/etc/group"] == 2 and changes["/tmp/new"] == 1 and changes["/root/hello.txt"] == 1
    )
    assert "/etc/hostname" not in changes and "/.dockerenv" not in changes
    with pytest.raises(NotFound):
        engine.containers.archive_stat(cid, "/no/such/file")


def test_pause_freezes_and_top_lists_processes(engine: Any) -> None:
    async def scenario() -> tuple[dict, str, list[str]]:
        cid = (await engine.containers.create({"Image": "busybox", "Cmd": ["sleep", "30"]}, None))[
            "Id"
        ]
        await engine.containers.start(cid)
        pid = engine.containers.inspect(cid)["State"]["Pid"]
        top = await engine.containers.top(cid)
        freezer = [cgroup_freezer_state(pid)]
        engine.containers.pause(cid)
        freezer.append(cgroup_freezer_state(pid))
        status = engine.containers.list(filters={"status": ["paused"]})[0]["State"]
        engine.containers.unpause(cid)
        freezer.append(cgroup_freezer_state(pid))
        return top, status, freezer

    top, status, freezer = _run(engine, scenario())
    assert "PID" in top["Titles"] and any("sleep 30" in " ".join(p) for p in top["Processes"])
    assert status == "paused"
    assert freezer == ["THAWED", "FROZEN", "THAWED"]


def test_ps_filters_and_rename(engine: Any) -> None:
    a = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["true"], "Labels": {"tier": "web"}}, "alpha"
        )
    )["Id"]
    engine.loop.run_until_complete(
        engine.containers.create({"Image": "busybox", "Cmd": ["true"]}, "beta")
    )
    assert engine.containers.list() == []
    assert [
        c["Names"] for c in engine.containers.list(all=True, filters={"label": ["tier=web"]})
    ] == [["/alpha"]]
    assert len(engine.containers.list(all=True, filters={"ancestor": ["busybox"]})) == 2
    engine.containers.rename("alpha", "gamma")
    assert engine.containers.get(a).name == "gamma"
    with pytest.raises(Conflict):
        engine.containers.rename("gamma", "beta")


def test_containers_outlive_the_engine_and_are_found_again(engine: Any, roots: Any) -> None:
    go = roots.base / "go"  # the container goes on when this directory holds "now"
    go.mkdir()
    script = "echo started; while [ ! -e /go/now ]; do sleep 0.05; done; echo done; exit 6"

    async def start() -> str:
        cid = (
            await engine.containers.create(
                {
                    "Image": "busybox",
                    "Cmd": ["sh", "-c", script],
                    "HostConfig": {"Binds": [f"{go}:/go"]},
                },
                None,
            )
        )["Id"]
        await engine.containers.start(cid)
        return cid

    cid = _run(engine, start())
    engine.close()  # the daemon goes away; the shim keeps the container running

    async def later() -> tuple[bool, dict, list]:
        again = Engine(Paths(roots.data_root, roots.exec_root))
        await again.start()
        running = again.containers.inspect(cid)["State"]["Running"]
        (go / "now").touch()
        result = await asyncio.wait_for(again.containers.wait(cid), 10)
        logs = [data async for _, data in again.containers.logs(cid)]
        await again.containers.remove(cid)
        again.close()
        return running, result, logs

    running, result, logs = _run(engine, later())
    assert running and result["StatusCode"] == 6 and logs == [b"started\n", b"done\n"]


def test_same_bundle_under_runc(engine: Any) -> None:
    if not shutil.which("runc"):
        pytest.skip("runc is not installed")
    seen: list[tuple[dict, int]] = []
    code, out, _, cid = run(
        engine,
        {
            "Cmd": ["sh", "-c", "echo $$; hostname; read -r _ || true"],
            "OpenStdin": True,
            "StdinOnce": True,
            "HostConfig": {"Runtime": "io.containerd.runc.v2"},
        },
        stdin=b"",
        while_running=lambda cid: seen.append(
            (
                runc_state(engine.paths.exec_root, cid),
                engine.containers.inspect(cid)["State"]["Pid"],
            )
        ),
    )
    [(state, pid)] = seen
    assert (state["status"], state["pid"]) == ("running", pid)  # runc itself runs it
    assert (code, out.decode().split()) == (0, ["1", cid[:12]])


# An orphan whose shell has exited is PID 1's to reap once it exits; the main process
# (cat, which never waits) cannot, so without an init the orphan stays a zombie.
_ORPHAN_REAPED = r"""
tr '\0' '\n' < /proc/1/cmdline | head -3 | tr '\n' ' '; echo; echo $$
mkfifo /tmp/go /tmp/result
(
    orphan=$(sh -c 'cat /tmp/go >/dev/null & echo $!')
    echo go > /tmp/go
    i=0; while [ -e /proc/$orphan ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
    if [ -e /proc/$orphan ]; then echo "not reaped: $(cat /proc/$orphan/stat)"; else echo reaped; fi
) > /tmp/result &
exec cat /tmp/result
"""


def test_init_runs_as_pid_1_and_reaps(engine: Any) -> None:
    code, out, _, _ = run(
        engine, {"Cmd": ["sh", "-c", _ORPHAN_REAPED], "HostConfig": {"Init": True}}
    )
    pid_1, pid, orphan = out.decode().splitlines()
    assert (code, pid_1, orphan) == (0, "/sbin/docker-init -- sh ", "reaped") and pid != "1"


def test_commit_makes_an_image_of_the_changes(engine: Any) -> None:
    _, _, _, cid = run(
        engine, {"Cmd": ["sh", "-c", "echo kept > /hello; rm /etc/group"], "Env": ["FOO=bar"]}
    )
    layers_before = len(engine.images.resolve("busybox").chain)
    image_id = engine.containers.commit(
        cid, "mine:v1", comment="my change", author="me", changes=['CMD ["cat", "/hello"]']
    )
    image = engine.images.inspect("mine:v1")
    assert image["Id"] == image_id and image["Author"] == "me" and image["Comment"] == "my change"
    assert image["Config"]["Cmd"] == ["cat", "/hello"] and "FOO=bar" in image["Config"]["Env"]
    assert len(engine.images.resolve("mine:v1").chain) == layers_before + 1
    code, out, _, _ = run(engine, {"Image": "mine:v1"})
    assert (code, out) == (0, b"kept\n")
    _, _, _, other = run(engine, {"Image": "mine:v1", "Cmd": ["cat", "/etc/group"]})
    assert engine.containers.inspect(other)["State"]["ExitCode"] == 1  # deleted in the layer


def test_commit_of_a_missing_container_changes_nothing(engine: Any) -> None:
    _, _, _, cid = run(engine, {"Cmd": ["true"]})
    before = engine.images.list(all=True)
    with pytest.raises(NotFound):
        engine.containers.commit("no-such-container", "x:y")
    with pytest.raises(InvalidArgument):
        engine.containers.commit(cid, "x:y", changes=["NOPE x"])
    assert [i["Id"] for i in engine.images.list(all=True)] == [i["Id"] for i in before]


def test_commit_of_a_container_that_just_exited(engine: Any) -> None:
    # The container has exited and its shim has removed its cgroup, but the engine has
    # not seen the exit yet: the commit's pause cannot freeze it, and moby commits anyway.
    cid = engine.loop.run_until_complete(
        engine.containers.create(
            {"Image": "busybox", "Cmd": ["sh", "-c", "echo x > /made; exec sleep 300"]}, None
        )
    )["Id"]
    _run(engine, engine.containers.start(cid))
    record = engine.containers.get(cid)
    cgroup = cgroups.open_cgroup(specgen.cgroup_path(cid))
    wait_until(lambda: cgroup.pids() != [] and _made(record), what="the file to be made")
    os.kill(record.state["Pid"], signal.SIGKILL)
    wait_until(lambda: not _cgroup_exists(cgroup), what="the shim to remove the cgroup")
    assert engine.containers.get(cid).running  # the exit is not recorded yet
    image_id = engine.containers.commit(cid, "after:1", pause=True)
    assert engine.images.resolve("after:1").id == image_id
    assert [c["Path"] for c in engine.containers.changes(cid)] == ["/made"]


def _made(record: Any) -> bool:
    return (record.root / "upper" / "made").exists()


def _cgroup_exists(cgroup: Any) -> bool:
    return any(os.path.isdir(directory) for _, directory in cgroup.mount_sources())


def test_create_fills_in_the_masked_and_read_only_paths(engine: Any) -> None:
    """As moby at create: its default lists, none when privileged, a given list as it is."""

    def host_config(**given: Any) -> dict[str, Any]:
        body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": given}
        cid = engine.loop.run_until_complete(engine.containers.create(body, None))["Id"]
        return dict(engine.containers.inspect(cid)["HostConfig"])

    default = host_config()
    assert default["MaskedPaths"][:3] == ["/proc/acpi", "/proc/asound", "/proc/interrupts"]
    assert "/proc/kcore" in default["MaskedPaths"] and "/sys/firmware" in default["MaskedPaths"]
    assert default["ReadonlyPaths"] == [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    privileged = host_config(Privileged=True)
    assert (privileged["MaskedPaths"], privileged["ReadonlyPaths"]) == (None, None)
    unconfined = host_config(MaskedPaths=[], ReadonlyPaths=["/proc/sys"])
    assert (unconfined["MaskedPaths"], unconfined["ReadonlyPaths"]) == ([], ["/proc/sys"])
