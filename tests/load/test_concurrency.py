"""The daemon under concurrent load: many clients at once, all answered correctly.

Each test starts its work from many threads at once; what it checks is the
result of every single request, never how long they took (bench/load.py says that).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tests.api import wire
from tests.conftest import Daemon

T = TypeVar("T")
RUNS = 50
CLIENTS = 100
FOLLOWERS = 50
LINES = 500


def _all_at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """``action(i)`` for i in range(count), each in its own thread, released together."""
    barrier = threading.Barrier(count)

    def released(i: int) -> T:
        barrier.wait(timeout=60)
        return action(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(released, range(count)))


def test_fifty_concurrent_run_d_get_distinct_names_and_addresses(docker_sdk: Any) -> None:
    containers = _all_at_once(
        RUNS,
        lambda i: docker_sdk.containers.run(  # type: ignore[attr-defined]
            "busybox", ["sleep", "600"], name=f"load-{i}", detach=True
        ),
    )
    for c in containers:
        c.reload()
    assert {c.status for c in containers} == {"running"}
    assert sorted(c.name for c in containers) == sorted(f"load-{i}" for i in range(RUNS))
    addresses = [c.attrs["NetworkSettings"]["IPAddress"] for c in containers]
    assert all(addresses) and len(set(addresses)) == RUNS, addresses

    _all_at_once(RUNS, lambda i: containers[i].remove(force=True))
    assert docker_sdk.containers.list(all=True) == []  # type: ignore[attr-defined]


def test_a_hundred_concurrent_api_clients_are_all_answered(daemon: Daemon) -> None:
    sock = str(daemon.roots.socket)
    created = wire.request(
        sock,
        "POST",
        "/v1.44/containers/create?name=talker",
        {"Image": "busybox", "Cmd": ["sh", "-c", "echo hello from talker"]},
    )
    cid = created.json()["Id"]
    assert wire.request(sock, "POST", f"/v1.44/containers/{cid}/start").status == 204
    assert wire.request(sock, "POST", f"/v1.44/containers/{cid}/wait").json()["StatusCode"] == 0

    def ps(reply: wire.Reply) -> bool:
        return [c["Names"] for c in reply.json()] == [["/talker"]]

    def inspect(reply: wire.Reply) -> bool:
        return reply.json()["Id"] == cid and reply.json()["State"]["Status"] == "exited"

    def ping(reply: wire.Reply) -> bool:
        return reply.body == b"OK"

    def version(reply: wire.Reply) -> bool:
        return (
            reply.json()["ApiVersion"]
            == json.loads(wire.request(sock, "GET", "/version").body)["ApiVersion"]
        )

    def logs(reply: wire.Reply) -> bool:
        return wire.deframe(reply.body) == [(1, b"hello from talker\n")]

    asks: list[tuple[str, Callable[[wire.Reply], bool]]] = [
        ("/v1.44/containers/json?all=1", ps),
        ("/v1.44/containers/talker/json", inspect),
        ("/_ping", ping),
        ("/v1.44/version", version),
        (f"/v1.44/containers/{cid}/logs?stdout=1&stderr=1", logs),
    ]

    def client(i: int) -> tuple[str, int, bool]:
        url, check = asks[i % len(asks)]
        reply = wire.request(sock, "GET", url, timeout=60)
        return url, reply.status, reply.status == 200 and check(reply)

    answers = _all_at_once(CLIENTS, client)
    wrong = [(url, status) for url, status, right in answers if not right]
    assert not wrong, f"{len(wrong)} of {CLIENTS} clients got a wrong answer: {wrong[:5]}"


def test_fifty_followers_each_get_every_line_once_in_order(docker_sdk: Any) -> None:
    # It says "ready", waits for USR1 (once every follower has read "ready"), then counts.
    script = (
        f"trap 'go=1' USR1; echo ready; until [ -n \"$go\" ]; do sleep 0.1; done; seq 1 {LINES}"
    )
    container = docker_sdk.containers.run(  # type: ignore[attr-defined]
        "busybox", ["sh", "-c", script], detach=True
    )
    following = threading.Barrier(FOLLOWERS + 1)

    def follow(_: int) -> bytes:
        stream = container.logs(stream=True, follow=True)
        got = b""
        while b"\n" not in got:
            got += next(stream)
        following.wait(timeout=60)
        for chunk in stream:
            got += chunk
        return got

    with ThreadPoolExecutor(FOLLOWERS) as pool:
        outputs = pool.map(follow, range(FOLLOWERS))
        following.wait(timeout=60)
        container.kill(signal="SIGUSR1")
        outputs = list(outputs)

    expected = b"ready\n" + b"".join(b"%d\n" % n for n in range(1, LINES + 1))
    wrong = [i for i, got in enumerate(outputs) if got != expected]
    assert not wrong, f"followers {wrong} got other output, e.g. {outputs[wrong[0]][-200:]!r}"
    container.remove(force=True)
