"""ADD of a Git repository over the dumb HTTP protocol, from a loopback server."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.build.gitsource import GitRef, parse_git_ref
from dockyard.errors import InvalidArgument
from tests.build.test_builder import Builder, hits


@pytest.fixture
def builder(engine: Any, roots: Any) -> Builder:
    context = roots.base / "context"
    context.mkdir()
    return Builder(engine, context)


def git(*args: str, cwd: Path) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    done = subprocess.run([*command, *args], cwd=cwd, capture_output=True, check=True)
    return done.stdout.decode().strip()


class Repository:
    def __init__(self, base: Path) -> None:
        self.work = base / "work"
        self.work.mkdir()
        self.served = base / "served"
        self.served.mkdir()
        git("init", "-q", cwd=self.work)

    def commit(self, files: dict[str, str], tag: str = "") -> str:
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-qm", "change", cwd=self.work)
        if tag:
            git("tag", tag, cwd=self.work)
        bare = self.served / "repo.git"
        if bare.exists():
            git("push", "-q", "--tags", str(bare), "main", cwd=self.work)
        else:
            git("clone", "-q", "--bare", str(self.work), str(bare), cwd=self.served)
        git("update-server-info", cwd=bare)
        return git("rev-parse", "HEAD", cwd=self.work)


@pytest.fixture
def repository(roots: Any) -> Iterator[tuple[Repository, str]]:
    repo = Repository(Path(roots.base))
    handler = functools.partial(Quiet, directory=str(repo.served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield repo, f"http://127.0.0.1:{server.server_address[1]}/repo.git"
    finally:
        server.shutdown()
        server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def test_git_urls() -> None:
    assert parse_git_ref("https://h/r.git#v1:sub/dir/") == GitRef(
        "https://h/r.git", "v1", "sub/dir"
    )
    assert parse_git_ref("git@github.com:o/r.git#main") == GitRef("git@github.com:o/r.git", "main")
    assert parse_git_ref("https://h/file.tar.gz") is None
    assert parse_git_ref("src/") is None


def test_add_a_repository_at_a_ref_and_subdir(
    builder: Builder, repository: tuple[Repository, str]
) -> None:
    repo, url = repository
    first = repo.commit({"README": "v1\n", "sub/tool.sh": "echo v1\n"}, tag="v1")
    image = builder.build(
        f"FROM busybox\nADD {url} /src/\nADD {url}#v1:sub /tool/\n"
        f"ADD --keep-git-dir {url}#main /kept/\n"
    )
    assert builder.file(image, "/src/README") == "v1\n"
    assert builder.file(image, "/tool/tool.sh") == "echo v1\n"
    with pytest.raises(FileNotFoundError):
        builder.layer_path(image, "/src/.git")
    assert builder.layer_path(image, "/kept/.git").is_dir()
    builder.build(f"FROM busybox\nADD --checksum={first} {url}#v1 /src/\n")
    repo.commit({"README": "v2\n"})
    again = builder.build(
        f"FROM busybox\nADD {url} /src/\nADD {url}#v1:sub /tool/\n"
        f"ADD --keep-git-dir {url}#main /kept/\n"
    )
    assert builder.file(again, "/src/README") == "v2\n"  # a new commit: the step ran again
    assert hits(builder.output) == 0
    with pytest.raises(InvalidArgument, match="expected checksum to match"):
        builder.build(f"FROM busybox\nADD --checksum={'0' * 40} {url} /src/\n")
    with pytest.raises(InvalidArgument, match="no such ref nope"):
        builder.build(f"FROM busybox\nADD {url}#nope /src/\n")
