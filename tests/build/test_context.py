"""The build context: COPY sources, .dockerignore, and content digests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.build.context import FileHasher, SourceTree
from dockyard.build.dockerignore import IgnoreMatcher
from dockyard.errors import InvalidArgument


@pytest.fixture
def tree(tmp_path: Path) -> SourceTree:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print(1)\n")
    (tmp_path / "src" / "util.py").write_text("x = 1\n")
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "b.txt").write_text("b\n")
    (tmp_path / "secret.key").write_text("k\n")
    (tmp_path / "link").symlink_to("src/main.py")
    (tmp_path / "escape").symlink_to("/etc/hostname")
    return SourceTree(tmp_path, IgnoreMatcher(["*.key"]), FileHasher())


def test_a_file_and_a_directory(tree: SourceTree) -> None:
    [file] = tree.sources("a.txt")
    assert (file.name, file.is_dir) == ("a.txt", False)
    [directory] = tree.sources("./src/")
    assert (directory.name, directory.is_dir) == ("src", True)


def test_wildcards_stay_in_one_component(tree: SourceTree) -> None:
    assert [s.name for s in tree.sources("*.txt")] == ["a.txt", "b.txt"]
    assert [s.name for s in tree.sources("src/*.py")] == ["src/main.py", "src/util.py"]
    assert tree.sources("*.py") == []


def test_ignored_files_do_not_exist(tree: SourceTree) -> None:
    with pytest.raises(InvalidArgument, match="excluded by .dockerignore: stat secret.key"):
        tree.sources("secret.key")
    assert [s.name for s in tree.sources("secret*")] == []


def test_missing_file(tree: SourceTree) -> None:
    with pytest.raises(InvalidArgument, match="file not found in build context"):
        tree.sources("nope.txt")


def test_paths_outside_the_context(tree: SourceTree) -> None:
    with pytest.raises(InvalidArgument, match="forbidden path outside the build context: ../x"):
        tree.sources("../x")
    # An absolute symlink is resolved inside the context, never on the host.
    with pytest.raises(InvalidArgument, match="file not found in build context"):
        tree.sources("escape")


def test_a_symlink_source_is_followed_inside_the_context(tree: SourceTree) -> None:
    [source] = tree.sources("link")
    assert source.name == "link"
    assert source.path == tree.root / "src" / "main.py"


def test_digests_cover_content_and_mode_not_mtime(tree: SourceTree) -> None:
    [source] = tree.sources("src")
    before = tree.digests(source)
    assert set(before) == {"src", "src/main.py", "src/util.py"}
    os.utime(tree.root / "src" / "main.py", (1, 1))
    assert tree.digests(source) == before
    (tree.root / "src" / "main.py").chmod(0o755)
    after_mode = tree.digests(source)
    assert after_mode["src/main.py"] != before["src/main.py"]
    (tree.root / "src" / "util.py").write_text("x = 2\n")
    assert tree.digests(source)["src/util.py"] != after_mode["src/util.py"]


def test_ignored_files_are_left_out_of_directories(tree: SourceTree) -> None:
    [root] = tree.sources(".")
    names = {rel for rel, _, _ in tree.walk(root)}
    assert "secret.key" not in names
    assert {"a.txt", "src", "src/main.py", "link"} <= names


def test_hasher_reads_a_file_again_only_when_its_stat_changes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("one")
    hasher = FileHasher()
    first = hasher.digest(path, path.stat())
    path.write_text("two")
    assert hasher.digest(path, path.stat()) != first
