"""Root: every path resolves inside the directory, whatever its symlinks say."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from dockyard.tarfs.root import Root, components


def test_components_are_cleaned_as_if_absolute() -> None:
    assert components("../a/./b//c/../d/") == ["a", "b", "d"]
    assert components("/") == components("") == components("..") == []


def test_symlinks_absolute_or_climbing_resolve_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("inside\n")
    (tmp_path / "abs").symlink_to("/etc")
    (tmp_path / "up").symlink_to("../../../../..")
    with Root(tmp_path) as root:
        assert root.read(["abs", "passwd"]) == b"inside\n"
        assert root.read(["up", "etc", "passwd"]) == b"inside\n"
        assert root.resolve("/up/abs/passwd") == ["etc", "passwd"]
        assert root.lstat(["abs"]).st_size == len("/etc")


def test_strict_refuses_any_symlink_on_the_way(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with Root(tmp_path, strict=True) as root:
        os.close(root.directory(["real"]))
        with pytest.raises(OSError) as refused:
            root.directory(["link"])
        assert refused.value.errno == errno.ELOOP


def test_missing_directories_are_made_inside_even_behind_a_dangling_link(
    tmp_path: Path,
) -> None:
    root_dir, outside = tmp_path / "root", tmp_path / "outside"
    root_dir.mkdir()
    (root_dir / "dangling").symlink_to(outside)
    with Root(root_dir) as root:
        os.close(root.directory(["dangling", "deeper"], create=True))
    assert not outside.exists()
    assert (root_dir / str(outside).lstrip("/") / "deeper").is_dir()


def test_reading_a_fifo_neither_hangs_nor_succeeds(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "Dockerfile")
    with Root(tmp_path) as root, pytest.raises(IsADirectoryError):
        root.read(["Dockerfile"])
