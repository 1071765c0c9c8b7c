"""Docker seccomp profiles resolved into a container's OCI linux.seccomp (moby's setupSeccomp)."""

from __future__ import annotations

import os

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime import capabilities
from dockyard.runtime.seccomp_default import default_profile
from dockyard.runtime.seccomp_profile import parse, to_oci

DEFAULT_CAPS = list(capabilities.DOCKER_DEFAULT)
ALLOW = "SCMP_ACT_ALLOW"


def _names(oci: dict | None, action: str = ALLOW) -> set[str]:
    assert oci is not None
    return {
        name
        for rule in oci["syscalls"]
        if rule["action"] == action and not rule.get("args")
        for name in rule["names"]
    }


def test_the_default_profile_for_dockers_default_capabilities() -> None:
    oci = to_oci(default_profile(), DEFAULT_CAPS)
    assert oci is not None
    assert (oci["defaultAction"], oci["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 1)
    allowed = _names(oci)
    assert {"read", "execve", "ptrace"} <= allowed  # ptrace: from kernel 4.8 on
    assert not {"unshare", "setns", "mount", "keyctl", "add_key", "bpf", "clone3"} & allowed
    assert {"arch_prctl", "modify_ldt"} <= allowed  # x86 only
    assert not {"cacheflush", "s390_runtime_instr"} & allowed
    (clone3,) = [r for r in oci["syscalls"] if r["names"] == ["clone3"]]
    assert clone3 == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    (clone,) = [r for r in oci["syscalls"] if r["names"] == ["clone"]]
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]
    if os.uname().machine == "x86_64":
        assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def test_capabilities_open_their_syscalls() -> None:
    oci = to_oci(default_profile(), [*DEFAULT_CAPS, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"])
    allowed = _names(oci)
    assert {"unshare", "setns", "mount", "clone", "clone3", "kcmp", "pidfd_getfd"} <= allowed
    assert "keyctl" not in allowed
    assert not [r for r in oci["syscalls"] if r["names"] == ["clone3"] and r["action"] != ALLOW]


def test_includes_and_excludes() -> None:
    machine_arch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["a"], "action": ALLOW, "includes": {"arches": [machine_arch]}},
            {"names": ["b"], "action": ALLOW, "includes": {"arches": ["s390x"]}},
            {"names": ["c"], "action": ALLOW, "excludes": {"arches": [machine_arch]}},
            {"names": ["d"], "action": ALLOW, "includes": {"minKernel": "3.0"}},
            {"names": ["e"], "action": ALLOW, "includes": {"minKernel": "99.0"}},
            {"names": ["f"], "action": ALLOW, "excludes": {"minKernel": "3.0"}},
            {"names": ["g"], "action": ALLOW, "includes": {"caps": ["CAP_CHOWN", "CAP_KILL"]}},
            {"names": ["h"], "action": ALLOW, "includes": {"caps": ["CAP_CHOWN", "CAP_BPF"]}},
            {"names": ["i"], "action": ALLOW, "excludes": {"caps": ["CAP_BPF", "CAP_KILL"]}},
            {"name": "j", "action": ALLOW},
        ],
    }
    assert _names(to_oci(profile, ["CAP_CHOWN", "CAP_KILL"])) == {"a", "d", "g", "j"}


def test_a_profile_without_default_action_or_rules_means_no_filter() -> None:
    assert to_oci({}, DEFAULT_CAPS) is None
    assert to_oci(parse("null"), DEFAULT_CAPS) is None
    assert to_oci(parse('{"defaultAction": "SCMP_ACT_ALLOW"}'), DEFAULT_CAPS) == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": [],
        "syscalls": [],
    }


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],'
            ' "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}',
            "both 'architectures' and 'archMap' are specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'",
        ),
        (
            '{"syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}',
            "both 'name' and 'names' are specified in the seccomp profile, "
            "use either 'name' or 'names'",
        ),
        (
            '{"syscalls": {"names": []}}',
            'Decoding seccomp profile failed: "syscalls" must be a list',
        ),
        (
            '{"syscalls": [{"names": ["a"], "includes": {"minKernel": "4"}}]}',
            'Decoding seccomp profile failed: invalid kernel version: "4", expected "<kernel>.<major>"',
        ),
        ("[1]", "Decoding seccomp profile failed: cannot unmarshal list into a profile"),
        ("{", "Decoding seccomp profile failed: "),
    ],
)
def test_bad_profiles_are_refused(profile: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        to_oci(parse(profile), DEFAULT_CAPS)
    assert caught.value.message.startswith(message)
