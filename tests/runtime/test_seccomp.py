"""The built-in runtime installs the spec's seccomp filter and keeps containers' keyrings apart."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dockyard.runtime import container

from ..conftest import SessionKey
from .conftest import Bundle, exit_status

PROBES = (
    "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status\n"
    "unshare -r -n true 2>/dev/null; echo unshare $?\n"
    "for probe in keyctl add_key personality perf_event_open; do\n"
    '  echo "$probe $(/sysprobe $probe)"\n'
    "done\n"
)
PERMITTED = "Operation not permitted"


def _user_namespaces_possible() -> str:
    """What `unshare -r` gives where no filter stops it: 0 on most hosts, 1 where this
    suite runs under a chroot (the kernel refuses a new user namespace in a chroot,
    and a container of a chrooted engine is chrooted too)."""
    host = subprocess.run(["unshare", "-r", "true"], capture_output=True, check=False)
    return "0" if host.returncode == 0 else "1"


UNFILTERED_UNSHARE = _user_namespaces_possible()


@pytest.fixture
def probing(bundle: Bundle, sysprobe: Path) -> Bundle:
    shutil.copy(sysprobe, bundle.rootfs / "sysprobe")
    (bundle.rootfs / "probes.sh").write_text(PROBES)
    return bundle


def _probe(bundle: Bundle, **options: object) -> dict[str, str]:
    result = bundle.run(["sh", "/probes.sh"], **options)
    assert (result.status, result.err) == (0, "")
    return dict(line.replace(":\t", " ").split(" ", 1) for line in result.out.splitlines())


def test_the_default_profile_refuses_what_docker_refuses(probing: Bundle) -> None:
    assert _probe(probing) == {
        "Seccomp": "2",
        "NoNewPrivs": "0",
        "unshare": "1",  # a user namespace: full capabilities again, and more
        "keyctl": PERMITTED,  # the kernel keyrings are not namespaced
        "add_key": PERMITTED,
        "personality": PERMITTED,
        "perf_event_open": PERMITTED,
    }


def test_without_a_profile_nothing_is_filtered(probing: Bundle) -> None:
    probed = _probe(probing, seccomp=None)
    expected = ("0", UNFILTERED_UNSHARE, "ok")
    assert (probed["Seccomp"], probed["unshare"], probed["keyctl"]) == expected


def test_rules_behind_a_capability_follow_the_bounding_set(probing: Bundle) -> None:
    probed = _probe(probing, cap_add=["CAP_SYS_ADMIN", "CAP_PERFMON"])
    expected = ("2", UNFILTERED_UNSHARE, "ok")
    assert (probed["Seccomp"], probed["unshare"], probed["perf_event_open"]) == expected
    assert probed["keyctl"] == PERMITTED  # in no list, whatever the capabilities


def test_the_filter_goes_on_with_no_new_privileges(probing: Bundle) -> None:
    probed = _probe(probing, no_new_privileges=True)
    assert (probed["Seccomp"], probed["NoNewPrivs"], probed["unshare"]) == ("2", "1", "1")


def test_a_profiles_errno_is_what_the_process_gets(bundle: Bundle) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95},
            {"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"},  # skipped, as by runc
        ],
    }
    result = bundle.run(["sh", "-c", "mkdir /made || echo refused"], seccomp=profile)
    assert (result.status, result.out) == (0, "refused\n")
    assert os.strerror(95) in result.err


def test_exec_runs_under_the_containers_filter(bundle: Bundle) -> None:
    spec = bundle.spec(["sleep", "60"])
    init = bundle.create(spec)
    try:
        init.start()
        out_path = bundle.path / "exec-out"
        with open(out_path, "w+b") as out, open(os.devnull, "rb") as null:
            pid = container.exec_process(
                init.pid,
                {**spec["process"], "args": ["grep", "^Seccomp:", "/proc/self/status"]},
                container.Stdio(null.fileno(), out.fileno(), out.fileno()),
                bundle.cgroups_path,
                container_id=bundle.name,
                seccomp=spec["linux"]["seccomp"],
            )
        assert exit_status(os.waitpid(pid, 0)[1]) == 0
        assert out_path.read_text() == "Seccomp:\t2\n"
    finally:
        os.kill(init.pid, 9)
        os.waitpid(init.pid, 0)
        container.delete(bundle.path)


def test_a_container_has_its_own_session_keyring(
    probing: Bundle, host_session_key: SessionKey
) -> None:
    script = f"/sysprobe session-keyring; /sysprobe read-key {host_session_key.description}"
    result = probing.run(["sh", "-c", script], seccomp=None)
    assert result.out == f"_ses.{probing.name}\nRequired key not available\n"
