"""The user's subordinate id ranges, from /etc/subuid and /etc/subgid (subuid(5))."""

from __future__ import annotations

import pwd
from dataclasses import dataclass

from dockyard.errors import SystemError

SUBUID_FILE = "/etc/subuid"
SUBGID_FILE = "/etc/subgid"
# As rootlesskit: fewer than this many ids cannot hold an image's usual users (nobody: 65534).
MIN_COUNT = 65536


@dataclass(frozen=True)
class IdRange:
    start: int
    count: int


def ranges_for(uid: int) -> tuple[IdRange, IdRange]:
    """The (uid, gid) ranges this user may map, each the first of its file naming them."""
    entry = pwd.getpwuid(uid)
    return (
        _first_range(SUBUID_FILE, entry.pw_name, uid),
        _first_range(SUBGID_FILE, entry.pw_name, uid),
    )


def _first_range(path: str, name: str, uid: int) -> IdRange:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in (name, str(uid)):
            continue
        try:
            found = IdRange(int(fields[1]), int(fields[2]))
        except ValueError:
            continue
        if found.count < MIN_COUNT:
            raise SystemError(
                f"{path}: the range of {name} has {found.count} ids; rootless mode needs at "
                f"least {MIN_COUNT} (e.g. usermod --add-subuids 100000-165535 {name})"
            )
        return found
    raise SystemError(
        f"no range for {name} in {path}: rootless mode needs one "
        f"(usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name})"
    )
