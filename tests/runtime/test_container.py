"""What a process inside a container sees, run by the built-in runtime (crun's tests style)."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

from dockyard.errors import CommandError, SystemError
from dockyard.runtime import cgroups, container
from dockyard.runtime.users import resolve_user

from .conftest import Bundle


def test_the_process_is_pid_1(bundle: Bundle) -> None:
    result = bundle.run(["sh", "-c", "echo $$; exec ls -d /proc/[0-9]*"])
    assert result.out.split() == ["1", "/proc/1"]


def test_hostname(bundle: Bundle) -> None:
    assert bundle.run(["hostname"], hostname="web-1").out == "web-1\n"


def test_proc_is_the_containers(bundle: Bundle) -> None:
    result = bundle.run(["cat", "/proc/1/cmdline"])
    assert result.out == "cat\0/proc/1/cmdline\0"


def test_sys_is_read_only(bundle: Bundle) -> None:
    result = bundle.run(["sh", "-c", "mkdir /sys/kernel/x; grep ' /sys ' /proc/self/mounts"])
    assert "Read-only file system" in result.err
    assert " ro," in result.out


def test_masked_paths_are_empty(bundle: Bundle) -> None:
    result = bundle.run(["sh", "-c", "wc -c < /proc/keys; ls -A /sys/firmware | wc -l"])
    assert result.out.split() == ["0", "0"]


def test_readonly_paths_cannot_be_written(bundle: Bundle) -> None:
    result = bundle.run(["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
    assert result.status == 1
    assert "Read-only file system" in result.err


def test_docker_default_capabilities(bundle: Bundle) -> None:
    result = bundle.run(["grep", "^Cap", "/proc/self/status"])
    caps = dict(line.split(":\t") for line in result.out.splitlines())
    assert caps == {
        "CapInh": "0000000000000000",
        "CapPrm": "00000000a80425fb",
        "CapEff": "00000000a80425fb",
        "CapBnd": "00000000a80425fb",
        "CapAmb": "0000000000000000",
    }


def test_cap_drop_takes_the_capability_away(bundle: Bundle) -> None:
    result = bundle.run(
        ["sh", "-c", "grep CapEff /proc/self/status; chown 1 /tmp"], cap_drop=["chown"]
    )
    assert "00000000a80425fa" in result.out
    assert "Operation not permitted" in result.err


def test_user_from_the_images_passwd(bundle: Bundle) -> None:
    uid, gid, groups = resolve_user(bundle.rootfs, "nobody")
    result = bundle.run(["id"], uid=uid, gid=gid, additional_gids=groups)
    assert result.out == "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"


def test_root_gets_its_supplementary_groups(bundle: Bundle) -> None:
    uid, gid, groups = resolve_user(bundle.rootfs, "")
    result = bundle.run(["id"], uid=uid, gid=gid, additional_gids=groups)
    assert result.out == "uid=0(root) gid=0(root) groups=0(root),10(wheel)\n"


def test_non_root_user_has_no_capabilities(bundle: Bundle) -> None:
    result = bundle.run(["grep", "CapEff", "/proc/self/status"], uid=1000, gid=1000)
    assert result.out == "CapEff:\t0000000000000000\n"


def test_cwd_is_created_when_missing(bundle: Bundle) -> None:
    result = bundle.run(["pwd"], cwd="/srv/app")
    assert result.out == "/srv/app\n"
    assert (bundle.rootfs / "srv" / "app").is_dir()


def test_environment(bundle: Bundle) -> None:
    result = bundle.run(["env"], env=["PATH=/usr/bin:/bin", "GREETING=hello world"])
    assert result.out.splitlines() == ["PATH=/usr/bin:/bin", "GREETING=hello world"]


def test_loopback_is_up_in_a_new_network_namespace(bundle: Bundle) -> None:
    result = bundle.run(["sh", "-c", "cat /sys/class/net/lo/flags; ls /sys/class/net"])
    assert result.out.split() == ["0x9", "lo"]


def test_memory_limit_is_visible_in_the_cgroup(bundle: Bundle) -> None:
    result = bundle.run(
        ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"], memory=64 * 1024 * 1024
    )
    assert result.out == f"{64 * 1024 * 1024}\n"


def test_pids_limit_is_enforced(bundle: Bundle) -> None:
    # The sleeps that did start die with the init, when sh exits.
    script = "cat /sys/fs/cgroup/pids/pids.max; for i in 1 2 3 4 5 6; do sleep 10 & done"
    result = bundle.run(["sh", "-c", script], pids_limit=4)
    assert result.out == "4\n"
    assert "can't fork" in result.err


def test_cgroup_namespace_hides_the_host_path(bundle: Bundle) -> None:
    result = bundle.run(["cat", "/proc/self/cgroup"])
    assert all(line.endswith(":/") for line in result.out.splitlines())


def test_read_only_root(bundle: Bundle) -> None:
    result = bundle.run(
        ["sh", "-c", "touch /x; touch /dev/shm/y && echo shm-ok"], readonly_rootfs=True
    )
    assert "Read-only file system" in result.err
    assert result.out == "shm-ok\n"


def test_bind_mount(bundle: Bundle, tmp_path: Path) -> None:
    shared = os.path.join(tmp_path, "shared")
    os.mkdir(shared)
    with open(os.path.join(shared, "hello"), "w") as f:
        f.write("hi\n")
    mount = {
        "destination": "/data",
        "type": "bind",
        "source": shared,
        "options": ["rbind", "ro", "rprivate"],
    }
    result = bundle.run(["sh", "-c", "cat /data/hello; touch /data/new"], mounts=[mount])
    assert result.out == "hi\n"
    assert "Read-only file system" in result.err
    assert os.listdir(shared) == ["hello"]


def test_dev_has_the_standard_devices(bundle: Bundle) -> None:
    result = bundle.run(["ls", "/dev"])
    assert set(result.out.split()) >= {
        "null",
        "zero",
        "full",
        "random",
        "urandom",
        "tty",
        "ptmx",
        "pts",
        "shm",
        "fd",
    }


@pytest.mark.parametrize(("script", "status"), [("exit 0", 0), ("exit 3", 3)])
def test_exit_status(bundle: Bundle, script: str, status: int) -> None:
    assert bundle.run(["sh", "-c", script]).status == status


def test_init_ignores_sigkill_from_inside(bundle: Bundle) -> None:
    result = bundle.run(["sh", "-c", "kill -9 $$; echo survived"])
    assert (result.status, result.out) == (0, "survived\n")


def test_killed_from_outside_reports_the_signal(bundle: Bundle) -> None:
    init = bundle.create(bundle.spec(["sleep", "60"]))
    try:
        init.start()
        os.kill(init.pid, 9)
        _, status = os.waitpid(init.pid, 0)
    finally:
        container.delete(bundle.path)
    assert os.WTERMSIG(status) == 9


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["nosuchcmd"], 'exec: "nosuchcmd": executable file not found in $PATH', 127),
        (["/nosuch"], 'exec: "/nosuch": stat /nosuch: no such file or directory', 127),
        (["/etc/passwd"], 'exec: "/etc/passwd": permission denied', 126),
        (["/etc"], 'exec: "/etc": permission denied', 126),
    ],
)
def test_command_that_cannot_run(bundle: Bundle, args: list[str], message: str, code: int) -> None:
    with pytest.raises(CommandError) as caught:
        bundle.run(args)
    assert (caught.value.message, caught.value.exit_code) == (message, code)


def test_exec_format_error_is_126(bundle: Bundle) -> None:
    script = bundle.rootfs / "notreally"
    script.write_text("no shebang here\n")
    script.chmod(0o755)
    with pytest.raises(CommandError) as caught:
        bundle.run(["/notreally"])
    assert (caught.value.message, caught.value.exit_code) == (
        "exec /notreally: exec format error",
        126,
    )


def test_setup_failure_names_the_step_and_leaves_nothing(bundle: Bundle) -> None:
    mount = {
        "destination": "/data",
        "type": "bind",
        "source": "/nonexistent-source",
        "options": ["rbind"],
    }
    with pytest.raises(SystemError) as caught:
        bundle.run(["true"], mounts=[mount])
    assert caught.value.message.startswith("preparing the rootfs: ")
    assert "/nonexistent-source" in caught.value.message
    assert cgroups.open_cgroup(bundle.cgroups_path).pids() == []


def test_nothing_is_left_behind(bundle: Bundle) -> None:
    bundle.run(["true"])
    group = cgroups.open_cgroup(bundle.cgroups_path)
    assert [d for _, d in group.mount_sources() if os.path.exists(d)] == []


def test_terminal(bundle: Bundle) -> None:
    spec = bundle.spec(
        ["sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; tty; ls /dev/console"],
        terminal=True,
    )
    devnull = os.open(os.devnull, os.O_RDWR)
    init = bundle.create(spec, container.Stdio(devnull, devnull, devnull))
    os.close(devnull)
    master = init.console()
    try:
        try:
            init.start()
            output = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO once the container's side is closed
                    break
                if not chunk:
                    break
                output += chunk
            os.waitpid(init.pid, 0)
        finally:
            container.delete(bundle.path)
    finally:
        os.close(master)
    # The pty is the container's own (/dev/pts/0 there, as with runc), also at /dev/console.
    assert output.split() == [b"is-a-tty", b"/dev/pts/0", b"/dev/console"]


def test_host_pid_namespace(bundle: Bundle) -> None:
    result = bundle.run(["sh", "-c", "echo $$"], pid="host")
    assert int(result.out) > 1


def test_joining_another_containers_network_namespace(bundle: Bundle, tmp_path: Path) -> None:
    second = Bundle(tmp_path / "second", bundle.cgroup_parent)
    second.path.mkdir()
    with bundle.running(["sleep", "60"]) as first:
        namespace = f"/proc/{first.pid}/ns/net"
        result = second.run(
            ["readlink", "/proc/self/ns/net"], network=namespace, root_path=str(bundle.rootfs)
        )
        assert result.out == os.readlink(namespace) + "\n"


def test_ulimits(bundle: Bundle) -> None:
    result = bundle.run(["sh", "-c", "ulimit -Sn; ulimit -Hn"], ulimits={"nofile": (100, 200)})
    assert result.out.split() == ["100", "200"]


def test_a_hard_limit_above_ours_fails_as_under_runc(bundle: Bundle) -> None:
    """Without CAP_SYS_RESOURCE a higher hard limit cannot be given: refused, not capped."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with pytest.raises(
        SystemError, match="error setting rlimit type 7: operation not permitted"
    ) as failure:
        bundle.run(["sh", "-c", "ulimit -Hn"], ulimits={"nofile": (hard + 1, hard + 1)})
    assert "error setting rlimits for ready process" in failure.value.message


def test_no_new_privileges(bundle: Bundle) -> None:
    assert (
        bundle.run(["grep", "NoNewPrivs", "/proc/self/status"], no_new_privileges=True).out
        == "NoNewPrivs:\t1\n"
    )


def test_stats_of_a_running_container(bundle: Bundle) -> None:
    script = "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo x > /tmp/done; sleep 60"
    with bundle.running(["sh", "-c", script], memory=256 << 20) as init:
        deadline = time.monotonic() + 10
        while not (bundle.rootfs / "tmp" / "done").exists():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        stats = cgroups.open_cgroup(bundle.cgroups_path).stats()
        assert cgroups.open_cgroup(bundle.cgroups_path).pids() == [init.pid]
    assert stats.memory_limit == 256 << 20
    assert stats.memory_usage > 0
    assert stats.cpu_usage_ns > 0
    assert stats.pids_current == 1
