"""Whether a server the tests or the bench started is ready: a request answered,
never a bare connect.

The daemon listens before its engine has started, so a connect alone says
nothing: a request sent then is answered only once the engine runs.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

# Loopback servers only: a proxy from the environment must not see these requests.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers_ping(path: Path | str) -> bool:
    """Whether the daemon on this Unix socket answers GET /_ping with 200."""
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
        except OSError:
            return False


def registry_answers(address: str) -> bool:
    """Whether a registry on ``address`` (host:port) answers GET /v2/ (a 401 answers too)."""
    try:
        NO_PROXY.open(f"http://{address}/v2/", timeout=1).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
