"""Docker's seccomp profiles, turned into the OCI ``linux.seccomp`` of one container.

A Docker profile (the default one, or the JSON a user gives with
``--security-opt seccomp=FILE``) extends the OCI format with rules that apply
only on some architectures, kernels or capability sets (``includes`` and
``excludes``) and with an ``archMap``. ``to_oci`` resolves them, as moby's
profiles/seccomp ``setupSeccomp`` does, for this host and for a container's
final bounding set, so that runc and the built-in runtime load the same filter.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from dockyard.errors import InvalidArgument

# The host architecture as Go names it (moby matches includes/excludes "arches" on that
# name), and libseccomp's name of it (the key of the profile's "archMap").
_ARCHITECTURES = {
    "x86_64": ("amd64", "SCMP_ARCH_X86_64"),
    "i686": ("x86", "SCMP_ARCH_X86"),
    "aarch64": ("arm64", "SCMP_ARCH_AARCH64"),
    "armv7l": ("arm", "SCMP_ARCH_ARM"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "loongarch64": ("loong64", "SCMP_ARCH_LOONGARCH64"),
}
# The OCI fields a Docker profile shares, copied as they are.
_OCI_FIELDS = ("defaultAction", "defaultErrnoRet", "flags", "listenerPath", "listenerMetadata")
_SYSCALL_FIELDS = ("action", "errnoRet", "args")
_KERNEL_VERSION = re.compile(r"(\d+)\.(\d+)")


def parse(text: str) -> dict[str, Any]:
    """A profile's JSON text (what the docker CLI sends for ``seccomp=FILE``)."""
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise _decoding_error(str(exc)) from None
    if profile is None:  # Go decodes null into an empty profile
        return {}
    if not isinstance(profile, dict):
        raise _decoding_error(f"cannot unmarshal {type(profile).__name__} into a profile")
    return profile


def to_oci(profile: dict[str, Any], bounding: list[str]) -> dict[str, Any] | None:
    """The OCI ``linux.seccomp`` for a container whose bounding set is ``bounding``.

    None when the profile asks for no filter (no default action and no rules).
    """
    syscalls = _rules(profile)
    if not profile.get("defaultAction") and not syscalls:
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    go_arch, native = _ARCHITECTURES.get(os.uname().machine, (os.uname().machine, ""))
    oci: dict[str, Any] = {k: profile[k] for k in _OCI_FIELDS if profile.get(k) is not None}
    oci["architectures"] = list(_list(profile, "architectures"))
    for entry in _list(profile, "archMap"):
        if entry.get("architecture") == native:
            oci["architectures"] += [native, *(entry.get("subArchitectures") or [])]
            break
    oci["syscalls"] = [
        _oci_syscall(rule) for rule in syscalls if _applies(rule, go_arch, set(bounding))
    ]
    return oci


def _oci_syscall(rule: dict[str, Any]) -> dict[str, Any]:
    if rule.get("name"):
        if rule.get("names"):
            raise InvalidArgument(
                "both 'name' and 'names' are specified in the seccomp profile, "
                "use either 'name' or 'names'"
            )
        names = [rule["name"]]
    else:
        names = list(rule.get("names") or [])
    return {"names": names, **{k: rule[k] for k in _SYSCALL_FIELDS if rule.get(k) is not None}}


def _applies(rule: dict[str, Any], arch: str, caps: set[str]) -> bool:
    """moby's filter: an ``excludes`` condition that holds, or an ``includes`` one that
    does not, drops the rule."""
    excludes = rule.get("excludes") or {}
    if arch in (excludes.get("arches") or []):
        return False
    if caps & set(excludes.get("caps") or []):
        return False
    if excludes.get("minKernel") and _kernel_at_least(excludes["minKernel"]):
        return False
    includes = rule.get("includes") or {}
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if not set(includes.get("caps") or []) <= caps:
        return False
    return not (includes.get("minKernel") and not _kernel_at_least(includes["minKernel"]))


def _kernel_at_least(version: Any) -> bool:
    """Compare "<kernel>.<major>" with the running kernel, minor revisions ignored
    ("3.12.25-gentoo" and "3.12-1-amd64" are both 3.12)."""
    wanted = _KERNEL_VERSION.fullmatch(str(version))
    if wanted is None or wanted.group(1, 2) == ("0", "0"):
        raise _decoding_error(f'invalid kernel version: "{version}", expected "<kernel>.<major>"')
    running = _KERNEL_VERSION.match(os.uname().release)
    if running is None:
        return False
    return (int(running[1]), int(running[2])) >= (int(wanted[1]), int(wanted[2]))


def _list(profile: dict[str, Any], key: str) -> list[Any]:
    value = profile.get(key) or []
    if not isinstance(value, list):
        raise _decoding_error(f'"{key}" must be a list')
    return value


def _rules(profile: dict[str, Any]) -> list[dict[str, Any]]:
    rules = _list(profile, "syscalls")
    if not all(isinstance(rule, dict) for rule in rules):
        raise _decoding_error('each of "syscalls" must be an object')
    return rules


def _decoding_error(detail: str) -> InvalidArgument:
    return InvalidArgument(f"Decoding seccomp profile failed: {detail}")
