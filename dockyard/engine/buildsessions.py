"""What a client hands its next build besides the context: secret values and the
sockets of forwarded ssh agents (``docker build --secret/--ssh``).

BuildKit serves these through a session the client keeps open; our client
posts them first (``POST /build/session``) and names the session in the build
(``POST /build?session=ID``). They are held in memory only, taken by the one
build that names them, and dropped unused after ``TTL`` seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

TTL = 600.0


@dataclass(frozen=True)
class BuildSession:
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    ssh: dict[str, str] = field(default_factory=dict)  # id -> agent socket on this machine


class BuildSessions:
    def __init__(self) -> None:
        self._held: dict[str, tuple[float, BuildSession]] = {}
        self._lock = threading.Lock()

    def open(self, session: BuildSession) -> str:
        session_id = secrets.token_hex(16)
        with self._lock:
            self._expire()
            self._held[session_id] = (time.monotonic() + TTL, session)
        return session_id

    def take(self, session_id: str) -> BuildSession:
        """The session ``session_id``, forgotten here; an empty one for ""."""
        if not session_id:
            return BuildSession()
        with self._lock:
            self._expire()
            held = self._held.pop(session_id, None)
        if held is None:
            raise InvalidArgument(f"no such build session: {session_id} (used or expired)")
        return held[1]

    def _expire(self) -> None:
        now = time.monotonic()
        for session_id in [s for s, (deadline, _) in self._held.items() if deadline < now]:
            del self._held[session_id]
