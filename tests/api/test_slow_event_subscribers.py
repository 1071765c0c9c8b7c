"""`GET /events` with a client that stopped reading: it is let go, the others get every event."""

from __future__ import annotations

import json
import threading

from dockyard.engine.events import QUEUE_LIMIT
from tests.api import wire
from tests.api.conftest import Api
from tests.e2e.helpers import wait_until

TOTAL = 4 * QUEUE_LIMIT
BATCH = 100


def _subscribe(api: Api) -> wire.ChunkedReader:
    sock = wire.connect(api.socket, timeout=20)
    wire.send_request(sock, "GET", "/v1.44/events", {})
    status, _, data = wire.read_head(sock)
    assert status.startswith("HTTP/1.1 200")
    return wire.ChunkedReader(sock, data)


def _events(body: bytes) -> list[str]:
    return [json.loads(line)["Actor"]["ID"] for line in body.splitlines()]


def test_a_stalled_events_client_is_let_go_and_the_others_get_every_event(api: Api) -> None:
    bus = api.engine.events

    def scenario() -> tuple[list[str], list[str], int]:
        stalled, reader = _subscribe(api), _subscribe(api)
        wait_until(lambda: len(bus._subscribers) == 2, what="both clients to subscribe")
        received = [0]  # events so far

        def read() -> None:
            while received[0] < TOTAL:
                received[0] += reader.read_chunk().count(b"\n")

        reading = threading.Thread(target=read)
        reading.start()
        for start in range(0, TOTAL, BATCH):
            for n in range(start, start + BATCH):
                bus.publish("volume", "create", str(n), {})
            # The reader keeps up; the stalled client never reads.
            wait_until(lambda: received[0] >= start + BATCH or not reading.is_alive())  # noqa: B023
        reading.join(20)
        seen = _events(reader.body)
        subscribed = len(bus._subscribers)  # the reader's only
        left = _events(stalled.read_all())  # its stream ends: what was sent before it was let go
        return seen, left, subscribed

    seen, left, subscribed = api.run(scenario)
    assert seen == [str(n) for n in range(TOTAL)]
    assert subscribed == 1
    assert left == [str(n) for n in range(len(left))] and len(left) < TOTAL
