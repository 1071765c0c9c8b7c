"""HostConfig.SecurityOpt as moby reads it (daemon_unix.go parseSecurityOpt), and the
seccomp profile a container gets from it (daemon/seccomp_linux.go WithSeccomp).

The options: ``seccomp=unconfined|builtin|<profile JSON>`` (the docker CLI
sends a profile file's content), ``no-new-privileges[=BOOL]``,
``writable-cgroups[=BOOL]``, ``apparmor=...`` and ``label=...`` (or a bare
``disable``), ``:`` for ``=`` being the old spelling. This engine's host has
neither AppArmor nor SELinux, where Docker accepts those two and applies
nothing; so do we. Anything else is refused with moby's error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.runtime import seccomp_profile
from dockyard.runtime.seccomp_default import default_profile
from dockyard.units import parse_bool

SECCOMP_DEFAULT = "builtin"
SECCOMP_UNCONFINED = "unconfined"


@dataclass
class SecurityOptions:
    no_new_privileges: bool = False
    seccomp: str = ""  # "", "builtin", "unconfined" or a profile's JSON text
    writable_cgroups: bool | None = None  # None: as privileged


def parse(options: list[str] | None) -> SecurityOptions:
    """The container's SecurityOpt list; InvalidArgument with moby's message if bad."""
    parsed = SecurityOptions()
    for opt in options or []:
        if opt == "no-new-privileges":
            parsed.no_new_privileges = True
            continue
        if opt == "writable-cgroups":
            parsed.writable_cgroups = True
            continue
        if opt == "disable":  # a label option
            continue
        separator = "=" if "=" in opt else ":" if ":" in opt else ""
        if not separator:
            raise InvalidArgument(f"invalid --security-opt 1: {_quote(opt)}")
        key, _, value = opt.partition(separator)
        if key in ("label", "apparmor"):
            continue  # nothing to apply without SELinux or AppArmor, as for Docker
        if key == "seccomp":
            parsed.seccomp = value
        elif key == "no-new-privileges":
            parsed.no_new_privileges = _go_bool(value, opt)
        elif key == "writable-cgroups":
            parsed.writable_cgroups = _go_bool(value, opt)
        else:
            raise InvalidArgument(f"invalid --security-opt 2: {_quote(opt)}")
    return parsed


def seccomp(
    options: SecurityOptions, privileged: bool, daemon_profile: str = SECCOMP_DEFAULT
) -> dict[str, Any] | None:
    """The Docker-format profile the container runs under; None for no filter.

    A container naming no profile gets the daemon's (``daemon_profile``: "builtin",
    "unconfined" or a profile's JSON text, dockerd's seccomp-profile). --privileged
    means no filter unless a profile is named (moby then loads even "builtin" as
    JSON, which fails: kept, as Docker answers so).
    """
    if privileged and not options.seccomp:
        return None
    chosen = options.seccomp or daemon_profile
    if chosen == SECCOMP_UNCONFINED:
        return None
    if chosen == SECCOMP_DEFAULT and not privileged:
        return default_profile()
    return seccomp_profile.parse(chosen)


def _go_bool(value: str, opt: str) -> bool:
    try:
        return parse_bool(value)
    except InvalidArgument:
        raise InvalidArgument(f"invalid --security-opt 2: {_quote(opt)}") from None


def _quote(text: str) -> str:
    """Go's %q, for the printable text an option is."""
    return json.dumps(text, ensure_ascii=False)
