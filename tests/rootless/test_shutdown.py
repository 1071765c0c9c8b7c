"""A rootless engine's containers live in its namespaces, which end with it: it stops them
first, as dockerd stops its containers at shutdown without live restore."""

from __future__ import annotations

import os

from tests.e2e.helpers import wait_until
from tests.rootless.conftest import User

# Each container says it is ready, then waits; its trap writes what it got and exits.
_TRAPPED = "trap 'echo {signal} > /shared/{name}; exit {code}' {signal}; "
_WAITING = "touch /shared/{name}.ready; sleep 1000 & wait"


def _container(user: User, name: str, options: list[str], trap: str) -> None:
    shared = user.home / "shared"
    script = trap + _WAITING.format(name=name)
    run = user.dockyard(
        "run", "-d", "--name", name, "-v", f"{shared}:/shared", *options,
        "busybox", "sh", "-c", script,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    wait_until(lambda: (shared / f"{name}.ready").exists(), what=f"{name} to be ready")


def test_stopping_the_engine_stops_its_containers_first(engine_user: User) -> None:
    user = engine_user
    shared = user.home / "shared"
    shared.mkdir()
    os.chown(shared, user.uid, user.gid)
    _container(user, "terminated", [], _TRAPPED.format(signal="TERM", name="terminated", code=7))
    _container(
        user, "by-its-signal", ["--stop-signal", "USR1"],
        _TRAPPED.format(signal="USR1", name="by-its-signal", code=3),
    )  # fmt: skip
    # One that ignores its stop signal is killed once its stop timeout is over.
    _container(user, "stubborn", ["--stop-timeout", "1"], "trap '' TERM; ")
    _container(
        user, "removed", ["--rm"], _TRAPPED.format(signal="TERM", name="removed", code=0)
    )  # fmt: skip

    user.stop_engine()  # SIGTERM to the daemon; returns once none of the user's processes is left

    assert (shared / "terminated").read_text() == "TERM\n"
    assert (shared / "by-its-signal").read_text() == "USR1\n"
    assert (shared / "removed").read_text() == "TERM\n"
    # The next engine finds them exited, with the codes their traps chose.
    codes = user.dockyard(
        "inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.ExitCode}}",
        "terminated", "by-its-signal", "stubborn",
    )  # fmt: skip
    assert codes.stdout.splitlines() == [
        "/terminated exited 7",
        "/by-its-signal exited 3",
        "/stubborn exited 137",
    ], codes.stderr
    # The --rm one was removed before the engine went (`ps -a` lists it no more).
    names = user.dockyard("ps", "-a", "--format", "{{.Names}}")
    assert sorted(names.stdout.split()) == ["by-its-signal", "stubborn", "terminated"]
