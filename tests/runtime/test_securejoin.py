"""secure_join: symlinks in an image resolve inside its rootfs, never outside."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.runtime.securejoin import secure_join


def test_plain_path(tmp_path: Path) -> None:
    assert secure_join(str(tmp_path), "/a/b/../c") == f"{tmp_path}/a/c"


def test_absolute_symlink_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").symlink_to("/host/etc")
    assert secure_join(str(tmp_path), "/etc/passwd") == f"{tmp_path}/host/etc/passwd"


def test_dotdot_symlink_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "up").symlink_to("../../../../..")
    assert secure_join(str(tmp_path), "/a/up/tmp") == f"{tmp_path}/tmp"


def test_symlink_chain(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "one").symlink_to("two")
    (tmp_path / "two").symlink_to("/real")
    assert secure_join(str(tmp_path), "one/file") == f"{tmp_path}/real/file"


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    try:
        secure_join(str(tmp_path), "/loop/x")
    except OSError as exc:
        assert exc.errno == 40  # ELOOP
    else:
        raise AssertionError("a symlink loop resolved")


def test_missing_components_are_kept(tmp_path: Path) -> None:
    assert secure_join(str(tmp_path), "/not/there") == os.path.join(tmp_path, "not", "there")
