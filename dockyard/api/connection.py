"""One client connection: aiohttp's HTTP/1.1 protocol with the manners of Go's net/http.

- Request heads up to 1 MiB, as Go's ``DefaultMaxHeaderBytes``: `docker build`
  sends every registry login of the client's config.json in one
  ``X-Registry-Config`` header, over aiohttp's 8 KiB default with a few.
- A request the parser refuses is answered without a word of its content:
  aiohttp's messages quote the offending line, which may be credentials.
  Too long a head gets Go's ``431 Request Header Fields Too Large``.
- A client that shuts its sending side after its request (``printf 'GET
  /version HTTP/1.0\\r\\n\\r\\n' | socat - UNIX-CONNECT:...``) still gets its
  answer; aiohttp would drop the connection at the end of input. A stream
  under way (events, ``logs -f``) still ends at once: a client that hung up
  looks the same on the socket.

aiohttp keeps what a connection is doing in private attributes (the waiter
for the next request, the queue of parsed ones, the request being handled);
the half-close reads them.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from dockyard.api import responses

log = logging.getLogger(__name__)

# Go's net/http default limit on a request's line and headers.
MAX_HEADER_BYTES = 1 << 20
HEAD_LIMITS = {"max_line_size": MAX_HEADER_BYTES, "max_field_size": MAX_HEADER_BYTES}

_TOO_LARGE = "431 Request Header Fields Too Large"


class Connection(web.RequestHandler):
    def eof_received(self) -> bool:
        if self._idle():
            return False  # nothing asked: close
        # A request is queued or under way: look at it once its handler has begun.
        self._loop.call_soon(self._after_end_of_input)
        return True  # keep the socket open for the answer

    def _after_end_of_input(self) -> None:
        request = self._current_request
        bodies = [payload for _, payload in self._messages]
        if request is not None:
            bodies.append(request.content)
        streaming = request is not None and responses.started(request) is not None
        if self._idle() or streaming or not all(body.is_eof() for body in bodies):
            self.force_close()  # nobody to answer, or a body that can never arrive
        else:
            self.close()  # answer what was asked, then close: no request can follow

    def _idle(self) -> bool:
        """Waiting for the next request."""
        return self._waiter is not None and not self._waiter.done()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        too_large = isinstance(exc, LineTooLong)
        status, text = (431, _TOO_LARGE) if too_large else (400, "400 Bad Request")
        # The class names the fault; its message would repeat the request's bytes.
        log.warning("refused a malformed request: %s (%d)", type(exc).__name__, status)
        response = web.Response(status=status, text=text, content_type="text/plain")
        response.force_close()
        return response
