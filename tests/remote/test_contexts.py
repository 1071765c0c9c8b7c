"""``dockyard context``: named endpoints in the docker CLI's layout, under dockyard's own directory."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import DOCKYARD, Daemon
from tests.remote.conftest import SSHD, TLSDaemon, run
from tests.remote.workload import ok


def _cli(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run([DOCKYARD, *args], env={"DOCKYARD_CONFIG": str(config), **(env or {})})


def _meta_dir(config: Path, name: str) -> Path:
    return config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()


def test_a_tls_context_is_stored_as_the_docker_cli_stores_it(
    tls_daemon: TLSDaemon, tmp_path: Path
) -> None:
    config, pki = tmp_path / "dockyard-config", tls_daemon.pki
    created = _cli(
        config,
        "context",
        "create",
        "prod",
        "--description",
        "over TLS",
        "--docker",
        f"host={tls_daemon.host},ca={pki.ca},cert={pki.client.cert},key={pki.client.key}",
    )
    assert ok(created) == "prod\n"
    assert created.stderr == 'Successfully created context "prod"\n'
    meta = json.loads((_meta_dir(config, "prod") / "meta.json").read_text())
    assert meta == {
        "Name": "prod",
        "Metadata": {"Description": "over TLS"},
        "Endpoints": {"docker": {"Host": tls_daemon.host, "SkipTLSVerify": False}},
    }
    tls_dir = config / "contexts" / "tls" / hashlib.sha256(b"prod").hexdigest() / "docker"
    assert sorted(p.name for p in tls_dir.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    assert (tls_dir / "key.pem").stat().st_mode & 0o777 == 0o600
    # The context reaches the daemon with its own TLS files: no flag, no environment.
    assert (
        ok(_cli(config, "--context", "prod", "run", "--rm", "busybox", "echo", "via-context"))
        == "via-context\n"
    )
    assert ok(_cli(config, "ps", "-q", env={"DOCKYARD_CONTEXT": "prod"})) == ""
    inspected = json.loads(ok(_cli(config, "context", "inspect", "prod")))
    assert inspected[0]["TLSMaterial"] == {"docker": ["ca.pem", "cert.pem", "key.pem"]}
    assert inspected[0]["Storage"]["MetadataPath"] == str(_meta_dir(config, "prod"))


def test_use_ls_show_and_rm(daemon: Daemon, sshd: SSHD, tmp_path: Path) -> None:
    config = tmp_path / "dockyard-config"
    env = {**sshd.env, "DOCKYARD_HOST": ""}
    ok(_cli(config, "context", "create", "far", "--docker", f"host={sshd.host}", env=env))
    ok(_cli(config, "context", "create", "near", "--docker", f"host={daemon.host}", env=env))
    used = _cli(config, "context", "use", "far", env=env)
    assert ok(used) == "far\n" and used.stderr == 'Current context is now "far"\n'
    assert json.loads((config / "config.json").read_text())["currentContext"] == "far"
    assert ok(_cli(config, "context", "show", env=env)) == "far\n"
    ok(daemon.cli("run", "-d", "--name", "through-ssh", "busybox", "sleep", "300"))
    assert ok(_cli(config, "ps", "--format", "{{.Names}}", env=env)).split() == ["through-ssh"]
    table = ok(_cli(config, "context", "ls", env=env)).splitlines()
    assert table[0].split() == ["NAME", "DESCRIPTION", "DOCKER", "ENDPOINT", "ERROR"]
    assert [line.split()[:2] for line in table[1:]] == [
        ["default", "Current"],
        ["far", "*"],
        ["near", daemon.host],
    ]
    assert ok(_cli(config, "context", "ls", "-q", env=env)).split() == ["default", "far", "near"]
    # -H (and DOCKYARD_HOST) win over the current context; --context and -H together do not go.
    assert ok(_cli(config, "-H", daemon.host, "context", "show", env=env)) == "default\n"
    both = _cli(config, "-H", daemon.host, "--context", "near", "ps", env=env)
    assert (both.returncode, both.stderr) == (
        1,
        "conflicting options: cannot specify both --host and --context\n",
    )
    in_use = _cli(config, "context", "rm", "far", env=env)
    assert (in_use.returncode, in_use.stderr) == (
        1,
        'context "far" is in use, set -f flag to force remove\n',
    )
    assert ok(_cli(config, "context", "rm", "-f", "far", "near", env=env)) == "far\nnear\n"
    assert "currentContext" not in json.loads((config / "config.json").read_text())
    assert not _meta_dir(config, "far").exists()


def test_refusals_are_the_docker_cli_s(tmp_path: Path) -> None:
    config = tmp_path / "dockyard-config"
    cases = [
        (
            ("context", "create", "default", "--docker", "host=unix:///x"),
            '"default" is a reserved context name',
        ),
        (
            ("context", "create", "b@d", "--docker", "host=unix:///x"),
            'context name "b@d" is invalid, names are validated against regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"',
        ),
        (
            ("context", "create", "odd", "--docker", "host=unix:///x,bogus=1"),
            "unrecognized config key: bogus",
        ),
        (("context", "use", "missing"), 'context "missing": context not found: open '),
        (("context", "rm", "missing"), 'context "missing" does not exist'),
        (("context", "rm", "default"), 'context "default" cannot be removed'),
        (
            ("--context", "missing", "ps"),
            'Failed to initialize: unable to resolve docker endpoint: context "missing"',
        ),
    ]
    for args, message in cases:
        result = _cli(config, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert not (config / "contexts").exists()


def test_a_context_the_docker_cli_made_is_read_as_it_is(daemon: Daemon, tmp_path: Path) -> None:
    """Same layout, same files: a context copied from the docker CLI's store works."""
    docker_config = tmp_path / "docker-config"
    docker_cli = shutil.which("docker")
    assert docker_cli
    made = run(
        [docker_cli, "context", "create", "from-docker", "--docker", f"host={daemon.host}"],
        env={"DOCKER_CONFIG": str(docker_config)},
    )
    ok(made)
    config = tmp_path / "dockyard-config"
    shutil.copytree(docker_config / "contexts", config / "contexts")
    ok(daemon.cli("run", "-d", "--name", "found", "busybox", "sleep", "300"))
    listed = _cli(config, "--context", "from-docker", "ps", "--format", "{{.Names}}")
    assert ok(listed).split() == ["found"]
