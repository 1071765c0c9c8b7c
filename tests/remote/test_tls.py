"""dockyardd on tcp:// with mutual TLS; our CLI, the docker CLI and docker-py drive it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import docker
import pytest

from tests.conftest import DOCKYARD, DOCKYARDD, Roots, daemon_config, import_busybox
from tests.ready import answers_ping
from tests.remote.conftest import TLSDaemon, free_port, run, tls_flags
from tests.remote.workload import exercise, ok


def test_our_cli_over_mutual_tls(tls_daemon: TLSDaemon, tmp_path: Path) -> None:
    argv = [DOCKYARD, "-H", tls_daemon.host, *tls_flags(tls_daemon.pki)]
    exercise(tls_daemon.cli, argv, {}, tmp_path)


def test_docker_cli_over_mutual_tls(tls_daemon: TLSDaemon, tmp_path: Path) -> None:
    docker_cli = shutil.which("docker")
    assert docker_cli, "the docker CLI is part of this machine's set-up"
    argv = [docker_cli, "-H", tls_daemon.host, *tls_flags(tls_daemon.pki)]
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}

    def cli(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run([*argv, *args], input, env)

    exercise(cli, argv, env, tmp_path)


def test_docker_sdk_with_tls_config(tls_daemon: TLSDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests would verify with this machine's bundle instead of the TLSConfig's CA.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    pki = tls_daemon.pki
    tls = docker.tls.TLSConfig(
        client_cert=(str(pki.client.cert), str(pki.client.key)), ca_cert=str(pki.ca), verify=True
    )
    client = docker.DockerClient(base_url=tls_daemon.host, tls=tls, version="auto", timeout=60)
    try:
        assert client.containers.run("busybox", "echo over tls", remove=True) == b"over tls\n"
        box = client.containers.run(
            "busybox", ["sh", "-c", "read x; echo got-$x"], detach=True, stdin_open=True
        )
        assert box.exec_run("echo from exec") == (0, b"from exec\n")
        # A hijacked stream over TLS: stdin in, multiplexed frames out, until the container ends.
        sock = client.api.attach_socket(box.id, params={"stdin": 1, "stream": 1, "stdout": 1})
        sock.sendall(b"hi\n")
        received = b""
        while data := sock.recv(4096):
            received += data
        sock.close()
        assert received == b"\x01\x00\x00\x00\x00\x00\x00\x07got-hi\n"
        box.remove(force=True)
    finally:
        client.close()


def test_only_certificates_of_its_ca_get_in(tls_daemon: TLSDaemon) -> None:
    pki = tls_daemon.pki
    base = [DOCKYARD, "-H", tls_daemon.host, "--tlsverify", "--tlscacert", str(pki.ca)]
    stranger = run(
        [*base, "--tlscert", str(pki.stranger.cert), "--tlskey", str(pki.stranger.key), "ps"]
    )
    assert stranger.returncode == 1
    assert "error during connect: tls: tlsv1 alert unknown ca" in stranger.stderr
    anonymous = run([*base, "ps"])
    assert anonymous.returncode == 1
    assert "certificate required" in anonymous.stderr
    plain = run([DOCKYARD, "-H", tls_daemon.host, "ps"])
    assert plain.returncode == 1
    assert (
        plain.stderr.strip()
        == "Error response from daemon: Client sent an HTTP request to an HTTPS server."
    )
    # The client checks the daemon too: a CA that did not sign its certificate refuses it.
    wrong_ca = run(
        [
            DOCKYARD,
            "-H",
            tls_daemon.host,
            "--tlsverify",
            "--tlscacert",
            str(pki.stranger.cert),
            "ps",
        ]
    )
    assert wrong_ca.returncode == 1
    assert "certificate verify failed" in wrong_ca.stderr or "self-signed" in wrong_ca.stderr
    assert tls_daemon.daemon.process.poll() is None


def test_tls_files_from_the_environment(tls_daemon: TLSDaemon, tmp_path: Path) -> None:
    """DOCKYARD_TLS_VERIFY and DOCKYARD_CERT_PATH, as DOCKER_TLS_VERIFY and DOCKER_CERT_PATH."""
    certs = tmp_path / "certs"
    certs.mkdir()
    pki = tls_daemon.pki
    shutil.copy(pki.ca, certs / "ca.pem")
    shutil.copy(pki.client.cert, certs / "cert.pem")
    shutil.copy(pki.client.key, certs / "key.pem")
    env = {
        "DOCKYARD_HOST": tls_daemon.host,
        "DOCKYARD_TLS_VERIFY": "1",
        "DOCKYARD_CERT_PATH": str(certs),
    }
    assert ok(run([DOCKYARD, "version", "-f", "{{.Server.Version}}"], env=env)).strip()
    missing = run([DOCKYARD, "ps"], env={**env, "DOCKYARD_CERT_PATH": str(tmp_path / "none")})
    assert missing.returncode == 1
    assert "Failed to initialize: unable to resolve docker endpoint: open " in missing.stderr


def test_a_build_context_goes_as_a_tar_honouring_dockerignore(
    tls_daemon: TLSDaemon, tmp_path: Path
) -> None:
    """The daemon reads a context by path only from its own socket: a remote build sends a tar,
    and a Dockerfile from outside the context goes in the tar, not into ``COPY .``."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "kept.txt").write_text("kept\n")
    (context / "ignored.txt").write_text("ignored\n")
    (context / ".dockerignore").write_text("ignored.txt\n")
    dockerfile = tmp_path / "elsewhere.Dockerfile"
    dockerfile.write_text("FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx > /listing\n")
    ok(tls_daemon.cli("build", "-q", "-t", "outside", "-f", str(dockerfile), str(context)))
    listing = ok(tls_daemon.cli("run", "--rm", "outside", "cat", "/listing")).split()
    assert "kept.txt" in listing and ".dockerignore" in listing
    assert "ignored.txt" not in listing
    assert not [name for name in listing if name.startswith(".dockerfile.")], listing


# ---------------------------------------------------------------------- the daemon's flags
def _dockyardd(roots: Roots, *args: str) -> list[str]:
    return [
        DOCKYARDD,
        "--config-file",
        str(daemon_config(roots.base)),
        "--data-root",
        str(roots.data_root),
        "--exec-root",
        str(roots.exec_root),
        *args,
    ]


def test_tcp_without_tlsverify_is_refused_unless_asked_for(roots: Roots) -> None:
    port = free_port()
    refused = run(_dockyardd(roots, "-H", f"tcp://127.0.0.1:{port}"), timeout=30)
    assert refused.returncode == 1
    assert f"refusing to listen on tcp://127.0.0.1:{port} without --tlsverify" in refused.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_plain_tcp_with_tls_false_warns_and_serves(roots: Roots, busybox_tar: Path) -> None:
    import_busybox(roots.data_root, roots.exec_root, busybox_tar)
    port = free_port()
    log = roots.base / "plain.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            _dockyardd(roots, "-H", roots.host, "-H", f"tcp://127.0.0.1:{port}", "--tls=false"),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        from tests.e2e.helpers import wait_until

        wait_until(lambda: answers_ping(roots.socket), timeout=20, what="the daemon's socket")
        assert ok(
            run([DOCKYARD, "-H", f"tcp://127.0.0.1:{port}", "version", "-f", "{{.Server.Version}}"])
        )
        text = log.read_text()
        assert (
            "Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network."
            in text
        )
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


def test_bad_tls_files_stop_the_daemon_at_once(roots: Roots, pki: object) -> None:
    port = free_port()
    missing = run(
        _dockyardd(
            roots,
            "-H",
            f"tcp://127.0.0.1:{port}",
            "--tlsverify",
            "--tlscacert",
            str(roots.base / "none.pem"),
            "--tlscert",
            str(roots.base / "none.pem"),
            "--tlskey",
            str(roots.base / "none.pem"),
        ),
        timeout=30,
    )
    assert missing.returncode == 1
    assert f"open {roots.base / 'none.pem'}: no such file or directory" in missing.stderr
    assert not os.path.exists(roots.socket)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("tcp://127.0.0.1:2376", "tcp://127.0.0.1:2376"),
        ("tcp://:2376", "tcp://localhost:2376"),
        ("tcp://127.0.0.1", "tcp://127.0.0.1:2375"),
        ("127.0.0.1:99", "tcp://127.0.0.1:99"),
        ("tcp://[::1]:5", "tcp://[::1]:5"),
        ("unix:///x/y.sock", "unix:///x/y.sock"),
        ("/x/y.sock", "unix:///x/y.sock"),
        ("ssh://me@box:22", "ssh://me@box:22"),
    ],
)
def test_hosts_are_read_as_docker_reads_them(given: str, expected: str) -> None:
    from dockyard.hosts import parse_host

    assert parse_host(given, "unix:///default.sock") == expected


def test_a_bad_host_is_docker_s_error() -> None:
    from dockyard.errors import InvalidArgument
    from dockyard.hosts import parse_host

    with pytest.raises(InvalidArgument, match="invalid bind address format: foo://x"):
        parse_host("foo://x", "unix:///d.sock")
    assert parse_host("", "unix:///d.sock", tls=True) == "tcp://localhost:2376"
