"""``--build-context name=DIR|docker-image://REF``: named contexts for FROM and COPY --from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.build.test_e2e import dockyard


def _context(roots: Any, dockerfile: str) -> Path:
    context = roots.base / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    return context


def test_a_directory_context_for_copy_from(daemon: Any, roots: Any) -> None:
    context = _context(roots, "FROM busybox\nCOPY --from=project src/ /app/\n")
    project = roots.base / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.txt").write_text("v1\n")
    flag = f"project={project}"
    first = dockyard(daemon, "build", "--build-context", flag, "-t", "named", str(context))
    assert first.returncode == 0, first.stderr
    assert daemon.cli("run", "--rm", "named", "cat", "/app/main.txt").stdout == "v1\n"

    again = dockyard(daemon, "build", "--build-context", flag, str(context)).stdout.decode()
    assert " ---> Using cache" in again
    (project / "src" / "main.txt").write_text("v2\n")
    changed = dockyard(daemon, "build", "--explain", "--build-context", flag, str(context))
    assert " ---> Cache miss: file project:src/main.txt changed" in changed.stdout.decode()


def test_a_directory_context_honours_its_own_dockerignore(daemon: Any, roots: Any) -> None:
    """As BuildKit reads a named local context: what its .dockerignore excludes is not there."""
    context = _context(roots, "FROM busybox\nCOPY --from=project . /app/\nRUN ls -A /app > /ls\n")
    project = roots.base / "project"
    project.mkdir()
    (project / "kept.txt").write_text("kept\n")
    (project / "build.log").write_text("excluded\n")
    (project / ".dockerignore").write_text("*.log\n")
    flag = f"project={project}"
    built = dockyard(daemon, "build", "--build-context", flag, "-t", "ignored", str(context))
    assert built.returncode == 0, built.stderr
    listing = daemon.cli("run", "--rm", "ignored", "cat", "/ls").stdout.split()
    assert listing == [".dockerignore", "kept.txt"]


def test_an_image_context_for_from_and_copy_from(daemon: Any, roots: Any) -> None:
    assert daemon.cli("tag", "busybox", "other/base:1").returncode == 0
    context = _context(
        roots, "FROM base\nCOPY --from=tools /bin/busybox /tools/busybox\nRUN /tools/busybox true\n"
    )
    result = dockyard(
        daemon,
        "build",
        "--build-context",
        "base=docker-image://other/base:1",
        "--build-context",
        "tools=docker-image://busybox",
        str(context),
    )
    assert result.returncode == 0, result.stderr


def test_build_context_refusals(daemon: Any, roots: Any) -> None:
    context = _context(roots, "FROM project\n")
    project = roots.base / "project"
    project.mkdir()
    cases = [
        ("nokey", "invalid context value: nokey, expected key=value"),
        ("x=https://example.invalid/x.git", "unsupported build context https://"),
        (f"project={project}", "the build context project is a directory"),
    ]
    for value, message in cases:
        result = dockyard(daemon, "build", "--build-context", value, str(context))
        assert result.returncode != 0, value
        assert message in result.stderr.decode(), value
