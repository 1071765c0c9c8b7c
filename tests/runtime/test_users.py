"""resolve_user: --user against the image's /etc/passwd and /etc/group."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.runtime.users import resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
"""
GROUP = """root:x:0:
wheel:x:10:root,app
staff:x:50:app
app:x:1000:
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return tmp_path


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", (0, 0, [0, 10])),
        ("root", (0, 0, [0, 10])),
        ("app", (1000, 1000, [1000, 10, 50])),
        ("1000", (1000, 1000, [1000, 10, 50])),
        ("app:staff", (1000, 50, [50])),
        ("app:0", (1000, 0, [0])),
        ("4242", (4242, 0, [0])),
        ("4242:4343", (4242, 4343, [4343])),
    ],
)
def test_resolve(rootfs: Path, user: str, expected: tuple[int, int, list[int]]) -> None:
    assert resolve_user(rootfs, user) == expected


def test_unknown_user(rootfs: Path) -> None:
    with pytest.raises(
        InvalidArgument, match="^unable to find user nobody: no matching entries in passwd file$"
    ):
        resolve_user(rootfs, "nobody")


def test_unknown_group(rootfs: Path) -> None:
    with pytest.raises(
        InvalidArgument, match="^unable to find group nogroup: no matching entries in group file$"
    ):
        resolve_user(rootfs, "app:nogroup")


def test_no_passwd_file(tmp_path: Path) -> None:
    assert resolve_user(tmp_path, "") == (0, 0, [0])
    assert resolve_user(tmp_path, "123:45") == (123, 45, [45])
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        resolve_user(tmp_path, "app")


def test_etc_symlink_does_not_escape_the_rootfs(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "etc").symlink_to("/elsewhere")  # were it followed naively: the host's /elsewhere
    (rootfs / "elsewhere").mkdir()
    (rootfs / "elsewhere" / "passwd").write_text("someone:x:7:7::/:/bin/sh\n")
    assert resolve_user(rootfs, "someone") == (7, 7, [7])
    with pytest.raises(InvalidArgument):
        resolve_user(rootfs, "root")  # in the host's /etc/passwd, not in the image's


def test_out_of_range_uid(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match="uids and gids must be in range"):
        resolve_user(rootfs, str(2**31))


@pytest.mark.parametrize(
    ("user", "group_add", "expected"),
    [
        ("", ["staff"], [0, 10, 50]),
        ("app", ["app", "4242", "staff"], [1000, 10, 50, 1000, 4242, 50]),
        ("app:staff", ["10", "4242", "4242"], [50, 10, 4242]),
        ("4242", ["staff", "50"], [0, 50]),
    ],
)
def test_group_add(rootfs: Path, user: str, group_add: list[str], expected: list[int]) -> None:
    """moby's GetAdditionalGroups: names or gids of the image's groups, or any gid, each once."""
    assert resolve_user(rootfs, user, group_add)[2] == expected


def test_group_add_of_an_unknown_name(rootfs: Path) -> None:
    with pytest.raises(
        InvalidArgument, match="^Unable to find group audio: no matching entries in group file$"
    ):
        resolve_user(rootfs, "", ["audio"])
    with pytest.raises(InvalidArgument, match="uids and gids must be in range"):
        resolve_user(rootfs, "", [str(2**31)])
    # moby's quirk, kept: a group named twice (by gid, then by name) is not found the second time
    with pytest.raises(InvalidArgument, match="^Unable to find group wheel: "):
        resolve_user(rootfs, "", ["10", "wheel"])
