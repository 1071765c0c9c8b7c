"""--security-opt, seccomp and keyrings through the docker CLI 28: what a container may not do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import Daemon, SessionKey
from tests.e2e.helpers import Docker, wait_running

PERMITTED = "Operation not permitted"


@pytest.fixture
def probe(docker_cli: Docker, sysprobe: Path) -> Docker:
    """`docker run --rm` with the sysprobe helper at /sysprobe."""

    def run(*args: str) -> object:
        return docker_cli("run", "--rm", "-v", f"{sysprobe}:/sysprobe:ro", *args)

    return run


def _status(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(Seccomp|NoNewPrivs):\t(\d+)$", text, re.MULTILINE))


def test_a_default_container_runs_under_dockers_seccomp_profile(probe: Docker) -> None:
    script = (
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status\n"
        "unshare -r -n true; echo unshare $?\n"
        "for p in keyctl add_key personality perf_event_open; do echo $p $(/sysprobe $p); done\n"
    )
    result = probe("busybox", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert _status(result.stdout) == {"Seccomp": "2", "NoNewPrivs": "0"}
    assert result.stdout.splitlines()[2:] == [
        "unshare 1",
        f"keyctl {PERMITTED}",
        f"add_key {PERMITTED}",
        f"personality {PERMITTED}",
        f"perf_event_open {PERMITTED}",
    ]
    assert f"unshare(0x50000000): {PERMITTED}" in result.stderr


def test_a_container_cannot_lift_its_own_limits(docker_cli: Docker, sysprobe: Path) -> None:
    """The way out of --memory and --pids-limit on cgroup v1: a user, mount and cgroup
    namespace of its own, where the hierarchies mount read-write (it works with
    seccomp=unconfined, in Docker too)."""
    escape = (
        "mkdir -p /tmp/v1; unshare -r -m /sysprobe in-cgroupns sh -c '"
        "mount -t cgroup -o memory none /tmp/v1 && echo 100000000 > /tmp/v1/memory.limit_in_bytes;"
        " mount -t cgroup -o pids none /tmp/v1 && echo max > /tmp/v1/pids.max' || echo escape failed\n"
        "mount -o remount,rw /sys/fs/cgroup/memory 2>/dev/null || echo remount failed\n"
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max\n"
    )
    started = docker_cli(
        "run", "-d", "--memory", "64m", "--pids-limit", "50",
        "-v", f"{sysprobe}:/sysprobe:ro", "busybox", "sleep", "300",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    wait_running(docker_cli, cid)
    result = docker_cli("exec", cid, "sh", "-c", escape)
    assert result.stdout == f"escape failed\nremount failed\n{64 << 20}\n50\n"
    host = {
        name: Path(f"/sys/fs/cgroup/{name.split('.')[0]}/dockyard/{cid}/{name}").read_text()
        for name in ("memory.limit_in_bytes", "pids.max")
    }
    assert host == {"memory.limit_in_bytes": f"{64 << 20}\n", "pids.max": "50\n"}


def test_seccomp_unconfined_runs_without_a_filter(probe: Docker, docker_cli: Docker) -> None:
    seccomp = ("busybox", "grep", "Seccomp:", "/proc/self/status")
    # CLI 20.10 knows no "builtin" (it reads a file of that name): the default stands for it.
    named = docker_cli.expects(("--security-opt", "seccomp=builtin"), v20_10=())
    builtin = probe(*named, *seccomp)
    unconfined = probe("--security-opt", "seccomp=unconfined", *seccomp)
    assert (_status(builtin.stdout), _status(unconfined.stdout)) == (
        {"Seccomp": "2"},
        {"Seccomp": "0"},
    )


def test_a_profile_file_is_honoured(probe: Docker, tmp_path: Path) -> None:
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(
        json.dumps(
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}
                ],
            },
            indent=2,
        )
    )
    result = probe(
        "--security-opt",
        f"seccomp={profile}",
        "busybox",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; mkdir /made; echo $?",
    )
    assert result.stdout == "Seccomp:\t2\n1\n"
    assert "can't create directory '/made': Operation not supported" in result.stderr


def test_privileged_means_no_filter_unless_one_is_named(probe: Docker, tmp_path: Path) -> None:
    assert _status(probe("--privileged", "busybox", "cat", "/proc/self/status").stdout) == {
        "Seccomp": "0",
        "NoNewPrivs": "0",
    }
    profile = tmp_path / "allow.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    named = probe(
        "--privileged",
        "--security-opt",
        f"seccomp={profile}",
        "busybox",
        "cat",
        "/proc/self/status",
    )
    assert _status(named.stdout)["Seccomp"] == "2"


def test_no_new_privileges(probe: Docker) -> None:
    for opt, expected in (
        ("no-new-privileges", "1"),
        ("no-new-privileges:true", "1"),
        ("no-new-privileges=false", "0"),
    ):
        result = probe("--security-opt", opt, "busybox", "cat", "/proc/self/status")
        assert _status(result.stdout) == {"Seccomp": "2", "NoNewPrivs": expected}, opt


@pytest.mark.parametrize(
    ("opt", "message"),
    [
        ("anything=else", 'invalid --security-opt 2: "anything=else"'),
        ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
        ("writable-cgroups=perhaps", 'invalid --security-opt 2: "writable-cgroups=perhaps"'),
    ],
)
def test_an_unknown_security_opt_is_refused(docker_cli: Docker, opt: str, message: str) -> None:
    result = docker_cli("run", "--security-opt", opt, "busybox", "true")
    assert result.returncode == 125
    assert result.stderr.startswith(f"docker: Error response from daemon: {message}"), result.stderr
    assert docker_cli("ps", "-aq").stdout == ""


def test_options_docker_accepts_without_apparmor_or_selinux(probe: Docker) -> None:
    result = probe(
        "--security-opt",
        "apparmor=unconfined",
        "--security-opt",
        "label=type:svirt_apache_t",
        "--security-opt",
        "label:disable",
        "--security-opt",
        "writable-cgroups=true",
        "busybox",
        "grep",
        "/sys/fs/cgroup/memory ",
        "/proc/self/mounts",
    )
    assert result.returncode == 0, result.stderr
    assert " rw," in result.stdout


def test_exec_runs_under_the_containers_filter(docker_cli: Docker) -> None:
    started = docker_cli("run", "-d", "--name", "filtered", "busybox", "sleep", "300")
    assert started.returncode == 0, started.stderr
    wait_running(docker_cli, "filtered")
    plain = docker_cli("exec", "filtered", "grep", "Seccomp:", "/proc/self/status")
    # --privileged gives the exec every capability, not a way around the filter (as in Docker).
    privileged = docker_cli(
        "exec",
        "--privileged",
        "filtered",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; unshare -n true",
    )
    assert (plain.stdout, privileged.stdout) == ("Seccomp:\t2\n", "Seccomp:\t2\n")
    assert PERMITTED in privileged.stderr


def test_build_steps_run_under_the_default_profile(
    docker_cli: Docker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    dockerfile = (
        b"FROM busybox\nRUN grep Seccomp: /proc/self/status; unshare -n true || echo refused\n"
    )
    built = docker_cli("build", "-", input=dockerfile)
    assert built.returncode == 0, built.stderr
    assert "Seccomp:\t2\n" in built.stdout
    assert "refused\n" in built.stdout


def test_info_names_the_builtin_profile(docker_cli: Docker, daemon: Daemon) -> None:
    info = docker_cli("info", "--format", "{{json .SecurityOptions}}")
    assert "name=seccomp,profile=builtin" in json.loads(info.stdout)
    assert " seccomp\n   Profile: builtin\n" in docker_cli("info").stdout
    assert " Security Options:\n  seccomp\n   Profile: builtin\n" in daemon.cli("info").stdout


def test_a_container_has_its_own_session_keyring(
    host_session_key: SessionKey, docker_cli: Docker, sysprobe: Path
) -> None:
    """Even with keyctl allowed, the key the host keeps in its session keyring stays out of
    reach: the container's session keyring is a new one, _ses.<id> as runc names it."""
    created = docker_cli(
        "create",
        "--security-opt",
        "seccomp=unconfined",
        "-v",
        f"{sysprobe}:/sysprobe:ro",
        "busybox",
        "sh",
        "-c",
        f"/sysprobe session-keyring; /sysprobe read-key {host_session_key.description}",
    )
    assert created.returncode == 0, created.stderr
    cid = created.stdout.strip()
    result = docker_cli("start", "-a", cid)
    assert result.stdout == f"_ses.{cid}\nRequired key not available\n"
