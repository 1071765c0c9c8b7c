"""A build through our CLI against a daemon elsewhere (mutual TLS, ssh) keeps every input:
``--build-context`` directories and ``--cache-from type=local`` directories are uploaded
to the build's session, a ``--cache-to type=local`` comes back in the build's response,
secrets are held by the daemon in memory only, and the client's ssh agent is forwarded
over a hijacked connection."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import ssl
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import DOCKYARD, Roots
from tests.remote.conftest import TLSDaemon, run, tls_flags
from tests.remote.workload import ok


@dataclass
class Remote:
    """Our CLI pointed at a daemon over one transport, the daemon's directories, and the
    client's own files: the CLI names them under ``seen``, where the daemon (on the
    same machine, but in the mount namespace of the host) finds only an empty
    directory; the test writes and reads them under ``files``."""

    cli: Callable[..., subprocess.CompletedProcess[str]]
    roots: Roots
    files: Path
    seen: Path


@pytest.fixture(params=["tls", "ssh"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    files, seen = tmp_path / "client-files", tmp_path / "client"
    files.mkdir()
    seen.mkdir()
    # The client's files, in its own mount namespace only.
    elsewhere = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
    elsewhere += [f'mount --bind {files} {seen} && exec "$@"', "client"]
    if request.param == "tls":
        tls = request.getfixturevalue("tls_daemon")
        argv = [*elsewhere, DOCKYARD, "-H", tls.host, *tls_flags(tls.pki)]
        roots, env = tls.daemon.roots, {}
    else:
        sshd, daemon = request.getfixturevalue("sshd"), request.getfixturevalue("daemon")
        argv = [*elsewhere, DOCKYARD, "-H", sshd.host]
        roots, env = daemon.roots, sshd.env

    def cli(*args: str, more_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run([*argv, *args], env={**env, **(more_env or {})})

    return Remote(cli, roots, files, seen)


def test_a_named_context_directory_is_uploaded(remote: Remote) -> None:
    """Its own .dockerignore applies, as BuildKit applies it; the daemon keeps no copy."""
    context, extra = remote.files / "context", remote.files / "extra"
    context.mkdir()
    (extra / "sub").mkdir(parents=True)
    (extra / "sub" / "kept.txt").write_text("from the named context\n")
    (extra / "left-out.txt").write_text("excluded\n")
    (extra / ".dockerignore").write_text("left-out.txt\n")
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY --from=extra . /extra/\nRUN find /extra | sort > /listing\n"
    )
    named = f"extra={remote.seen / 'extra'}"
    ok(
        remote.cli(
            "build", "-q", "-t", "named", "--build-context", named, str(remote.seen / "context")
        )
    )
    listing = ok(remote.cli("run", "--rm", "named", "cat", "/listing")).split()
    assert "/extra/sub/kept.txt" in listing, listing
    assert "/extra/left-out.txt" not in listing, listing
    shown = ok(remote.cli("run", "--rm", "named", "cat", "/extra/sub/kept.txt"))
    assert shown == "from the named context\n"
    assert not list((remote.roots.data_root / "tmp").glob("build-session-*"))


def test_a_secret_file_reaches_the_step_and_is_stored_nowhere(remote: Remote) -> None:
    token = os.urandom(12).hex()
    (remote.files / "token.txt").write_text(token)
    context = remote.files / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /sum\n"
    )
    built = remote.cli(
        "build",
        "-t",
        "with-secret",
        "--secret",
        f"id=tok,src={remote.seen / 'token.txt'}",
        str(remote.seen / "context"),
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
    ok(remote.cli("save", "-o", str(remote.seen / "image.tar"), "with-secret"))
    assert token.encode() not in (remote.files / "image.tar").read_bytes()
    holding = _files_holding(remote.roots.base, token.encode())
    assert not holding, holding  # the data root, exec root, the daemon's log


def test_a_local_cache_goes_to_the_client_and_back(remote: Remote) -> None:
    """Exported into a directory here, then imported by the daemon with its own cache
    emptied: every step comes from the uploaded cache."""
    context, cache = remote.files / "context", remote.files / "cache"
    context.mkdir()
    (context / "app.txt").write_text("v1\n")
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY app.txt /app.txt\nRUN echo step-$((40+2)) && cat /app.txt > /copy\n"
    )
    first = ok(
        remote.cli(
            "build",
            "-t",
            "app:1",
            "--cache-to",
            f"type=local,dest={remote.seen / 'cache'}",
            str(remote.seen / "context"),
        )
    )
    assert "step-42" in first
    assert json.loads((cache / "index.json").read_text())["manifests"]
    ok(remote.cli("rmi", "app:1"))
    ok(remote.cli("builder", "prune", "-af"))
    second = ok(
        remote.cli(
            "build",
            "-t",
            "app:1",
            "--cache-from",
            f"type=local,src={remote.seen / 'cache'}",
            str(remote.seen / "context"),
        )
    )
    assert "step-42" not in second
    assert second.count(" ---> Using cache") == 2, second
    assert ok(remote.cli("run", "--rm", "app:1", "cat", "/copy")) == "v1\n"
    assert not list((remote.roots.data_root / "tmp").glob("build-session-*"))


def test_the_client_s_ssh_agent_is_forwarded(remote: Remote) -> None:
    """A step lists the keys of the agent that runs here: ssh-add, with its libraries,
    comes in the context (busybox has no agent client)."""
    comment = f"forwarded-{os.urandom(4).hex()}"
    key = remote.files / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)], check=True
    )
    context = remote.files / "context"
    _program_with_libraries("/usr/bin/ssh-add", context / "tools")
    (context / "Dockerfile").write_text(
        "FROM busybox\nCOPY tools /tools\n"
        "RUN --mount=type=ssh,required /tools/ld.so --library-path /tools /tools/ssh-add -l\n"
    )
    seen = {"SSH_AUTH_SOCK": str(remote.seen / "a.sock")}
    build = ("build", "--ssh", "default", str(remote.seen / "context"))
    none = remote.cli(*build, more_env=seen)
    assert none.returncode != 0
    assert none.stderr == f"ssh agent default: {remote.seen / 'a.sock'} is not a socket\n"
    with _ssh_agent(remote.files / "a.sock") as agent:
        subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, **agent}, check=True)
        built = ok(remote.cli(*build, more_env=seen))
    assert comment in built, built
    assert not list((remote.roots.data_root / "tmp").glob("build-session-*"))


def _program_with_libraries(program: str, directory: Path) -> None:
    """``program``, its shared libraries and the loader (as ``ld.so``) in ``directory``."""
    directory.mkdir(parents=True)
    shutil.copy(program, directory)
    listed = subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout
    for line in listed.splitlines():
        path = line.split("=>")[-1].split("(")[0].strip()
        if not path.startswith("/"):
            continue  # the vdso
        name = "ld.so" if "ld-linux" in path else os.path.basename(path)
        shutil.copy(path, directory / name)


@contextlib.contextmanager
def _ssh_agent(path: Path) -> Iterator[dict[str, str]]:
    """An ssh-agent of the test's own on ``path``; its environment, once it listens."""
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert agent.stdout is not None
        assert agent.stdout.readline().startswith(f"SSH_AUTH_SOCK={path};")  # it listens
        yield {"SSH_AUTH_SOCK": str(path)}
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def _files_holding(base: Path, needle: bytes) -> list[str]:
    """The regular files below ``base`` whose bytes contain ``needle``."""
    found = []
    for directory, _, files in os.walk(base):
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


def test_the_daemon_refuses_paths_from_a_client_elsewhere(tls_daemon: TLSDaemon) -> None:
    """What it cannot read (a client's directory named by path), it says so, with the way."""
    context = ssl.create_default_context(cafile=str(tls_daemon.pki.ca))
    context.load_cert_chain(str(tls_daemon.pki.client.cert), str(tls_daemon.pki.client.key))
    for parameter, value in (
        ("buildcontexts", '{"extra": "/srv"}'),
        ("cachefrom", '["type=local,src=/srv/cache"]'),
        ("cacheto", '["type=local,dest=/srv/cache"]'),
    ):
        connection = http.client.HTTPSConnection("127.0.0.1", tls_daemon.port, context=context)
        try:
            connection.request("POST", f"/build?{parameter}={quote(value)}", body=_empty_tar())
            answer = connection.getresponse()
            message = json.loads(answer.read())["message"]
        finally:
            connection.close()
        assert answer.status == 400, message
        assert "a client elsewhere uploads it to the build session" in message


def _empty_tar() -> bytes:
    return bytes(1024)
