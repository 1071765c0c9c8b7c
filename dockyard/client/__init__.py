"""A client of the Engine API over the daemon's Unix socket."""

from dockyard.client.client import Client, Hijacked
from dockyard.client.errors import APIError, DaemonUnreachable
from dockyard.client.http import Response

__all__ = ["APIError", "Client", "DaemonUnreachable", "Hijacked", "Response"]
