"""A container's /etc/hosts, as Docker 28 writes it.

Loopback and IPv6 names first, then the --add-host entries, the legacy links'
(``docker run --link`` on the default bridge), and last the container's own
addresses under its hostname. Peers on user-defined networks are not listed:
the embedded DNS server answers for them (network/dns.py).

The file is bind-mounted into the container: the engine rewrites it in place
(engine/discovery.py), as Docker does.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::\tip6-localnet\n"
    "ff00::\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


@dataclass(frozen=True)
class Entry:
    address: str
    names: str  # space-separated

    def line(self) -> str:
        return f"{self.address}\t{self.names}\n"


def own_names(hostname: str, domainname: str) -> str:
    """The names of the container's own addresses: the FQDN, then the bare host name."""
    names = f"{hostname}.{domainname}" if domainname else hostname
    if "." in names:
        names += " " + names.split(".", 1)[0]
    return names


def render(entries: list[Entry]) -> str:
    return BASE + "".join(entry.line() for entry in entries)
