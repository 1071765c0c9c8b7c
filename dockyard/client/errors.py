"""Errors of the API client: what the daemon refused, and a daemon that is not there."""

from __future__ import annotations

from dockyard.errors import DockyardError


class APIError(DockyardError):
    """A non-2xx/3xx answer; ``message`` is the daemon's ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class DaemonUnreachable(DockyardError):
    """Nothing answers on the daemon's socket."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"Cannot connect to the dockyard daemon at {host}. Is the dockyard daemon running?"
        )
        self.host = host
