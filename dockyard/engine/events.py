"""The engine's event stream: what `docker events` shows."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator

log = logging.getLogger(__name__)

# Kept in memory for `events --since`; Docker keeps the last 256 too.
HISTORY = 256
# Events a subscriber may have waiting. One that falls further behind (a client
# that stopped reading) is disconnected, so that it holds no more memory; moby's
# pubsub gives each subscriber as many and drops for it what does not fit.
QUEUE_LIMIT = 1024


def _matches(event: dict, filters: dict[str, list[str]]) -> bool:
    actor = event["Actor"]
    attrs = actor["Attributes"]
    checks = {
        "type": lambda v: event["Type"] == v,
        "event": lambda v: event["Action"] == v or event["Action"].split(":")[0] == v,
        "container": lambda v: (
            event["Type"] == "container" and (actor["ID"].startswith(v) or attrs.get("name") == v)
        ),
        "image": lambda v: attrs.get("image") == v or attrs.get("name") == v or actor["ID"] == v,
        "label": lambda v: _label_matches(attrs, v),
    }
    for key, values in filters.items():
        check = checks.get(key)
        if check is not None and not any(check(v) for v in values):
            return False
    return True


def _other_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is not loop
    except RuntimeError:
        return True


def _in_window(event: dict, since: float, until: float | None) -> bool:
    ns = event["timeNano"]
    return ns >= since * 1e9 and (until is None or ns <= until * 1e9)


def _label_matches(attrs: dict[str, str], spec: str) -> bool:
    key, sep, value = spec.partition("=")
    return key in attrs and (not sep or attrs[key] == value)


class EventBus:
    """Publishes engine events to every subscriber and keeps a short history."""

    def __init__(self) -> None:
        self._history: deque[dict] = deque(maxlen=HISTORY)
        # None in a queue ends its subscription.
        self._subscribers: set[asyncio.Queue[dict | None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # the subscribers' loop

    def publish(self, type: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
        now = time.time_ns()
        event = {
            "Type": type,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": dict(attributes)},
            "scope": "local",
            "time": now // 1_000_000_000,
            "timeNano": now,
        }
        if type == "container":
            # The pre-1.22 fields the docker CLI still prints with --format.
            event.update(status=action, id=actor_id, **{"from": attributes.get("image", "")})
        loop = self._loop
        if loop is not None and not loop.is_closed() and _other_thread(loop):
            # Published from a worker thread (an import, a build): hand it to the loop.
            loop.call_soon_threadsafe(self._deliver, event)
        else:
            self._deliver(event)

    def _deliver(self, event: dict) -> None:
        self._history.append(event)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._disconnect(queue)

    def _disconnect(self, queue: asyncio.Queue[dict | None]) -> None:
        log.warning("events: a subscriber fell %d events behind; disconnecting it", QUEUE_LIMIT)
        self._subscribers.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    async def subscribe(
        self, since: float | None, until: float | None, filters: dict[str, list[str]]
    ) -> AsyncGenerator[dict, None]:
        """Past events from ``since``, then live ones until ``until`` (forever if None)."""
        queue: asyncio.Queue[dict | None] = asyncio.Queue(QUEUE_LIMIT)
        self._loop = asyncio.get_running_loop()
        self._subscribers.add(queue)
        try:
            if since is not None:
                for event in list(self._history):
                    if _in_window(event, since, until) and _matches(event, filters):
                        yield event
            while True:
                timeout = None if until is None else until - time.time()
                if timeout is not None and timeout <= 0:
                    return
                try:
                    live = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    return
                if live is None:
                    return  # too slow: disconnected
                if (since is None or live["timeNano"] >= since * 1e9) and _matches(live, filters):
                    yield live
        finally:
            self._subscribers.discard(queue)
