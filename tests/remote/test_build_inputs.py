"""A build through our CLI against a daemon elsewhere (mutual TLS, ssh) keeps every input:
``--build-context`` directories and ``--cache-from type=local`` directories are uploaded
to the build's session, a ``--cache-to type=local`` comes back in the build's response,
and secrets are held by the daemon in memory only."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD, Roots
from tests.remote.conftest import run
from tests.remote.workload import ok


@dataclass
class Remote:
    """Our CLI pointed at a daemon over one transport, and that daemon's directories."""

    cli: Callable[..., subprocess.CompletedProcess[str]]
    roots: Roots


@pytest.fixture(params=["tls", "ssh"])
def remote(request: pytest.FixtureRequest) -> Remote:
    if request.param == "tls":
        tls = request.getfixturevalue("tls_daemon")
        return Remote(tls.cli, tls.daemon.roots)
    sshd, daemon = request.getfixturevalue("sshd"), request.getfixturevalue("daemon")

    def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run([DOCKYARD, "-H", sshd.host, *args], env={**sshd.env, **(env or {})})

    return Remote(cli, daemon.roots)


def test_a_named_context_directory_is_uploaded(remote: Remote, tmp_path: Path) -> None:
    """Its own .dockerignore applies, as BuildKit applies it; the daemon keeps no copy."""
    context, extra = tmp_path / "context", tmp_path / "extra"
    context.mkdir()
    (extra / "sub").mkdir(parents=True)
    (extra / "sub" / "kept.txt").write_text("from the named context\n")
    (extra / "left-out.txt").write_text("excluded\n")
    (extra / ".dockerignore").write_text("left-out.txt\n")
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY --from=extra . /extra/\nRUN find /extra | sort > /listing\n"
    )
    ok(remote.cli("build", "-q", "-t", "named", "--build-context", f"extra={extra}", str(context)))
    listing = ok(remote.cli("run", "--rm", "named", "cat", "/listing")).split()
    assert "/extra/sub/kept.txt" in listing, listing
    assert "/extra/left-out.txt" not in listing, listing
    shown = ok(remote.cli("run", "--rm", "named", "cat", "/extra/sub/kept.txt"))
    assert shown == "from the named context\n"
    assert not list((remote.roots.data_root / "tmp").glob("build-session-*"))


def test_a_secret_file_reaches_the_step_and_is_stored_nowhere(
    remote: Remote, tmp_path: Path
) -> None:
    token = os.urandom(12).hex()
    secret = tmp_path / "token.txt"
    secret.write_text(token)
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /sum\n"
    )
    built = remote.cli(
        "build", "-t", "with-secret", "--secret", f"id=tok,src={secret}", str(context)
    )
    ok(built)
    seen = ok(remote.cli("run", "--rm", "with-secret", "cat", "/sum")).strip()
    assert seen == hashlib.sha256(token.encode()).hexdigest()
    for shown in (
        built.stdout + built.stderr,
        ok(remote.cli("image", "inspect", "with-secret")),
        ok(remote.cli("history", "--no-trunc", "with-secret")),
    ):
        assert token not in shown
    archive = tmp_path / "image.tar"
    ok(remote.cli("save", "-o", str(archive), "with-secret"))
    assert token.encode() not in archive.read_bytes()
    holding = _files_holding(remote.roots.base, token.encode(), skip=tmp_path)
    assert not holding, holding  # the data root, exec root, the daemon's log


def test_a_local_cache_goes_to_the_client_and_back(remote: Remote, tmp_path: Path) -> None:
    """Exported into a directory here, then imported by the daemon with its own cache
    emptied: every step comes from the uploaded cache."""
    context, cache = tmp_path / "context", tmp_path / "cache"
    context.mkdir()
    (context / "app.txt").write_text("v1\n")
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY app.txt /app.txt\nRUN echo step-$((40+2)) && cat /app.txt > /copy\n"
    )
    first = ok(
        remote.cli("build", "-t", "app:1", "--cache-to", f"type=local,dest={cache}", str(context))
    )
    assert "step-42" in first
    assert json.loads((cache / "index.json").read_text())["manifests"]
    ok(remote.cli("rmi", "app:1"))
    ok(remote.cli("builder", "prune", "-af"))
    second = ok(
        remote.cli("build", "-t", "app:1", "--cache-from", f"type=local,src={cache}", str(context))
    )
    assert "step-42" not in second
    assert second.count(" ---> Using cache") == 2, second
    assert ok(remote.cli("run", "--rm", "app:1", "cat", "/copy")) == "v1\n"
    assert not list((remote.roots.data_root / "tmp").glob("build-session-*"))


def test_an_ssh_agent_is_refused_with_the_reason(remote: Remote, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\n")
    agent = {"SSH_AUTH_SOCK": str(tmp_path / "agent.sock")}
    refused = remote.cli("build", "--ssh", "default", str(context), env=agent)
    assert refused.returncode != 0
    assert "cannot use this machine's agent" in refused.stderr, refused.stderr


def _files_holding(base: Path, needle: bytes, skip: Path) -> list[str]:
    """The regular files below ``base`` (but ``skip``) whose bytes contain ``needle``."""
    found = []
    for directory, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if Path(directory, d) != skip]
        for name in files:
            path = os.path.join(directory, name)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                with open(path, "rb") as f:
                    if needle in f.read():
                        found.append(path)
            except OSError:
                continue
    return found
