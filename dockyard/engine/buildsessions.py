"""What a client hands its next build besides the context: secret values, the
sockets of forwarded ssh agents, and (from a client elsewhere) the directories
of its named contexts and local caches (``docker build --secret/--ssh/
--build-context/--cache-from/--cache-to``).

BuildKit serves these through a session the client keeps open; our client
posts them first (``POST /build/session``, then one upload per directory) and
names the session in the build (``POST /build?session=ID``). Secrets are held
in memory only; uploaded directories are unpacked in the session's own
directory under the daemon's tmp, where the socket of an ssh agent the client
forwards over a hijacked connection listens too (``api/agentforward.py``). A session is taken by the one build that
names them, which removes its directory when it ends, and dropped unused after
``TTL`` seconds.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import InvalidArgument
from dockyard.tarfs.extract import Extractor
from dockyard.tarfs.root import Root

TTL = 600.0
MODES = ("min", "max")  # of a cache the build sends back to the client


@dataclass
class BuildSession:
    secrets: dict[str, bytes] = field(default_factory=dict, repr=False)
    ssh: dict[str, str] = field(default_factory=dict)  # id -> agent socket on this machine
    # Modes of the local caches the build sends back (the client writes them), in order.
    cache_exports: list[str] = field(default_factory=list)
    contexts: dict[str, Path] = field(default_factory=dict)  # --build-context name -> upload
    cache_imports: list[Path] = field(default_factory=list)  # --cache-from type=local uploads
    directory: Path | None = None  # where the uploads are, removed with the session
    # What ends with the session besides its directory (a forwarded agent's connection).
    on_close: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Forget the uploads (blocking: called from worker threads)."""
        for callback in self.on_close:
            callback()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> BuildSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BuildSessions:
    """The sessions opened and not yet taken. Its methods block (an upload unpacks, an
    expired session's directory is removed): call them from worker threads."""

    def __init__(self, tmp: Path) -> None:
        self._tmp = tmp
        self._held: dict[str, tuple[float, BuildSession]] = {}
        self._lock = threading.Lock()

    def open(self, session: BuildSession) -> str:
        session_id = secrets.token_hex(16)
        with self._lock:
            expired = self._expired()
            self._held[session_id] = (time.monotonic() + TTL, session)
        _close(expired)
        return session_id

    def add_context(self, session_id: str, name: str, tar: BinaryIO) -> None:
        """A named context's directory, as the client's tar of it."""
        session = self._session(session_id)
        if name in session.contexts:
            raise InvalidArgument(f"build context {name} is given twice")
        session.contexts[name] = self._unpack(session_id, session, tar)

    def add_cache(self, session_id: str, tar: BinaryIO) -> None:
        """A local cache's directory (an OCI layout), as the client's tar of it."""
        session = self._session(session_id)
        session.cache_imports.append(self._unpack(session_id, session, tar))

    def forward_agent(self, session_id: str, ssh_id: str) -> tuple[BuildSession, Path]:
        """Where the ssh agent ``ssh_id`` the client forwards is to listen, for its steps."""
        session = self._session(session_id)
        if ssh_id in session.ssh:
            raise InvalidArgument(f"ssh agent {ssh_id} is given twice")
        path = self._directory(session_id, session) / f"ssh-{len(session.ssh)}.sock"
        session.ssh[ssh_id] = str(path)
        return session, path

    def take(self, session_id: str) -> BuildSession:
        """The session ``session_id``, forgotten here; an empty one for ""."""
        if not session_id:
            return BuildSession()
        with self._lock:
            expired = self._expired()
            held = self._held.pop(session_id, None)
        _close(expired)
        if held is None:
            raise InvalidArgument(f"no such build session: {session_id} (used or expired)")
        return held[1]

    def _session(self, session_id: str) -> BuildSession:
        with self._lock:
            held = self._held.get(session_id)
        if held is None:
            raise InvalidArgument(f"no such build session: {session_id} (used or expired)")
        return held[1]

    def _directory(self, session_id: str, session: BuildSession) -> Path:
        if session.directory is None:
            session.directory = self._tmp / f"build-session-{session_id}"
            session.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return session.directory

    def _unpack(self, session_id: str, session: BuildSession, tar: BinaryIO) -> Path:
        target = self._directory(session_id, session) / f"upload-{secrets.token_hex(8)}"
        target.mkdir()
        try:
            with Root(target) as root:
                Extractor(root, keep_owner=False).extract(tar)
        except InvalidArgument as e:
            raise InvalidArgument(f"failed to read the upload: {e.message}") from None
        return target

    def _expired(self) -> list[BuildSession]:
        """The sessions past their deadline, forgotten (the lock is held)."""
        now = time.monotonic()
        gone = [s for s, (deadline, _) in self._held.items() if deadline < now]
        return [self._held.pop(s)[1] for s in gone]


def _close(sessions: list[BuildSession]) -> None:
    for session in sessions:
        session.close()
