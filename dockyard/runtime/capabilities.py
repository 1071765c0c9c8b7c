"""Linux capability names and numbers, Docker's default set and its --cap-add/--cap-drop rules."""

from __future__ import annotations

from dockyard.errors import InvalidArgument, with_context

# Numbers from linux/capability.h, in order.
NUMBERS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_DAC_READ_SEARCH",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETPCAP",
            "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST",
            "CAP_NET_ADMIN",
            "CAP_NET_RAW",
            "CAP_IPC_LOCK",
            "CAP_IPC_OWNER",
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_SYS_CHROOT",
            "CAP_SYS_PTRACE",
            "CAP_SYS_PACCT",
            "CAP_SYS_ADMIN",
            "CAP_SYS_BOOT",
            "CAP_SYS_NICE",
            "CAP_SYS_RESOURCE",
            "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG",
            "CAP_MKNOD",
            "CAP_LEASE",
            "CAP_AUDIT_WRITE",
            "CAP_AUDIT_CONTROL",
            "CAP_SETFCAP",
            "CAP_MAC_OVERRIDE",
            "CAP_MAC_ADMIN",
            "CAP_SYSLOG",
            "CAP_WAKE_ALARM",
            "CAP_BLOCK_SUSPEND",
            "CAP_AUDIT_READ",
            "CAP_PERFMON",
            "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE",
        )
    )
}

# moby's caps.DefaultCapabilities(), in its order.
DOCKER_DEFAULT = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        return int(f.read())


def mask(names: list[str]) -> int:
    """A bit mask of the named capabilities; names this runtime does not know are skipped, like runc."""
    bits = 0
    for name in names:
        number = NUMBERS.get(name)
        if number is not None:
            bits |= 1 << number
    return bits


def _normalize(names: list[str]) -> list[str]:
    known = all_capabilities()
    normalized = []
    for raw in names:
        name = raw.upper()
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != "ALL" and name not in NUMBERS:
            raise InvalidArgument(f'unknown capability: "{name}"')
        if name != "ALL" and name not in known:
            raise InvalidArgument(
                f'capability not supported by your kernel or not available in the current environment: "{name}"'
            )
        normalized.append(name)
    return normalized


def _effective() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"CapEff:"):
                return int(line.split()[1], 16)
    return 0


def validate(cap_add: list[str], cap_drop: list[str]) -> None:
    """Refuse a name that is no capability, as moby does at create (validateCapabilities)."""
    for field, names in (("CapAdd", cap_add), ("CapDrop", cap_drop)):
        try:
            _normalize(names)
        except InvalidArgument as e:
            raise with_context(e, f"invalid {field}") from None


def all_capabilities() -> list[str]:
    """What --privileged and ALL mean: the capabilities we hold ourselves (moby's
    GetAllCapabilities); a container cannot be given more than its engine has."""
    effective = _effective()
    return [name for name, number in NUMBERS.items() if effective >> number & 1]


def tweak(cap_add: list[str], cap_drop: list[str]) -> list[str]:
    """Docker's default set changed by --cap-add / --cap-drop (moby caps.TweakCapabilities)."""
    if not cap_add and not cap_drop:
        return list(DOCKER_DEFAULT)
    drops = _normalize(cap_drop)
    adds = _normalize(cap_add)
    if "ALL" in adds:
        return [c for c in all_capabilities() if c not in drops]
    if "ALL" in drops:
        return [c for c in adds if c != "ALL"]
    kept = [c for c in DOCKER_DEFAULT if c not in drops]
    return kept + [c for c in adds if c not in kept]
