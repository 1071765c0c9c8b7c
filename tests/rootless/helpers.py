"""What the rootless tests share: free ports, the host's own address, a page through a port."""

from __future__ import annotations

import socket
import urllib.request

from tests.e2e.helpers import wait_until

# A web server in busybox, on port 8000, serving "hello".
WEB = ["sh", "-c", "mkdir /www && echo hello > /www/index.html && exec httpd -f -p 8000 -h /www"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def page(address: str, port: int, path: str = "index.html") -> str:
    """The page once the server in the container answers (it starts after `run -d` returns)."""
    url = f"http://{address}:{port}/{path}"
    body: list[str] = []

    def answers() -> bool:
        try:
            body.append(urllib.request.urlopen(url, timeout=5).read().decode())  # noqa: S310
        except OSError:
            return False
        return True

    wait_until(answers, timeout=20, what=f"{url} to answer")
    return body[-1]


def host_address() -> str:
    """An address of this machine other than loopback (the one a route out would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the source address
        return str(s.getsockname()[0])


def refused(address: str, port: int) -> bool:
    """Whether nothing listens on ``address:port`` (a connection is refused)."""
    with socket.socket() as s:
        return s.connect_ex((address, port)) != 0
