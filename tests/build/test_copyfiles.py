"""COPY/ADD placement rules: directories, trailing slashes, owners, modes, archives."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.build.chmod import parse_chmod
from dockyard.build.context import FileHasher, SourceTree
from dockyard.build.copyfiles import (
    ROOT_OWNER,
    CopyOptions,
    Owner,
    copy_sources,
    destination,
    parse_chown,
)
from dockyard.build.dockerignore import IgnoreMatcher
from dockyard.errors import InvalidArgument

COPY = CopyOptions(ROOT_OWNER, None)


@pytest.fixture
def context(tmp_path: Path) -> SourceTree:
    ctx = tmp_path / "ctx"
    (ctx / "dir" / "sub").mkdir(parents=True)
    (ctx / "dir" / "a.txt").write_text("a")
    (ctx / "dir" / "sub" / "b.txt").write_text("b")
    (ctx / "dir" / "skip.tmp").write_text("skip")
    (ctx / "one.txt").write_text("one")
    (ctx / "one.txt").chmod(0o640)
    os.utime(ctx / "one.txt", (1_000_000, 1_000_000))
    return SourceTree(ctx, IgnoreMatcher(["**/*.tmp"]), FileHasher())


@pytest.fixture
def image(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\n")
    (root / "existing").mkdir()
    return root


def test_destination_rules() -> None:
    assert destination("/", "app") == "/app"
    assert destination("/srv", "app/") == "/srv/app/"
    assert destination("/srv", ".") == "/srv/"
    assert destination("/srv", "/abs//x/../y") == "/abs/y"


def test_a_directory_copies_its_contents(context: SourceTree, image: Path) -> None:
    copy_sources(image, context, context.sources("dir"), "/app", COPY)
    assert sorted(p.name for p in (image / "app").iterdir()) == ["a.txt", "sub"]
    assert (image / "app" / "sub" / "b.txt").read_text() == "b"


def test_a_file_into_a_slash_or_an_existing_directory(context: SourceTree, image: Path) -> None:
    copy_sources(image, context, context.sources("one.txt"), "/new/", COPY)
    copy_sources(image, context, context.sources("one.txt"), "/existing", COPY)
    copy_sources(image, context, context.sources("one.txt"), "/renamed.txt", COPY)
    assert (image / "new" / "one.txt").read_text() == "one"
    assert (image / "existing" / "one.txt").read_text() == "one"
    assert (image / "renamed.txt").read_text() == "one"


def test_mode_and_mtime_kept_owner_root(context: SourceTree, image: Path) -> None:
    os.chown(context.root / "one.txt", 123, 456)
    copy_sources(image, context, context.sources("one.txt"), "/x", COPY)
    st = (image / "x").stat()
    assert (st.st_mode & 0o777, st.st_mtime, st.st_uid, st.st_gid) == (0o640, 1_000_000, 0, 0)


def test_chown_and_chmod(context: SourceTree, image: Path) -> None:
    owner = parse_chown("app:staff", image)
    assert owner == Owner(1000, 50)
    assert parse_chown("app", image) == Owner(1000, 1001)
    assert parse_chown("77", image) == Owner(77, 77)
    options = CopyOptions(owner, parse_chmod("0700"))
    copy_sources(image, context, context.sources("dir"), "/owned/", options)
    for path in (image / "owned", image / "owned" / "sub" / "b.txt"):
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (1000, 50)
    assert (image / "owned" / "a.txt").stat().st_mode & 0o777 == 0o700


def test_bad_chown_and_chmod(image: Path) -> None:
    with pytest.raises(InvalidArgument, match="unable to find user nobody"):
        parse_chown("nobody", image)
    with pytest.raises(InvalidArgument, match="unable to find group wheel"):
        parse_chown("app:wheel", image)
    with pytest.raises(InvalidArgument, match="invalid chmod parameter"):
        parse_chmod("rwx")


def test_add_unpacks_a_local_archive(tmp_path: Path, image: Path) -> None:
    ctx = tmp_path / "tarctx"
    ctx.mkdir()
    with tarfile.open(ctx / "files.tar", "w") as tar:
        info = tarfile.TarInfo("inner/hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    tree = SourceTree(ctx)
    options = CopyOptions(None, None, unpack_local=True)
    copy_sources(image, tree, tree.sources("files.tar"), "/unpacked", options)
    assert (image / "unpacked" / "inner" / "hello.txt").read_text() == "hello"


def test_writes_through_an_image_symlink_stay_in_the_image(
    context: SourceTree, image: Path, tmp_path: Path
) -> None:
    (image / "hostlink").symlink_to(tmp_path / "host")
    copy_sources(image, context, context.sources("one.txt"), "/hostlink/", COPY)
    assert not (tmp_path / "host").exists()
    assert (image / str(tmp_path).lstrip("/") / "host" / "one.txt").exists()
