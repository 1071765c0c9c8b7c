"""Legacy links on the default bridge with the real docker CLI: environment, /etc/hosts,
inspect, `docker rm --link`, and the errors Docker gives.

No name is looked up: a legacy link works through the environment and /etc/hosts.
"""

from __future__ import annotations

import json

from tests.e2e.helpers import Docker
from tests.network.test_dns import address_on, run_detached


def test_a_link_gives_environment_and_a_hosts_entry(docker_cli: Docker) -> None:
    db = run_detached(
        docker_cli,
        *("--name", "db", "-e", "PASSWORD=s3", "--expose", "5432"),
        *("busybox", "sleep", "60"),
    )
    address = address_on(docker_cli, "db", "bridge")
    app = docker_cli(
        "run", "--name", "app", "--link", "db:database", "-e", "DATABASE_ENV_PASSWORD=mine",
        "busybox", "sh", "-c", "env | sort; cat /etc/hosts",
    )  # fmt: skip
    assert app.returncode == 0, app.stderr
    lines = app.stdout.splitlines()
    for expected in (
        f"DATABASE_PORT=tcp://{address}:5432",
        f"DATABASE_PORT_5432_TCP=tcp://{address}:5432",
        f"DATABASE_PORT_5432_TCP_ADDR={address}",
        "DATABASE_PORT_5432_TCP_PORT=5432",
        "DATABASE_PORT_5432_TCP_PROTO=tcp",
        "DATABASE_NAME=/app/database",
        "DATABASE_ENV_PASSWORD=mine",  # the container's own environment wins
        f"{address}\tdatabase {db[:12]} db",
    ):
        assert expected in lines
    links = docker_cli("inspect", "-f", "{{json .HostConfig.Links}}", "app").stdout
    assert json.loads(links) == ["/db:/app/database"]
    names = docker_cli("ps", "--no-trunc", "--filter", "name=db", "--format", "{{.Names}}")
    assert names.stdout == "app/database,db\n"


def test_docker_rm_link_removes_the_link(docker_cli: Docker) -> None:
    run_detached(docker_cli, "--name", "db", "busybox", "sleep", "60")
    run_detached(docker_cli, "--name", "app", "--link", "db", "busybox", "sleep", "60")
    address = address_on(docker_cli, "db", "bridge")
    assert f"{address}\tdb " in docker_cli("exec", "app", "cat", "/etc/hosts").stdout
    removed = docker_cli("rm", "--link", "/app/db")
    assert (removed.returncode, removed.stdout) == (0, "/app/db\n")
    assert f"{address}\tdb" not in docker_cli("exec", "app", "cat", "/etc/hosts").stdout
    assert docker_cli("inspect", "-f", "{{json .HostConfig.Links}}", "app").stdout == "null\n"
    gone = docker_cli("rm", "--link", "app/db")
    assert gone.returncode == 1 and "No such container: app/db" in gone.stderr
    plain = docker_cli("rm", "--link", "app")
    assert "cannot remove the default link name of the container" in plain.stderr
    assert docker_cli("inspect", "-f", "{{.State.Running}}", "app").stdout == "true\n"


def test_a_restarted_child_is_followed_in_the_parents_hosts(docker_cli: Docker) -> None:
    run_detached(docker_cli, "--name", "db", "busybox", "sleep", "60")
    run_detached(docker_cli, "--name", "app", "--link", "db", "busybox", "sleep", "60")
    assert docker_cli("stop", "-t", "0", "db").returncode == 0
    run_detached(docker_cli, "busybox", "sleep", "60")  # takes the address db had
    assert docker_cli("start", "db").returncode == 0
    address = address_on(docker_cli, "db", "bridge")
    assert f"{address}\tdb " in docker_cli("exec", "app", "cat", "/etc/hosts").stdout


def test_links_docker_refuses(docker_cli: Docker) -> None:
    missing = docker_cli("run", "--rm", "--link", "nosuch:db", "busybox", "true")
    assert missing.returncode == 125
    assert "could not get container for nosuch: No such container: nosuch" in missing.stderr
    bad = docker_cli("run", "--rm", "--link", "a:b:c", "busybox", "true")
    assert bad.returncode == 125 and "bad format for links: a:b:c" in bad.stderr
    run_detached(docker_cli, "--name", "db", "busybox", "sleep", "60")
    host = docker_cli("run", "--rm", "--network", "host", "--link", "db", "busybox", "true")
    assert (
        docker_cli.expects(
            "host type networking can't be used with links",
            v20_10="links are only supported for user-defined networks",  # the CLI's own check
        )
        in host.stderr
    )
    assert docker_cli("stop", "-t", "0", "db").returncode == 0
    stopped = docker_cli("run", "--rm", "--link", "db", "busybox", "true")
    assert stopped.returncode == 125
    assert "Cannot link to a non running container: /db AS /" in stopped.stderr
