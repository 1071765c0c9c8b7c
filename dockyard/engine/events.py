"""The engine's event stream: what `docker events` shows."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator

from dockyard.errors import InvalidArgument
from dockyard.store import reference

log = logging.getLogger(__name__)

# Kept in memory for `events --since`; Docker keeps the last 256 too.
HISTORY = 256
# Events a subscriber may have waiting. One that falls further behind (a client
# that stopped reading) is disconnected, so that it holds no more memory; moby's
# pubsub gives each subscriber as many and drops for it what does not fit.
QUEUE_LIMIT = 1024


# Filters that name an object of their type by an ID or name prefix (moby's fuzzyMatchName).
_OBJECT_TYPES = (
    "container", "daemon", "network", "plugin", "volume", "node", "service", "secret", "config",
)  # fmt: skip
# Actions matched by their prefix when the filter names one of them ("exec_start: sh").
_PREFIXED_ACTIONS = ("health_status", "exec_create", "exec_start")


def _matches(event: dict, filters: dict[str, list[str]]) -> bool:
    """Whether ``event`` passes ``filters``, as moby's daemon/events/filter.go decides."""
    actor = event["Actor"]
    attrs = actor["Attributes"]
    actions = filters.get("event") or []
    prefixed = any(v in _PREFIXED_ACTIONS for v in actions)
    if actions and not any(
        event["Action"] == v or (prefixed and event["Action"].startswith(v)) for v in actions
    ):
        return False
    if filters.get("type") and event["Type"] not in filters["type"]:
        return False
    if filters.get("scope") and event["scope"] not in filters["scope"]:
        return False
    for kind in _OBJECT_TYPES:
        values = filters.get(kind) or []
        names = (actor["ID"], attrs.get("name", ""))
        if values and not any(name.startswith(v) for v in values for name in names):
            return False
    images = filters.get("image") or []
    if images and not _image_matches(event, images):
        return False
    return all(_label_matches(attrs, spec) for spec in filters.get("label") or [])


def _image_matches(event: dict, values: list[str]) -> bool:
    """An image filter names the image by ID or by name, with or without its tag."""
    actor = event["Actor"]
    name = actor["Attributes"].get("name" if event["Type"] == "image" else "image", "")
    candidates = {actor["ID"], name, _without_tag(actor["ID"]), _without_tag(name)}
    return any(v in candidates for v in values)


def _without_tag(image: str) -> str:
    """``busybox:latest`` → ``busybox``; what is no image reference stays as it is (stripTag)."""
    try:
        return reference.parse(image).familiar_name
    except InvalidArgument:
        return image


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
