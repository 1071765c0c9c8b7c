"""docker login / logout and POST /auth against a real registry that wants Basic auth."""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon
from tests.distribution.conftest import Registry
from tests.e2e.helpers import Docker

USER, PASSWORD = "alice", "s3cret"


def _config(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "config.json").read_text())


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Our CLI's config directory (never the user's ~/.docker)."""
    directory = tmp_path / "docker-config"
    monkeypatch.setenv("DOCKER_CONFIG", str(directory))
    return directory


def test_docker_cli_login_checks_with_the_daemon_and_stores(
    docker_cli: Docker, daemon: Daemon, auth_registry: Registry
) -> None:
    server = auth_registry.address
    wrong = docker_cli("login", "-u", USER, "--password-stdin", server, input=b"nope\n")
    assert wrong.returncode == 1
    assert (
        f"login attempt to http://{server}/v2/ failed with status: 401 Unauthorized" in wrong.stderr
    )
    ok = docker_cli("login", "-u", USER, "--password-stdin", server, input=PASSWORD.encode())
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("Login Succeeded")
    config_dir = daemon.roots.base / "docker-config"
    assert _config(config_dir)["auths"][server]["auth"] == _basic(USER, PASSWORD)
    name = f"{server}/private/box"
    assert docker_cli("tag", "busybox", name).returncode == 0
    pushed = docker_cli("push", name)
    assert pushed.returncode == 0, pushed.stderr
    out = docker_cli("logout", server)
    assert out.stdout.strip() == f"Removing login credentials for {server}"
    assert server not in _config(config_dir)["auths"]
    refused = docker_cli("push", name)
    assert refused.returncode == 1
    assert "unauthorized" in refused.stderr


def test_our_cli_login_push_pull_logout(
    daemon: Daemon, auth_registry: Registry, docker_config: Path
) -> None:
    server = auth_registry.address
    name = f"{server}/private/box"
    assert daemon.cli("tag", "busybox", name).returncode == 0
    assert "unauthorized" in daemon.cli("push", name).stderr

    wrong = daemon.cli("login", "-u", USER, "--password-stdin", server, input=b"nope\n")
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "Error response from daemon: login attempt to "
        f"http://{server}/v2/ failed with status: 401 Unauthorized"
    )
    assert not (docker_config / "config.json").exists()

    ok = daemon.cli("login", "-u", USER, "--password-stdin", server, input=b"s3cret\n")
    assert (ok.returncode, ok.stdout) == (0, "Login Succeeded\n"), ok.stderr
    path = docker_config / "config.json"
    assert f"Your credentials are stored unencrypted in '{path}'" in ok.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _config(docker_config)["auths"][server] == {"auth": _basic(USER, PASSWORD)}

    pushed = daemon.cli("push", name)
    assert pushed.returncode == 0, pushed.stderr
    assert daemon.cli("rmi", name).returncode == 0
    pulled = daemon.cli("pull", name)
    assert pulled.returncode == 0, pulled.stderr

    out = daemon.cli("logout", server)
    assert (out.returncode, out.stdout) == (0, f"Removing login credentials for {server}\n")
    assert _config(docker_config)["auths"] == {}
    assert daemon.cli("rmi", name).returncode == 0
    assert "unauthorized" in daemon.cli("pull", name).stderr


def test_login_flag_errors(daemon: Daemon, docker_config: Path) -> None:
    both = daemon.cli("login", "-u", USER, "-p", "x", "--password-stdin", "127.0.0.1:1")
    assert both.returncode == 1
    assert both.stderr.strip() == (
        "conflicting options: cannot specify both --password and --password-stdin"
    )
    no_user = daemon.cli("login", "--password-stdin", "127.0.0.1:1", input=b"x")
    assert no_user.stderr.strip() == "the --password-stdin option requires --username to be set"
    no_tty = daemon.cli("login", "127.0.0.1:1", input=b"")
    assert no_tty.returncode == 1
    assert no_tty.stderr.strip() == (
        "error: cannot perform an interactive login from a non-TTY device"
    )


def _credential_helper(directory: Path) -> Path:
    """A docker-credential-* program that keeps secrets in one JSON file, as the protocol says."""
    directory.mkdir()
    store = directory / "secrets.json"
    store.write_text("{}")
    helper = directory / "docker-credential-dytest"
    helper.write_text(
        f"""#!/usr/bin/python3
import json, sys
path = {str(store)!r}
secrets = json.load(open(path))
action, data = sys.argv[1], sys.stdin.read()
if action == "store":
    entry = json.loads(data)
    secrets[entry["ServerURL"]] = entry
elif action == "get":
    if data not in secrets:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps(secrets[data]))
elif action == "erase":
    secrets.pop(data, None)
json.dump(secrets, open(path, "w"))
"""
    )
    helper.chmod(0o755)
    return store


def test_credentials_through_a_credential_helper(
    daemon: Daemon,
    auth_registry: Registry,
    docker_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _credential_helper(tmp_path / "helper")
    monkeypatch.setenv("PATH", f"{tmp_path / 'helper'}:{os.environ['PATH']}")
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps({"credsStore": "dytest"}))
    server = auth_registry.address

    ok = daemon.cli("login", "-u", USER, "--password-stdin", server, input=PASSWORD.encode())
    assert ok.returncode == 0, ok.stderr
    assert "unencrypted" not in ok.stderr
    assert _config(docker_config)["auths"] == {server: {}}
    kept = json.loads(store.read_text())[server]
    assert (kept["Username"], kept["Secret"]) == (USER, PASSWORD)

    name = f"{server}/helped"
    assert daemon.cli("tag", "busybox", name).returncode == 0
    pushed = daemon.cli("push", name)
    assert pushed.returncode == 0, pushed.stderr

    assert daemon.cli("logout", server).returncode == 0
    assert json.loads(store.read_text()) == {}
    assert "unauthorized" in daemon.cli("push", name).stderr


def test_sdk_login_answers_as_docker(docker_sdk: Any, auth_registry: Registry) -> None:
    import docker

    answer = docker_sdk.login(USER, PASSWORD, registry=auth_registry.address, reauth=True)
    assert answer == {"Status": "Login Succeeded", "IdentityToken": ""}
    with pytest.raises(docker.errors.APIError) as wrong:
        docker_sdk.login(USER, "wrong", registry=auth_registry.address, reauth=True)
    assert wrong.value.status_code == 401
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(docker.errors.APIError) as unreachable:
        docker_sdk.login(USER, PASSWORD, registry=closed, reauth=True)
    assert unreachable.value.status_code == 500
    assert f'Get "http://{closed}/v2/": dial tcp {closed}: connect: connection refused' in str(
        unreachable.value
    )
