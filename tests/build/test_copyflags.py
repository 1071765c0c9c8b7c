"""COPY/ADD --link, --parents, --exclude and symbolic --chmod, built in-process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dockyard.build.context import Source
from dockyard.build.copyselect import parents_destination
from tests.build.test_builder import Builder, hits


@pytest.fixture
def builder(engine: Any, roots: Any) -> Builder:
    context = roots.base / "context"
    context.mkdir()
    return Builder(engine, context)


def diff_ids(builder: Builder, image: str) -> list[str]:
    return list(builder.engine.images.inspect(image)["RootFS"]["Layers"])


def test_link_layers_do_not_depend_on_the_parent(builder: Builder) -> None:
    builder.write("app/main.txt", "main\n")
    first = builder.build(
        "FROM busybox\nRUN mkdir -m 700 /srv\nCOPY --link --chown=nobody app/ /srv/app/\n"
    )
    linked = diff_ids(builder, first)[-1]
    assert builder.file(first, "/srv/app/main.txt") == "main\n"
    owner = builder.layer_path(first, "/srv/app/main.txt").stat()
    assert (owner.st_uid, owner.st_gid) == (65534, 65534)  # names from the parent's /etc
    # Another parent, whose /srv differs: a classic COPY's layer would hold that /srv
    # (copied up); a linked one holds the files alone, the same layer on any parent.
    second = builder.build(
        "FROM busybox\nRUN mkdir -m 750 /srv\nCOPY --link --chown=nobody app/ /srv/app/\n"
    )
    assert diff_ids(builder, second)[-1] == linked
    assert diff_ids(builder, second)[:-1] != diff_ids(builder, first)[:-1]
    top = builder.engine.images.resolve(second).lowerdirs[0]
    assert (top / "srv").stat().st_mode & 0o777 == 0o755
    builder.build(
        "FROM busybox\nRUN mkdir -m 750 /srv\nCOPY --link --chown=nobody app/ /srv/app/\n"
    )
    assert hits(builder.output) == 2


def test_parents_keep_the_source_directories(builder: Builder) -> None:
    builder.write("x/a.txt", "xa")
    builder.write("y/a.txt", "ya")
    builder.write("y/deep/b.txt", "yb")
    image = builder.build(
        "FROM busybox\n"
        "COPY --parents x/a.txt y/a.txt /no_pivot/\n"
        "COPY --parents ./y/./deep/b.txt /pivot/\n"
        "COPY --parents y /dirs/\n"
    )
    assert builder.file(image, "/no_pivot/x/a.txt") == "xa"
    assert builder.file(image, "/no_pivot/y/a.txt") == "ya"
    assert builder.file(image, "/pivot/deep/b.txt") == "yb"
    assert builder.file(image, "/dirs/y/deep/b.txt") == "yb"


def test_parents_destinations() -> None:
    file = Source("a/b/c.txt", Path("/"), False)
    assert parents_destination("a/b/c.txt", file, "/d") == "/d/a/b/"
    assert parents_destination("a/./b/c.txt", file, "/d/") == "/d/b/"
    assert parents_destination("./a/b/./c.txt", file, "/d/") == "/d/"


def test_exclude_leaves_files_out_and_out_of_the_key(builder: Builder) -> None:
    builder.write("src/keep.py", "k")
    builder.write("src/notes.md", "n")
    builder.write("src/docs/guide.md", "g")
    builder.write("hom1.txt", "1")
    builder.write("hom2.py", "2")
    dockerfile = (
        "FROM busybox\n"
        "COPY --exclude=*.md --exclude=docs src /app/\n"
        "COPY --exclude=*.txt hom* /home/\n"
    )
    image = builder.build(dockerfile)
    top = builder.engine.images.resolve(image).lowerdirs
    app = sorted(os.listdir(top[1] / "app"))
    assert app == ["keep.py"]
    assert sorted(os.listdir(top[0] / "home")) == ["hom2.py"]
    builder.write("src/notes.md", "changed")  # excluded: not part of the key
    builder.build(dockerfile)
    assert hits(builder.output) == 2
    builder.write("src/keep.py", "changed")
    builder.build(dockerfile)
    assert hits(builder.output) == 0


def test_symbolic_chmod(builder: Builder) -> None:
    builder.write("tool", "#!/bin/sh\n").chmod(0o600)
    builder.write("dir/f", "x").chmod(0o644)
    image = builder.build(
        "FROM busybox\nCOPY --chmod=u+x,g=r tool /tool\nCOPY --chmod=a+X dir /d/\n"
    )
    assert builder.layer_path(image, "/tool").stat().st_mode & 0o7777 == 0o740
    assert builder.layer_path(image, "/d/f").stat().st_mode & 0o7777 == 0o644
