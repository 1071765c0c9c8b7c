"""RUN --mount through a real daemon and our CLI: --secret, --ssh, cache mounts and prune."""

from __future__ import annotations

import io
import socket
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.api import wire
from tests.build.test_e2e import dockyard

SECRET_DOCKERFILE = (
    "FROM busybox\n"
    "RUN --mount=type=secret,id=token --mount=type=secret,id=api,env=API_KEY,required "
    'cat /run/secrets/token > /seen && echo "+$API_KEY" >> /seen\n'
    'CMD ["cat", "/seen"]\n'
)


def test_secrets_from_a_file_and_the_environment(daemon: Any, roots: Any) -> None:
    ctx = Path(roots.base) / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(SECRET_DOCKERFILE)
    token = Path(roots.base) / "token.txt"
    token.write_text("from-a-file")
    built = dockyard(
        daemon, "build", "-t", "secrets:1", "--secret", f"id=token,src={token}",
        "--secret", "id=api,env=THE_API_KEY", str(ctx), THE_API_KEY="from-env",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert daemon.cli("run", "--rm", "secrets:1").stdout == "from-a-file+from-env\n"
    saved = daemon.cli("image", "inspect", "secrets:1").stdout
    saved += daemon.cli("history", "--no-trunc", "secrets:1").stdout
    assert "from-a-file" not in saved and "from-env" not in saved
    missing = dockyard(daemon, "build", "--no-cache", str(ctx))
    assert missing.returncode != 0
    assert "secret api: not found" in missing.stderr.decode()
    bad = dockyard(daemon, "build", "--secret", "id=x,src=/nonexistent/file", str(ctx))
    assert bad.returncode != 0
    assert "failed to read secret x from /nonexistent/file" in bad.stderr.decode()


def test_ssh_agent_forwarding(daemon: Any, roots: Any) -> None:
    ctx = Path(roots.base) / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nRUN --mount=type=ssh,required test -S $SSH_AUTH_SOCK && echo agent-ok\n"
    )
    agent = Path(roots.base) / "agent.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(agent))
        listener.listen()
        built = dockyard(daemon, "build", "--ssh", "default", str(ctx), SSH_AUTH_SOCK=str(agent))
    assert built.returncode == 0, built.stderr
    assert "agent-ok" in built.stdout.decode()
    none = dockyard(daemon, "build", "--no-cache", str(ctx))
    assert 'no SSH key "default" forwarded from the client' in none.stderr.decode()


def test_cache_mount_survives_builds_until_builder_prune(daemon: Any, roots: Any) -> None:
    ctx = Path(roots.base) / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nRUN --mount=type=cache,target=/cache "
        'echo "entries=$(ls /cache | wc -l)"; touch /cache/$(date +%s%N)\n'
    )
    first = dockyard(daemon, "build", str(ctx))
    assert "entries=0" in first.stdout.decode(), first.stderr
    assert "entries=1" in dockyard(daemon, "build", "--no-cache", str(ctx)).stdout.decode()
    pruned = dockyard(daemon, "builder", "prune", "-f")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.decode().startswith("Deleted build cache objects:\n")
    assert "entries=0" in dockyard(daemon, "build", "--no-cache", str(ctx)).stdout.decode()


def test_build_session_input_errors(daemon: Any, roots: Any) -> None:
    sock = str(daemon.host).removeprefix("unix://")
    bad = wire.request(sock, "POST", "/build/session", {"Secrets": {"a": "not base64!"}})
    assert bad.status == 400 and "a secret is not base64" in bad.json()["message"]
    shape = wire.request(sock, "POST", "/build/session", {"Secrets": ["a"]})
    assert shape.status == 400 and "Secrets must map ids to strings" in shape.json()["message"]
    not_socket = wire.request(sock, "POST", "/build/session", {"SSH": {"default": "/etc/hosts"}})
    assert not_socket.status == 400 and "/etc/hosts is not a socket" in not_socket.json()["message"]
    opened = wire.request(sock, "POST", "/build/session", {"Secrets": {"a": "eA=="}})
    assert opened.status == 201
    session = opened.json()["ID"]
    (Path(roots.base) / "Dockerfile").write_text("FROM busybox\n")
    url = f"/build?context={roots.base}&session={session}"
    assert wire.request(sock, "POST", url).status == 200
    again = wire.request(sock, "POST", url)  # a session serves one build
    assert again.status == 400 and "no such build session" in again.json()["message"]


def test_build_session_uploads(daemon: Any, roots: Any) -> None:
    """A client elsewhere uploads its directories to the session; refusals are 400s, and
    the uploads go with the build that takes the session, even a refused one."""
    sock = str(daemon.host).removeprefix("unix://")
    tar = {"Content-Type": "application/x-tar"}
    unknown = wire.request(sock, "PUT", "/build/session/nope/contexts?name=x", _tar(), tar)
    assert unknown.status == 400 and "no such build session" in unknown.json()["message"]
    modes = wire.request(sock, "POST", "/build/session", {"CacheExports": ["all"]})
    assert modes.status == 400 and "CacheExports must list" in modes.json()["message"]
    session = wire.request(sock, "POST", "/build/session", {}).json()["ID"]
    put = f"/build/session/{session}/contexts?name=x"
    assert wire.request(sock, "PUT", put, _tar(), tar).status == 204
    twice = wire.request(sock, "PUT", put, _tar(), tar)
    assert twice.status == 400 and "build context x is given twice" in twice.json()["message"]
    bad = wire.request(sock, "PUT", f"/build/session/{session}/caches", b"x" * 1024, tar)
    assert bad.status == 400 and "failed to read the upload" in bad.json()["message"]
    uploads = list((Path(roots.data_root) / "tmp").glob("build-session-*"))
    assert len(uploads) == 1
    (Path(roots.base) / "Dockerfile").write_text("FROM busybox\n")
    contexts = quote('{"x":"docker-image://busybox"}')
    url = f"/build?context={roots.base}&session={session}&buildcontexts={contexts}"
    clash = wire.request(sock, "POST", url)
    assert clash.status == 400 and "build context x is given twice" in clash.json()["message"]
    assert not uploads[0].exists()


def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo("a.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"a\n"))
    return out.getvalue()
