"""The event bus: every subscriber gets the events in order; one that stops taking them is let go."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

import pytest

from dockyard.engine.events import QUEUE_LIMIT, EventBus


async def _drain(first: asyncio.Future[dict], rest: AsyncGenerator[dict, None]) -> list[dict]:
    return [await first] + [event async for event in rest]


def test_a_subscriber_that_stops_reading_is_disconnected(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> tuple[list[str], list[dict], int]:
        bus = EventBus()
        reader, stalled = bus.subscribe(None, None, {}), bus.subscribe(None, None, {})
        seen: list[str] = []

        async def read_all() -> None:
            async for event in reader:
                seen.append(event["Actor"]["ID"])
                if len(seen) == 3 * QUEUE_LIMIT:
                    return

        # Both subscribe: each generator runs up to its first wait.
        first = asyncio.ensure_future(anext(stalled))
        reading = asyncio.ensure_future(read_all())
        await asyncio.sleep(0)
        for n in range(3 * QUEUE_LIMIT):
            bus.publish("volume", "create", str(n), {})
            if n % 100 == 0:
                await asyncio.sleep(0)  # the reader keeps up; the stalled one never reads
        await reading
        subscribed = len(bus._subscribers)  # the reader's, still open
        await reader.aclose()
        # A guard only: on its own the stream ends at once.
        left = await asyncio.wait_for(_drain(first, stalled), 10)
        return seen, left, subscribed

    with caplog.at_level(logging.WARNING, logger="dockyard.engine.events"):
        seen, left, subscribed = asyncio.run(scenario())
    assert seen == [str(n) for n in range(3 * QUEUE_LIMIT)]
    assert len(left) <= QUEUE_LIMIT  # what it had taken; then its stream ended
    assert subscribed == 1
    assert f"a subscriber fell {QUEUE_LIMIT} events behind; disconnecting it" in caplog.text
