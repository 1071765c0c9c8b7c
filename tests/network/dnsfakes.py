"""A fake upstream DNS server for the tests: never a query leaves the machine.

It answers A queries for the names it is given and NXDOMAIN for the others,
over UDP and TCP, and records every question it gets (and from where).
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass(frozen=True)
class Question:
    name: str  # without the final dot
    kind: str  # "A", "AAAA", ...
    proto: str  # "udp" or "tcp"
    client: str  # the asker's address


class FakeUpstream:
    def __init__(
        self,
        address: str,
        answers: dict[str, str],
        make_socket: Callable[[int], socket.socket] | None = None,
    ) -> None:
        """Serve on ``address``:53; ``make_socket(kind)`` opens the sockets (another namespace)."""
        self.address = address
        self.answers = answers
        self.questions: list[Question] = []
        make = make_socket or (lambda kind: socket.socket(socket.AF_INET, kind))
        self.udp = make(socket.SOCK_DGRAM)
        self.tcp = make(socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.udp.bind((address, 53))
            self.tcp.bind((address, 53))
        except OSError:
            self.close()
            raise
        self.tcp.listen()
        self._threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def names(self) -> list[str]:
        return [q.name for q in self.questions]

    def close(self) -> None:
        for sock in (self.udp, self.tcp):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _answer(self, data: bytes, proto: str, client: str) -> bytes:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        kind = dns.rdatatype.to_text(question.rdtype)
        self.questions.append(Question(name, kind, proto, client))
        reply = dns.message.make_response(query)
        if name in self.answers:
            if kind == "A":
                reply.answer.append(
                    dns.rrset.from_text(question.name, 60, "IN", "A", self.answers[name])
                )
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply.to_wire()

    def _serve_udp(self) -> None:
        while True:
            try:
                data, client = self.udp.recvfrom(65535)
                if not client:  # shut down
                    return
                self.udp.sendto(self._answer(data, "udp", client[0]), client)
            except OSError:
                return

    def _serve_tcp(self) -> None:
        while True:
            try:
                conn, client = self.tcp.accept()
            except OSError:
                return
            with conn:
                try:
                    size = struct.unpack("!H", _recv(conn, 2))[0]
                    reply = self._answer(_recv(conn, size), "tcp", client[0])
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    continue


def _recv(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("short read")
        data += chunk
    return data


def loopback_upstream(answers: dict[str, str]) -> FakeUpstream:
    """A fake upstream on a random address of the host's loopback (no other test shares it)."""
    for _ in range(20):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 254)}.{random.randint(1, 254)}"
        try:
            return FakeUpstream(address, answers)
        except OSError:
            continue
    raise RuntimeError("no free loopback address for a fake DNS server")
