"""`--user` resolution against the image's /etc/passwd and /etc/group (runc's libcontainer/user)."""

from __future__ import annotations

from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.runtime.securejoin import secure_join

_MAX_ID = 2**31 - 1


def _entries(rootfs: Path, name: str) -> list[list[str]] | None:
    """The colon-separated lines of rootfs/etc/<name>, or None when the file is missing."""
    try:
        with open(
            secure_join(str(rootfs), f"/etc/{name}"), encoding="utf-8", errors="replace"
        ) as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return [line.split(":") for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _number(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _in_range(value: int) -> int:
    if not 0 <= value <= _MAX_ID:
        raise InvalidArgument(f"uids and gids must be in range 0-{_MAX_ID}")
    return value


def _field(entry: list[str], index: int) -> str:
    return entry[index] if len(entry) > index else ""


def resolve_user(
    rootfs: Path, user: str, group_add: list[str] | None = None
) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for ``user``: "", "name", "uid", "name:group" or "uid:gid".

    The additional gids are what Docker puts in the OCI spec: the primary gid
    first, then the groups that list the user as a member (only when no group
    is given explicitly), then the ``--group-add`` groups.
    """
    user_arg, _, group_arg = user.partition(":")
    uid, gid, name = _find_user(_entries(rootfs, "passwd"), user_arg)
    groups = _entries(rootfs, "group") or []
    supplementary: list[int] = []
    if group_arg:
        gid = _find_group(groups, group_arg)
    elif name:
        supplementary = [
            g
            for entry in groups
            if name in _field(entry, 3).split(",")
            if (g := _number(_field(entry, 2))) is not None
        ]
    return uid, gid, [gid, *supplementary, *_added_groups(groups, group_add or [])]


def _added_groups(groups: list[list[str]], wanted: list[str]) -> list[int]:
    """``--group-add`` values: group names or gids of the image's /etc/group, or any gid.

    As moby's user.GetAdditionalGroups: each value once, an unknown name is an error.
    """
    found: list[int] = []
    for value in wanted:
        gid = next(
            (
                entry_gid
                for entry in groups
                if (entry_gid := _number(_field(entry, 2))) is not None
                and value in (entry[0], str(entry_gid))
                and entry_gid not in found
            ),
            None,
        )
        if gid is None:
            number = _number(value)
            if number is None:
                raise InvalidArgument(
                    f"Unable to find group {value}: no matching entries in group file"
                )
            gid = _in_range(number)
        if gid not in found:
            found.append(gid)
    return found


def _find_user(passwd: list[list[str]] | None, user_arg: str) -> tuple[int, int, str]:
    """(uid, gid, matched name) for the user part of --user."""
    wanted = _number(user_arg) if user_arg else 0
    for entry in passwd or []:
        entry_uid = _number(_field(entry, 2))
        matches = entry[0] == user_arg if wanted is None else entry_uid == wanted
        if matches and entry_uid is not None:
            return entry_uid, _number(_field(entry, 3)) or 0, entry[0]
    if wanted is None:
        raise InvalidArgument(f"unable to find user {user_arg}: no matching entries in passwd file")
    return _in_range(wanted), 0, ""


def _find_group(groups: list[list[str]], group_arg: str) -> int:
    wanted = _number(group_arg)
    for entry in groups:
        entry_gid = _number(_field(entry, 2))
        if entry_gid is not None and (
            entry[0] == group_arg if wanted is None else entry_gid == wanted
        ):
            return entry_gid
    if wanted is None:
        raise InvalidArgument(
            f"unable to find group {group_arg}: no matching entries in group file"
        )
    return _in_range(wanted)
