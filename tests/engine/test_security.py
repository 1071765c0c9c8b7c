"""HostConfig.SecurityOpt as moby's parseSecurityOpt reads it, and the profile it selects."""

from __future__ import annotations

import pytest

from dockyard.engine import security
from dockyard.engine.security import SecurityOptions
from dockyard.errors import InvalidArgument
from dockyard.runtime.seccomp_default import default_profile


@pytest.mark.parametrize(
    ("options", "parsed"),
    [
        (None, SecurityOptions()),
        (["no-new-privileges"], SecurityOptions(no_new_privileges=True)),
        (["no-new-privileges=true"], SecurityOptions(no_new_privileges=True)),
        (["no-new-privileges:1"], SecurityOptions(no_new_privileges=True)),  # the old spelling
        (["no-new-privileges", "no-new-privileges=F"], SecurityOptions()),  # the last one wins
        (["writable-cgroups"], SecurityOptions(writable_cgroups=True)),
        (["writable-cgroups=false"], SecurityOptions(writable_cgroups=False)),
        (["seccomp=unconfined"], SecurityOptions(seccomp="unconfined")),
        (
            ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'],
            SecurityOptions(seccomp='{"defaultAction":"SCMP_ACT_ALLOW"}'),
        ),
        # Nothing to apply on a host without AppArmor or SELinux, where Docker accepts them.
        (
            ["apparmor=docker-default", "label=level:s0:c100", "label:disable", "disable"],
            SecurityOptions(),
        ),
    ],
)
def test_options_docker_accepts(options: list[str] | None, parsed: SecurityOptions) -> None:
    assert security.parse(options) == parsed


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("anything", 'invalid --security-opt 1: "anything"'),
        ("anything=else", 'invalid --security-opt 2: "anything=else"'),
        ("no-new-privileges=yes", 'invalid --security-opt 2: "no-new-privileges=yes"'),
        ("writable-cgroups:on", 'invalid --security-opt 2: "writable-cgroups:on"'),
        ('x="quoted"', 'invalid --security-opt 2: "x=\\"quoted\\""'),
    ],
)
def test_other_options_are_refused_with_mobys_message(option: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        security.parse(["no-new-privileges", option])
    assert caught.value.message == message


def test_the_default_profile_unless_told_otherwise() -> None:
    assert security.seccomp(SecurityOptions(), privileged=False) == default_profile()
    assert (
        security.seccomp(SecurityOptions(seccomp="builtin"), privileged=False) == default_profile()
    )
    assert security.seccomp(SecurityOptions(seccomp="unconfined"), privileged=False) is None
    profile = security.seccomp(SecurityOptions(seccomp='{"defaultAction":"SCMP_ACT_LOG"}'), False)
    assert profile == {"defaultAction": "SCMP_ACT_LOG"}


def test_privileged_runs_unfiltered_unless_a_profile_is_given() -> None:
    assert security.seccomp(SecurityOptions(), privileged=True) is None
    given = SecurityOptions(seccomp='{"defaultAction":"SCMP_ACT_ALLOW"}')
    assert security.seccomp(given, privileged=True) == {"defaultAction": "SCMP_ACT_ALLOW"}
    # moby loads a named profile as JSON when privileged, "builtin" included.
    with pytest.raises(InvalidArgument, match="^Decoding seccomp profile failed: "):
        security.seccomp(SecurityOptions(seccomp="builtin"), privileged=True)


def test_a_profile_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="^Decoding seccomp profile failed: "):
        security.seccomp(SecurityOptions(seccomp="/etc/profile.json"), privileged=False)
