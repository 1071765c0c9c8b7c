"""Responses as moby writes them: compact JSON, and chunked streams that stay open.

A handler that has started a stream (events, logs, stats, a tar) cannot
answer with an error status any more; ``mark_started`` records the response
on the request so the error middleware ends the stream instead of writing a
second set of headers.
"""

from __future__ import annotations

import json

from aiohttp import web

STARTED_KEY = web.RequestKey("started_response", web.StreamResponse)


def dumps(value: object) -> str:
    """JSON as Go's encoder writes it: no spaces after separators."""
    return json.dumps(value, separators=(",", ":"))


def json_response(value: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=dumps(value).encode() + b"\n", content_type="application/json"
    )


async def start_stream(request: web.Request, content_type: str) -> web.StreamResponse:
    """Send 200 and the headers now; the body follows in chunks."""
    response = web.StreamResponse(status=200)
    response.content_type = content_type
    response.enable_chunked_encoding()
    await response.prepare(request)
    mark_started(request, response)
    return response


def mark_started(request: web.Request, response: web.StreamResponse) -> None:
    """From now on an error can only end ``response``, not replace it."""
    request[STARTED_KEY] = response


def started(request: web.Request) -> web.StreamResponse | None:
    return request.get(STARTED_KEY)


async def write_json(response: web.StreamResponse, value: object) -> None:
    """One JSON document per line, as moby's json.Encoder writes them."""
    await response.write(dumps(value).encode() + b"\n")
