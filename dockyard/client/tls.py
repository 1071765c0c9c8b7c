"""The client's end of TLS: a blocking socket-like object over memory BIOs.

The standard library's SSLSocket cannot half-close: its ``shutdown`` drops
TLS altogether, and ``unwrap`` waits for the daemon's own close_notify. A
hijacked stream must tell the container that its stdin ended (close_notify,
as Go's ``tls.Conn.CloseWrite``) and go on reading its output; so this layer
drives the TLS object itself. Every record that arrives is decrypted at once
into a plain buffer, so that ``pending`` tells a select() loop what is already
here, and sending close_notify never meets a record OpenSSL has not read.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

from dockyard.errors import SystemError

READ_SIZE = 65536


class TLSSocket:
    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_hostname: str) -> None:
        self.sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )
        self._plain = bytearray()
        self._ended = False
        self._handshake()

    def _handshake(self) -> None:
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if not self._feed():
                    raise ConnectionResetError(
                        "the daemon closed the connection during the TLS handshake"
                    ) from None
            except ssl.SSLError as exc:
                self._flush()  # our alert tells the daemon why
                raise refused(exc) from None
        self._flush()

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self.sock.sendall(data)

    def _feed(self) -> bool:
        """Read from the network into TLS; False at its end."""
        data = self.sock.recv(READ_SIZE)
        if not data:
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True

    def _decrypt(self) -> None:
        while not self._ended:
            try:
                data = self._tls.read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._ended = True  # close_notify, or the network's end without one
                break
            except ssl.SSLError as exc:
                # With TLS 1.3 a daemon refuses our certificate after the handshake.
                raise refused(exc) from None
            if not data:
                self._ended = True
                break
            self._plain += data
        self._flush()  # TLS 1.3 may answer what it read (a key update)

    # -- what callers use: the subset of socket.socket that the client needs ----------

    def recv(self, size: int) -> bytes:
        while not self._plain and not self._ended:
            if not self._feed():
                self._decrypt()
                self._ended = True
                break
            self._decrypt()
        data = bytes(self._plain[:size])
        del self._plain[:size]
        return data

    def pending(self) -> int:
        """Plain bytes already received, which select() on the socket would not show."""
        return len(self._plain)

    def sendall(self, data: bytes) -> None:
        self._tls.write(data)
        self._flush()

    def shutdown(self, how: int) -> None:
        """SHUT_WR sends close_notify and keeps reading; the rest shut the socket."""
        if how != socket.SHUT_WR:
            self.sock.shutdown(how)
            return
        self._decrypt()  # take every complete record in first: none may meet the shutdown
        # SSLWantReadError: our close_notify is written; the daemon's comes when its output ends.
        with contextlib.suppress(ssl.SSLWantReadError):
            self._tls.unwrap()
        self._flush()

    def fileno(self) -> int:
        return self.sock.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def close(self) -> None:
        self.sock.close()


def refused(exc: ssl.SSLError) -> SystemError:
    """An error the user can read: ``tls: tlsv1 alert unknown ca``, not OpenSSL's decoration."""
    reason = exc.reason or str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        reason = exc.verify_message
    return SystemError(f"error during connect: tls: {reason.lower().replace('_', ' ')}")
