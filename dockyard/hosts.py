"""Daemon addresses (``-H``) as Docker reads them, for the daemon's listeners and the CLI.

``unix:///path``, ``tcp://host:port`` (``host:port`` alone means tcp; an empty
host is localhost, an empty port 2375, or 2376 with TLS) and, for the CLI only,
``ssh://[user@]host[:port][/socket]``. A bare absolute path is a Unix socket.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

DEFAULT_HTTP_PORT = "2375"
DEFAULT_TLS_PORT = "2376"
DEFAULT_TCP_HOST = "localhost"


def parse_host(value: str, default: str, tls: bool = False) -> str:
    """The address in its full form (docker's ParseHost); ``default`` when empty."""
    host = value.strip()
    if not host:
        return f"tcp://{DEFAULT_TCP_HOST}:{DEFAULT_TLS_PORT}" if tls else default
    if host.startswith("/"):
        return f"unix://{host}"
    proto, sep, address = host.partition("://")
    if not sep:
        proto, address = "tcp", host
    if proto == "tcp":
        return "tcp://" + _tcp_address(address, host, tls)
    if proto == "unix":
        if "://" in address:
            raise InvalidArgument(f"invalid proto, expected unix: {address}")
        return f"unix://{address or default.removeprefix('unix://')}"
    if proto == "ssh":
        return host
    raise InvalidArgument(f"invalid bind address format: {host}")


def _tcp_address(address: str, original: str, tls: bool) -> str:
    if "://" in address:
        raise InvalidArgument(f"invalid proto, expected tcp: {original}")
    port = DEFAULT_TLS_PORT if tls else DEFAULT_HTTP_PORT
    address, _, path = address.partition("/")
    if path:
        raise InvalidArgument(f"invalid bind address format: {original}")
    host, port = split_host_port(address, port)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid bind address format: {original}")
    host = host or DEFAULT_TCP_HOST
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(address: str, default_port: str) -> tuple[str, str]:
    """``host:port``, ``[v6]:port``, ``host`` → (host without brackets, port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, rest.removeprefix(":") or default_port
    if address.count(":") > 1:  # a bare IPv6 address
        return address, default_port
    host, _, port = address.partition(":")
    return host, port or default_port


def tcp_endpoint(host: str) -> tuple[str, int]:
    """``tcp://host:port`` (already parsed) → (host, port)."""
    name, port = split_host_port(host.removeprefix("tcp://"), DEFAULT_HTTP_PORT)
    return name, int(port)


def socket_path(host: str) -> str:
    """The filesystem path of a ``unix://`` address."""
    if host.startswith("unix://"):
        return host[len("unix://") :]
    if host.startswith("/"):
        return host
    raise InvalidArgument(f"{host} is not a unix:// socket")
