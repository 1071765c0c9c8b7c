"""How containers find each other: their /etc/hosts and /etc/resolv.conf, and the names
the embedded DNS server (network/dns.py) answers with.

On a user-defined network, a container's resolv.conf names 127.0.0.11, where the
engine's DNS server answers with the names of the containers on the networks the
asker is on: each container's name, network aliases, short ID and hostname
(``DNSNames``), and the aliases of its own ``--link``s. The answers are read from
the endpoints and containers tables at each query, so a rename, a disconnect or a
stop is seen at once. Other names go to the upstream servers.

/etc/hosts holds only the container's own entries (and its legacy links'), as with
Docker 28: peers are not written into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.daemonconfig import DnsSettings
from dockyard.engine.container import Container
from dockyard.network import hosts, resolvconf
from dockyard.network.linkspec import parse_link

if TYPE_CHECKING:
    from dockyard.engine.networks import NetworkService
    from dockyard.network.dns import DnsServer

PREDEFINED_NETWORKS = ("bridge", "host", "none")


def dns_names(name: str, aliases: list[str], container_id: str, hostname: str) -> list[str]:
    """An endpoint's DNSNames, in moby's order (the first one names its address in PTR answers)."""
    names = [name, *aliases, container_id[:12], hostname]
    return list(dict.fromkeys(n for n in names if n))


def uses_embedded_dns(c: Container) -> bool:
    """A container on a user-defined network is served by the embedded DNS server."""
    return any(name not in PREDEFINED_NETWORKS for name in c.record["NetworkSettings"]["Networks"])


def resolv_conf(c: Container, defaults: DnsSettings) -> resolvconf.ResolvConf:
    """The container's resolv.conf, from the host's file as it is now.

    Each of --dns, --dns-search and --dns-option the container does not give comes
    from the daemon's configuration (``defaults``), as with dockerd.
    """
    hc = c.host_config
    conf = resolvconf.load(
        resolvconf.host_path(),
        hc.get("Dns") or list(defaults.nameservers),
        hc.get("DnsSearch") or list(defaults.search),
        hc.get("DnsOptions") or list(defaults.options),
    )
    if hc.get("NetworkMode") == "host":
        return conf
    if uses_embedded_dns(c):
        return resolvconf.for_embedded_dns(conf)
    return resolvconf.for_default_bridge(conf)


def rewrite(path: str | Path, text: str) -> None:
    """Replace a bind-mounted file's content in place (a rename would not reach the container)."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode())


class Discovery:
    def __init__(self, networks: NetworkService) -> None:
        self.networks = networks
        self.db = networks.db
        self._server: DnsServer | None = None
        self.dns_defaults = DnsSettings()  # the daemon's (engine.py sets them)
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ the files
    def etc_files(self, c: Container) -> tuple[str, str]:
        """The /etc/hosts and /etc/resolv.conf a starting container gets.

        A container in another's network namespace (``--network container:x``) gets
        that one's, as with Docker: same namespace, same DNS server.
        """
        mode = c.host_config.get("NetworkMode") or ""
        if mode.startswith("container:"):
            other = self.networks.endpoints.containers.get(mode.split(":", 1)[1])
            return (
                Path(other.record["HostsPath"]).read_text(),
                Path(other.record["ResolvConfPath"]).read_text(),
            )
        return self.hosts_file(c), resolv_conf(c, self.dns_defaults).render()

    def hosts_file(self, c: Container) -> str:
        """The container's /etc/hosts as the engine's records say now."""
        hc = c.host_config
        extra = [
            hosts.Entry(address, name)
            for name, _, address in (entry.partition(":") for entry in hc.get("ExtraHosts") or [])
        ]
        if hc.get("NetworkMode") == "host" and not extra:
            return Path("/etc/hosts").read_text()
        names = hosts.own_names(c.config["Hostname"], c.config.get("Domainname") or "")
        own = [
            hosts.Entry(address, names)
            for row in self._endpoint_rows(c.id)
            for address in (row["address"], json.loads(row["record"]).get("IPv6Address"))
            if address
        ]
        return hosts.render([*extra, *self.networks.legacy_links.host_entries(c), *own])

    def refresh_hosts(self, c: Container) -> None:
        """Rewrite the running container's /etc/hosts, and those of its legacy-link parents."""
        rewrite(c.record["HostsPath"], self.hosts_file(c))
        for parent in self.networks.legacy_links.parents(c):
            if parent.running:
                rewrite(parent.record["HostsPath"], self.hosts_file(parent))

    # ------------------------------------------------------------------ the DNS server
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop that serves the containers' queries (the engine's)."""
        self._loop = loop

    def serve(self, c: Container, pid: int) -> None:
        """Answer the container's queries on 127.0.0.11 (its namespace is that of ``pid``)."""
        conf = resolv_conf(c, self.dns_defaults)
        server = self._dns_server()
        loop = self._loop or asyncio.get_running_loop()
        server.start(loop, c.id, pid, conf.upstreams, conf.ndots_from in ("host", "override"))

    def serve_after_connect(self, c: Container, pid: int) -> None:
        """A running container joined a user-defined network: it gets the DNS server now."""
        if self._server is not None and self._server.serves(c.id):
            return
        self.serve(c, pid)
        rewrite(c.record["ResolvConfPath"], resolv_conf(c, self.dns_defaults).render())

    def stop(self, c: Container) -> None:
        if self._server is not None:
            self._server.stop(c.id)

    def recover(self, containers: list[Container]) -> None:
        """After a daemon restart: serve the running containers again (new sockets, new NAT)."""
        for c in containers:
            if c.running and uses_embedded_dns(c):
                self.serve(c, int(c.state["Pid"]))

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def _dns_server(self) -> DnsServer:
        if self._server is None:
            # dnspython is loaded by the first container on a user-defined network only.
            from dockyard.network.dns import DnsServer

            self._server = DnsServer(self, self.networks.links.in_namespace)
        return self._server

    # ------------------------------------------------------------------ names (dns.Names)
    def addresses(self, container_id: str, name: str) -> list[str] | None:
        """moby's Sandbox.ResolveName: ``name``, or ``name.network`` for each split of it."""
        view = self._view(container_id)
        if not view.own:
            return None
        name = name.rstrip(".").lower()
        candidates = [(name, "")]
        labels = name.split(".")
        for cut in range(len(labels) - 1, 0, -1):
            candidates.append((".".join(labels[:cut]), ".".join(labels[cut:])))
        for wanted, network in candidates:
            found = view.by_link_alias(wanted, network) or view.by_name(wanted, network)
            if found:
                return found
        return None

    def reverse(self, container_id: str, address: str) -> str | None:
        view = self._view(container_id)
        for peer in view.peers:
            if peer.network in view.own and peer.address == address:
                return f"{peer.names[0]}.{peer.network}"
        return None

    def forwards_from_host(self, container_id: str) -> bool:
        internal = {n.id for n in self.networks.all() if n.record.get("Internal")}
        return any(row["network_id"] not in internal for row in self._endpoint_rows(container_id))

    def _view(self, asker: str) -> _View:
        networks = {n.id: n.name.lower() for n in self.networks.all() if n.has_dns}
        rows = self.db.query(
            "SELECT e.network_id, e.container_id, e.address, e.record, c.name"
            " FROM endpoints e JOIN containers c ON c.id = e.container_id ORDER BY e.rowid"
        )
        return _View([_peer(row, networks) for row in rows if row["network_id"] in networks], asker)

    def _endpoint_rows(self, container_id: str) -> list[Any]:
        return self.db.query(
            "SELECT * FROM endpoints WHERE container_id = ? ORDER BY rowid", container_id
        )


@dataclass(frozen=True)
class _Peer:
    """A container's endpoint on a network with the DNS server."""

    network: str  # the network's name, lower case
    container_id: str
    address: str
    address6: str  # "" off IPv6
    names: list[str]  # its DNSNames
    links: list[str]  # its --link aliases ("name:alias"), which only it resolves


def _peer(row: Any, networks: dict[str, str]) -> _Peer:
    record = json.loads(row["record"])
    names = dns_names(row["name"], record["Aliases"], row["container_id"], record["Hostname"])
    return _Peer(
        networks[row["network_id"]],
        row["container_id"],
        row["address"],
        record.get("IPv6Address") or "",
        names,
        record.get("Links") or [],
    )


class _View:
    """The endpoints as one asking container sees them."""

    def __init__(self, peers: list[_Peer], asker: str) -> None:
        self.peers = peers
        self.own = {p.network: p for p in peers if p.container_id == asker}

    def by_link_alias(self, alias: str, network: str) -> list[str]:
        """A --link alias of the asker's endpoints stands for the linked container's name."""
        for own in self._own_on(network):
            for link in own.links:
                target, link_alias = parse_link(link)
                if link_alias.lower() == alias:
                    found = self._on_network(own.network, target.lower())
                    if found:
                        return found
        return []

    def by_name(self, name: str, network: str) -> list[str]:
        for own in self._own_on(network):
            found = self._on_network(own.network, name)
            if found:
                return found
        return []

    def _own_on(self, network: str) -> list[_Peer]:
        return [own for own in self.own.values() if not network or own.network == network]

    def _on_network(self, network: str, name: str) -> list[str]:
        """The v4 and v6 addresses of ``name`` on ``network``, v4 first."""
        found = {
            address
            for p in self.peers
            if p.network == network and name in (n.lower() for n in p.names)
            for address in (p.address, p.address6)
            if address
        }
        return sorted(found, key=lambda a: (ip_address(a).version, int(ip_address(a))))
