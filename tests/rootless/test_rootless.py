"""A user's own engine: the getting-started workflow as an unprivileged user (docs/rootless.md).

The user's engine lives in a user namespace mapped from their subordinate ids:
the container's root is the user on the host, a container's uid N the user's
subordinate uid N-1 (as with Docker's rootless mode), and nothing the engine
makes on the host belongs to root.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.helpers import wait_until
from tests.rootless.conftest import User
from tests.rootless.helpers import free_port, host_address, page, refused

DOCKERFILE = """\
FROM busybox
RUN mkdir /app && echo hello > /app/greeting && chown 1000:1000 /app/greeting
COPY index.html /www/index.html
CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]
"""


def _owned_by_root(*tops: Path) -> list[str]:
    found = []
    for top in tops:
        for directory, dirs, files in os.walk(top):
            for name in [".", *dirs, *files]:
                path = os.path.join(directory, name)
                if os.lstat(path).st_uid == 0 or os.lstat(path).st_gid == 0:
                    found.append(path)
    return found


def test_getting_started_workflow_as_a_user(engine_user: User) -> None:
    user = engine_user
    context = user.home / "app"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "index.html").write_text("<h1>v1</h1>\n")
    bind = user.home / "shared"
    bind.mkdir()
    for path in (context, context / "Dockerfile", context / "index.html", bind):
        os.chown(path, user.uid, user.gid)

    built = user.dockyard("build", "-t", "myapp", str(context))
    assert built.returncode == 0, built.stderr
    port, loopback_port = free_port(), free_port()
    run = user.dockyard(
        "run", "-d", "--name", "web", "-p", f"{port}:8000",
        "-p", f"127.0.0.1:{loopback_port}:8000", "myapp",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # Published on every address of the host, and on loopback only where asked.
    assert page("127.0.0.1", port) == "<h1>v1</h1>\n"
    assert page(host_address(), port) == "<h1>v1</h1>\n"
    assert page("127.0.0.1", loopback_port) == "<h1>v1</h1>\n"
    assert refused(host_address(), loopback_port)
    ps = user.dockyard("ps", "--format", "{{.Names}} {{.Ports}}")
    assert f"web 0.0.0.0:{port}->8000/tcp, 127.0.0.1:{loopback_port}->8000/tcp" in ps.stdout
    greeting = user.dockyard("exec", "web", "cat", "/app/greeting")
    assert greeting.stdout == "hello\n", greeting.stderr
    logs = user.dockyard("exec", "web", "sh", "-c", "echo to-the-log > /proc/1/fd/1")
    assert logs.returncode == 0, logs.stderr
    wait_until(lambda: "to-the-log" in user.dockyard("logs", "web").stdout, what="the log line")

    # A named volume and a bind mount, written by the container's root and by its uid 1000.
    assert user.dockyard("volume", "create", "data").returncode == 0
    script = "echo root > /data/by-root && echo root > /shared/by-root && chmod 777 /data /shared"
    wrote = user.dockyard(
        "run", "--rm", "-v", "data:/data", "-v", f"{bind}:/shared", "busybox", "sh", "-c", script
    )
    assert wrote.returncode == 0, wrote.stderr
    wrote = user.dockyard(
        "run", "--rm", "-u", "1000:1000", "-v", "data:/data", "-v", f"{bind}:/shared",
        "busybox", "sh", "-c", "touch /data/by-1000 /shared/by-1000",
    )  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    volume = user.data_root / "volumes" / "data" / "_data"
    for directory in (volume, bind):
        assert (os.stat(directory / "by-root").st_uid, os.stat(directory / "by-root").st_gid) == (
            user.uid,
            user.gid,
        )
        by_1000 = os.stat(directory / "by-1000")
        assert (by_1000.st_uid, by_1000.st_gid) == (user.subuid + 999, user.subgid + 999)
    # The image's layers were unpacked in the namespace: their uids are the user's range.
    greeting = list(user.data_root.glob("layers/*/diff/app/greeting"))
    assert [os.stat(p).st_uid for p in greeting] == [user.subuid + 999]

    # Rebuild after a change, and run the new image.
    (context / "index.html").write_text("<h1>v2</h1>\n")
    rebuilt = user.dockyard("build", "-t", "myapp", str(context))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert user.dockyard("rm", "-f", "web").returncode == 0
    run = user.dockyard("run", "-d", "--name", "web", "-p", f"{port}:8000", "myapp")
    assert run.returncode == 0, run.stderr
    assert page("127.0.0.1", port) == "<h1>v2</h1>\n"

    assert _owned_by_root(user.data_root, user.runtime_dir, bind) == []


def test_the_engine_runs_as_the_user_with_its_own_socket(engine_user: User) -> None:
    user = engine_user
    socket_path = user.runtime_dir / "dockyard.sock"
    assert os.stat(socket_path).st_uid == user.uid
    daemon = int((user.exec_root / "dockyardd.pid").read_text())
    with open(f"/proc/{daemon}/status") as f:
        uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
    assert set(uids) == {str(user.uid)}
    # Inside, it is root of a namespace mapping the user and their range, nothing else.
    with open(f"/proc/{daemon}/uid_map") as f:
        assert f.read().split() == ["0", str(user.uid), "1", "1", str(user.subuid), "65536"]
    info = user.dockyard("run", "--rm", "busybox", "id", "-u")
    assert info.stdout == "0\n", info.stderr
    # Docker's default capabilities and seccomp filter, as for root's containers.
    status = user.dockyard(
        "run", "--rm", "busybox", "grep", "-E", "CapEff|Seccomp:", "/proc/1/status"
    )
    assert status.stdout.split() == ["CapEff:", "00000000a80425fb", "Seccomp:", "2"], status.stderr
    info = user.dockyard(
        "info", "--format", "{{.SecurityOptions}} {{.CgroupDriver}} {{.MemoryLimit}}"
    )
    assert info.stdout == "[name=seccomp,profile=builtin name=rootless] none false\n", info.stderr


def test_user_networks_between_rootless_containers(engine_user: User) -> None:
    user = engine_user
    assert user.dockyard("network", "create", "backend").returncode == 0
    started = user.dockyard(
        "run", "-d", "--name", "db", "--network", "backend", "busybox", "sleep", "300"
    )
    assert started.returncode == 0, started.stderr
    ping = user.dockyard(
        "run", "--rm", "--network", "backend", "busybox", "ping", "-c", "1", "-W", "5", "db"
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "1 packets received" in ping.stdout
    assert user.dockyard("rm", "-f", "db").returncode == 0
    assert user.dockyard("network", "rm", "backend").returncode == 0


def test_a_privileged_host_port_is_refused_with_the_remedy(engine_user: User) -> None:
    if int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) <= 80:
        raise AssertionError("this host lets users bind port 80: the refusal cannot be shown")
    refused = engine_user.dockyard("run", "--rm", "-p", "80:80", "busybox", "true")
    assert refused.returncode == 125
    assert (
        "failed to bind host port 0.0.0.0:80/tcp: cannot expose privileged port 80, you can add "
        "'net.ipv4.ip_unprivileged_port_start=80' to /etc/sysctl.conf" in refused.stderr
    )


def test_resource_limits_are_refused_not_ignored(engine_user: User) -> None:
    user = engine_user
    before = user.dockyard("ps", "-aq").stdout
    refused = user.dockyard("run", "--rm", "--memory", "64m", "busybox", "true")
    assert refused.returncode == 125
    assert (
        "--memory: resource limits are not supported in rootless mode without cgroups v2"
        in refused.stderr
    )
    assert user.dockyard("ps", "-aq").stdout == before  # nothing created
    refused = user.dockyard("run", "--rm", "--pids-limit", "10", "busybox", "true")
    assert refused.returncode == 125
    assert "--pids-limit: resource limits are not supported in rootless mode" in refused.stderr


def test_a_user_without_subordinate_ids_is_told_how_to_get_them(
    user_without_ranges: User,
) -> None:
    user = user_without_ranges
    refused = user.dockyard("ps")
    assert refused.returncode != 0
    log = user.data_root / "dockyardd.log"
    assert "dockyardd exited with status 1 at start-up: dockyardd: no range for" in refused.stderr
    assert f"(see {log})" in refused.stderr
    assert log.read_text().splitlines()[-1] == (
        f"dockyardd: no range for {user.name} in /etc/subuid: rootless mode needs one "
        f"(usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user.name})"
    )
    assert user.processes() == []
