"""Daemons reached from afar: a TLS listener with certificates the tests make, and an sshd.

The sshd is Debian's, started by the test as ``sshd -D`` on a free port of
127.0.0.1 with a configuration, host key and authorized key of the test's own
(the machine's sshd and its configuration are never touched). Its sessions
get a PATH whose ``dockyard`` is ours and whose ``docker`` is the one-line
shim of docs/remote.md, and DOCKYARD_HOST naming the test's daemon. Both
clients find ``ssh`` on PATH, as the docker CLI does: the tests put a wrapper
there that adds the test's client configuration (its key, the known host key).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DOCKYARD, RUN_MARK, Daemon, Roots, _spawn_daemon, import_busybox
from tests.remote.pki import PKI, make_pki

SSHD_PROGRAM = "/usr/sbin/sshd"
DOCKER_SHIM = '#!/bin/sh\nexec dockyard "$@"\n'  # docs/remote.md: the docker CLI's way in


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pki(roots: Roots) -> PKI:
    return make_pki(roots.base / "pki")


def tls_flags(pki: PKI, client: bool = True) -> list[str]:
    pair = pki.client if client else pki.server
    return [
        "--tlsverify",
        "--tlscacert",
        str(pki.ca),
        "--tlscert",
        str(pair.cert),
        "--tlskey",
        str(pair.key),
    ]


@dataclass
class TLSDaemon:
    daemon: Daemon
    pki: PKI
    port: int

    @property
    def host(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def cli(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Our CLI over TLS, with the test's client certificate."""
        return run([DOCKYARD, "-H", self.host, *tls_flags(self.pki), *args], input, env, timeout)


def run(
    argv: list[str],
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        input=input.decode() if input is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def tls_daemon(roots: Roots, busybox_tar: Path, pki: PKI) -> Iterator[TLSDaemon]:
    """A dockyardd on its Unix socket and on 127.0.0.1 over mutual TLS."""
    import_busybox(roots.data_root, roots.exec_root, busybox_tar)
    port = free_port()
    args = ("-H", f"tcp://127.0.0.1:{port}", *tls_flags(pki, client=False))
    daemon = Daemon(roots, _spawn_daemon(roots, args), args)
    yield TLSDaemon(daemon, pki, port)
    if daemon.process.poll() is None:
        for cid in daemon.cli("ps", "-aq").stdout.split():
            daemon.cli("rm", "-f", cid)
    daemon.stop()


# ---------------------------------------------------------------------- sshd
@dataclass
class SSHD:
    port: int
    bin_dir: Path  # put first on PATH: `ssh` with the test's configuration

    @property
    def host(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin_dir}:{os.environ['PATH']}"}


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def sshd(daemon: Daemon) -> Iterator[SSHD]:
    """sshd on 127.0.0.1 whose sessions reach ``daemon`` with ``dockyard system dial-stdio``."""
    if not os.access(SSHD_PROGRAM, os.X_OK):
        pytest.fail("sshd is missing: `make install` installs openssh-server")
    base = daemon.roots.base / "ssh"
    remote_bin, client_bin = base / "remote-bin", base / "client-bin"
    for directory in (base, remote_bin, client_bin):
        directory.mkdir(mode=0o700)
    host_key = _keygen(base / "host_key")
    (base / "authorized_keys").write_text(_keygen(base / "client_key") + "\n")
    (remote_bin / "dockyard").symlink_to(DOCKYARD)
    (remote_bin / "docker").write_text(DOCKER_SHIM)
    (remote_bin / "docker").chmod(0o755)
    port = free_port()
    config = base / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPidFile none\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\n"
        f"SetEnv PATH={remote_bin}:/usr/bin:/bin DOCKYARD_HOST={daemon.host} {RUN_MARK}\n"
    )
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    client_config = base / "ssh_config"
    client_config.write_text(
        f"IdentityFile {base / 'client_key'}\nUserKnownHostsFile {base / 'known_hosts'}\n"
        "StrictHostKeyChecking yes\nBatchMode yes\nLogLevel ERROR\n"
    )
    (client_bin / "ssh").write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {client_config} "$@"\n')
    (client_bin / "ssh").chmod(0o755)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege-separation directory
    process = subprocess.Popen(
        [SSHD_PROGRAM, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True
    )
    said: list[str] = []
    try:
        _wait_listening(process, port, said)
        # Go on reading what it logs, so that a full pipe never stops it.
        threading.Thread(target=said.extend, args=(process.stderr,), daemon=True).start()
        yield SSHD(port, client_bin)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_listening(process: subprocess.Popen[str], port: int, said: list[str]) -> None:
    """Until sshd says it listens (its own ready line), or fail with what it said."""
    assert process.stderr is not None
    for line in process.stderr:
        said.append(line)
        if f"Server listening on 127.0.0.1 port {port}" in line:
            return
    process.wait(timeout=10)
    pytest.fail("sshd did not start: " + "".join(said))
