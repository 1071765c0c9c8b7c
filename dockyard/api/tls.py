"""TLS on the API's TCP listener, with the half-close that hijacked streams need.

asyncio's own TLS closes a connection once the client's ``close_notify``
arrives, whatever the protocol's ``eof_received`` says. The docker CLI sends
exactly that when its stdin ends (Go's ``tls.Conn.CloseWrite``) and goes on
reading the container's output, as it does over a socket with a TCP
half-close. So this layer does TLS itself, through memory BIOs: a
``close_notify`` is the end of the client's input and nothing more, and the
connection protocol (``api/connection.py``, then a hijacked stream) decides,
as on the Unix socket, when the connection closes.

``TLSServerProtocol`` sits on the TCP transport; once the handshake is done it
starts the connection's protocol on a ``TLSTransport``, which encrypts what
the protocol writes and hands it the plain bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

READ_SIZE = 65536
# What Go's net/http looks for in a first record header to answer plain HTTP sent to TLS.
_HTTP_STARTS = (b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO")
_HTTP_TO_HTTPS = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


class TLSServerProtocol(asyncio.Protocol):
    def __init__(
        self, context: ssl.SSLContext, app_factory: Callable[[], asyncio.Protocol]
    ) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._app_factory = app_factory
        self.app: asyncio.BaseProtocol | None = None
        self.raw: asyncio.Transport | None = None
        self._transport: TLSTransport | None = None
        self._input_ended = False
        self.reading = True

    # -- the TCP side ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.raw = transport

    def data_received(self, data: bytes) -> None:
        if self._transport is None and self._incoming.pending == 0 and data[:5] in _HTTP_STARTS:
            assert self.raw is not None
            self.raw.write(_HTTP_TO_HTTPS)  # as Go's server: the client learns what went wrong
            self.raw.close()
            return
        self._incoming.write(data)
        if self._transport is None and not self._handshake():
            return
        self.deliver()

    def eof_received(self) -> bool:
        # The TCP stream ended; a client that sent no close_notify ends its input all the same.
        self._incoming.write_eof()
        if self._transport is None:
            return False
        self.deliver()
        if not self._input_ended:
            self._end_of_input()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.app is not None:
            self.app.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.app is not None:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self.app is not None:
            self.app.resume_writing()

    def _handshake(self) -> bool:
        """Advance the handshake; True once it is done and the connection's protocol runs."""
        assert self.raw is not None
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self.flush()
            return False
        except (ssl.SSLError, OSError) as exc:
            # As Go's net/http: the reason, logged; the client learns it from the alert.
            log.info("TLS handshake error from %s: %s", _peer(self.raw), exc)
            self.flush()
            self.raw.close()
            return False
        self.flush()
        self._transport = TLSTransport(self)
        self.app = self._app_factory()
        self.app.connection_made(self._transport)
        return True

    # -- between the two ------------------------------------------------------------

    def deliver(self) -> None:
        """Decrypt what has arrived and give it to the connection's protocol."""
        while self.reading and self.app is not None and not self._input_ended:
            try:
                data = self._tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._end_of_input()  # close_notify, or the TCP stream's end
                break
            except ssl.SSLError as exc:
                log.info("TLS error from %s: %s", _peer(self.raw), exc)
                self.abort()
                return
            if not data:
                self._end_of_input()
                break
            assert isinstance(self.app, asyncio.Protocol)
            self.app.data_received(data)
        self.flush()  # TLS 1.3 may answer what it read (a key update)

    def _end_of_input(self) -> None:
        self._input_ended = True
        assert isinstance(self.app, asyncio.Protocol)
        if not self.app.eof_received():
            self.close()

    def write(self, data: bytes) -> None:
        try:
            self._tls.write(data)
        except ssl.SSLError as exc:
            log.info("TLS error to %s: %s", _peer(self.raw), exc)
            self.abort()
            return
        self.flush()

    def flush(self) -> None:
        data = self._outgoing.read()
        if data and self.raw is not None and not self.raw.is_closing():
            self.raw.write(data)

    def close(self) -> None:
        """Say close_notify after what was written, then close the TCP stream once it is sent."""
        assert self.raw is not None
        if self.raw.is_closing():
            return
        # SSLWantReadError: our close_notify is out; the client's need not be awaited.
        with contextlib.suppress(ssl.SSLError, OSError):
            self._tls.unwrap()
        self.flush()
        self.raw.close()

    def abort(self) -> None:
        assert self.raw is not None
        self.raw.abort()


class TLSTransport(asyncio.Transport):
    """What the connection's protocol sees: a transport that carries plain bytes."""

    def __init__(self, tls: TLSServerProtocol) -> None:
        super().__init__()
        self._tls = tls
        assert tls.raw is not None
        self._raw = tls.raw
        self._closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sslcontext":
            return self._tls._tls.context
        if name == "ssl_object":
            return self._tls._tls
        if name == "peercert":
            return self._tls._tls.getpeercert()
        return self._raw.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._closing or self._raw.is_closing()

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._tls.close()

    def abort(self) -> None:
        self._closing = True
        self._tls.abort()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing and data:
            self._tls.write(bytes(data))

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self._raw.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._raw.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._raw.set_write_buffer_limits(high, low)

    def is_reading(self) -> bool:
        return self._tls.reading and self._raw.is_reading()

    def pause_reading(self) -> None:
        self._tls.reading = False
        self._raw.pause_reading()

    def resume_reading(self) -> None:
        self._tls.reading = True
        self._raw.resume_reading()
        # Records decrypted by nobody while paused are already here: no new bytes will announce them.
        asyncio.get_running_loop().call_soon(self._tls.deliver)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._tls.app = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._tls.app is not None
        return self._tls.app


def _peer(transport: asyncio.BaseTransport | None) -> str:
    peer = transport.get_extra_info("peername") if transport else None
    return f"{peer[0]}:{peer[1]}" if peer else "?"
