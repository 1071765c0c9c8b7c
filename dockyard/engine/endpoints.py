"""A container's places on networks: what it asks for, and its endpoints while it runs.

A container's record says which networks it is on
(``NetworkSettings.Networks``: name → EndpointSettings, with the aliases and
address asked for). While it runs, each bridge network it is on holds an
endpoint (SQLite ``endpoints``): an address from the network's subnet, a veth
pair from the bridge into the container's namespace, and on its first
network the ports it publishes. The endpoints are made when the runtime has
created the container's namespace (``attach``) and released when the
container stops (``release``): its veth pairs go with its namespace, the
rules and addresses are given back here.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any

from dockyard.engine.container import Container
from dockyard.engine.discovery import dns_names
from dockyard.engine.names import new_id
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.network import ipam, ports
from dockyard.network.links import Endpoint
from dockyard.network.linkspec import parse_link

if TYPE_CHECKING:
    from dockyard.engine.containers.store import ContainerStore
    from dockyard.engine.networks import Network, NetworkService

_RUNTIME_FIELDS = {
    "EndpointID": "",
    "Gateway": "",
    "IPAddress": "",
    "IPPrefixLen": 0,
    "MacAddress": "",
    "IPv6Gateway": "",
    "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0,
}
_SYS_NET = "/sys/class/net"
log = logging.getLogger(__name__)


def endpoint_settings(network: Network, config: dict[str, Any]) -> dict[str, Any]:
    """EndpointSettings of a container on ``network``, before it runs."""
    return {
        "IPAMConfig": config.get("IPAMConfig") or None,
        "Links": config.get("Links") or None,
        "Aliases": config.get("Aliases") or None,
        "MacAddress": config.get("MacAddress") or "",
        "DriverOpts": None,
        "GwPriority": 0,
        "NetworkID": network.id,
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def network_settings(networks: dict[str, dict]) -> dict[str, Any]:
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": {},
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": networks,
    }


class Endpoints:
    def __init__(self, networks: NetworkService, containers: ContainerStore) -> None:
        self.networks = networks
        self.containers = containers
        self.db = networks.db

    # ------------------------------------------------------------------ create
    def settings_for_create(
        self, host_config: dict[str, Any], networking_config: dict[str, Any] | None, exposed: dict
    ) -> dict[str, Any]:
        """NetworkSettings of a new container; refuses unknown networks and bad requests."""
        # A bad port spec is refused now, not at start.
        ports.requests(host_config, exposed, self.networks.publishes_ipv6)
        mode = host_config.get("NetworkMode") or "bridge"
        if mode.startswith("container:"):
            self.containers.get(mode.split(":", 1)[1])
            return network_settings({})
        configs = (networking_config or {}).get("EndpointsConfig") or {}
        for name, asked in configs.items():
            try:
                _check_mac(asked or {})
            except InvalidArgument as e:
                raise InvalidArgument(f"invalid config for network {name}: {e.message}") from None
        network = self.networks.get(mode)
        config = configs.get(mode) or configs.get(network.name) or {}
        _check_request(network, config)
        return network_settings({network.name: endpoint_settings(network, config)})

    # ------------------------------------------------------------------ start and stop
    def attach(self, c: Container, pid: int) -> None:
        """Endpoints for a container whose namespace the runtime just made (``pid`` is in it)."""
        wanted = self._bridge_networks(c)
        if not wanted:
            return
        exposed = c.config.get("ExposedPorts") or {}
        publish = ports.requests(c.host_config, exposed, self.networks.publishes_ipv6)
        try:
            with self.db.transaction() as tx:
                for index, (network, settings) in enumerate(wanted):
                    self._allocate(
                        tx, c, network, settings, f"eth{index}", publish if index == 0 else []
                    )
            for index, (network, _settings) in enumerate(wanted):
                self._plug(c, pid, network, default_route=index == 0)
            self.networks.sync_rules()
            self._show(c, pid)
            if any(network.has_dns for network, _ in wanted):
                self.networks.discovery.serve(c, pid)
        except BaseException:
            self.release(c)
            raise
        self.networks.discovery.refresh_hosts(c)

    def release(self, c: Container) -> None:
        """Give back what the container's endpoints held; its record shows it stopped.

        Called as the container's exit is recorded, which nothing here may stop: the
        records are released first, and a clean-up that fails is logged, not raised.
        """
        self.networks.discovery.stop(c)  # its sockets hold the namespace
        settings = c.record["NetworkSettings"]
        for endpoint in settings["Networks"].values():
            endpoint.update(_RUNTIME_FIELDS)
        settings.update(network_settings(settings["Networks"]))
        self.forget(c.id)

    def forget(self, container_id: str) -> None:
        """Give back what a container's endpoints held: their rows, veths and rules."""
        rows = self._rows(container_id)
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))
        if not rows:
            return
        try:
            for row in rows:
                veth = json.loads(row["record"])["HostIfName"]
                if os.path.exists(f"{_SYS_NET}/{veth}"):  # usually gone with the namespace
                    self.networks.links.delete(veth)
            self.networks.sync_rules()
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("cleaning up the network of container %s", container_id[:12])

    # ------------------------------------------------------------------ connect / disconnect
    def connect(self, network_ref: str, container_ref: str, config: dict[str, Any]) -> None:
        network = self.networks.get(network_ref)
        c = self.containers.get(container_ref)
        _check_connectable(c, network)
        _check_mac(config)
        networks = c.record["NetworkSettings"]["Networks"]
        if network.name in networks:
            raise Conflict(f"endpoint with name {c.name} already exists in network {network.name}")
        _check_request(network, config)
        settings = endpoint_settings(network, config)
        if c.running:
            pid = int(c.state["Pid"])
            in_use = {json.loads(r["record"])["IfName"] for r in self._rows(c.id)}
            ifname = next(f"eth{i}" for i in range(len(in_use) + 1) if f"eth{i}" not in in_use)
            with self.db.transaction() as tx:
                self._allocate(tx, c, network, settings, ifname, [])
            try:
                self._plug(c, pid, network, default_route=not in_use)
                self.networks.sync_rules()
            except BaseException:
                self._unplug(c, network)
                raise
            networks[network.name] = settings
            self._show(c, pid)
            if network.has_dns:
                self.networks.discovery.serve_after_connect(c, pid)
            self.networks.discovery.refresh_hosts(c)
        else:
            networks[network.name] = settings
        self.containers.save(c)
        self.networks.events.publish(
            "network",
            "connect",
            network.id,
            {"container": c.id, "name": network.name, "type": "bridge"},
        )

    def disconnect(self, network_ref: str, container_ref: str, force: bool = False) -> None:
        network = self.networks.get(network_ref)
        try:
            c = self.containers.get(container_ref)
        except NotFound:
            if force:
                return
            raise
        networks = c.record["NetworkSettings"]["Networks"]
        if network.name not in networks:
            raise Conflict(f"container {c.id} is not connected to network {network.name}")
        if network.driver != "bridge":
            raise Conflict(
                "container cannot be disconnected from host network or connected to host network"
            )
        if c.running:
            self._unplug(c, network)
            self.networks.discovery.refresh_hosts(c)
        del networks[network.name]
        self.containers.save(c)
        self.networks.events.publish(
            "network",
            "disconnect",
            network.id,
            {"container": c.id, "name": network.name, "type": "bridge"},
        )

    def renamed(self, c: Container) -> None:
        """A renamed container's endpoints and DNSNames carry its new name (the caller saves it)."""
        with self.db.transaction() as tx:
            for row in self._rows(c.id):
                record = json.loads(row["record"])
                record["Name"] = c.name
                tx.execute(
                    "UPDATE endpoints SET record = ? WHERE network_id = ? AND container_id = ?",
                    (json.dumps(record), row["network_id"], c.id),
                )
        for endpoint in c.record["NetworkSettings"]["Networks"].values():
            if endpoint.get("DNSNames"):
                endpoint["DNSNames"] = dns_names(
                    c.name, endpoint.get("Aliases") or [], c.id, c.config["Hostname"]
                )

    # ------------------------------------------------------------------ helpers
    def _bridge_networks(self, c: Container) -> list[tuple[Network, dict]]:
        wanted = []
        for name, settings in c.record["NetworkSettings"]["Networks"].items():
            # Records of containers created before networks were kept have no NetworkID.
            network = self.networks.by_id(settings.get("NetworkID") or "") or self._by_name(name)
            if network is None:
                raise NotFound(f"failed to set up container networking: network {name} not found")
            if network.driver == "bridge":
                wanted.append((network, settings))
        return wanted

    def _by_name(self, name: str) -> Network | None:
        try:
            return self.networks.get(name)
        except NotFound:
            return None

    def _rows(self, container_id: str) -> list[sqlite3.Row]:
        return self.db.query(
            "SELECT * FROM endpoints WHERE container_id = ? ORDER BY rowid", container_id
        )

    def _allocate(
        self,
        tx: sqlite3.Connection,
        c: Container,
        network: Network,
        settings: dict,
        ifname: str,
        publish: list[ports.Request],
    ) -> None:
        """An address (and host ports) for ``c`` on ``network``, recorded in ``tx``."""
        rows = tx.execute("SELECT address FROM endpoints WHERE network_id = ?", (network.id,))
        taken = {IPv4Address(r["address"]) for r in rows} | {network.gateway}
        requested = (settings.get("IPAMConfig") or {}).get("IPv4Address")
        if requested:
            address = ipam.parse_address(requested, network.subnet, network.name)
            if address in taken:
                raise Conflict(
                    f"failed to set up container networking: Address already in use: {address}"
                )
        else:
            address = ipam.next_free(network.pool, network.subnet, taken)
        # What was asked: on a first start still in the settings; on the network the
        # container was created on, kept in Config.MacAddress as moby's inspect shows it.
        primary = (c.host_config.get("NetworkMode") or "") in (network.name, network.id)
        desired = settings.get("MacAddress") or (c.config.get("MacAddress") if primary else "")
        address6 = self._address6(tx, network, settings)
        endpoint_id = new_id()
        published = ports.allocate(publish, self._published(tx), f"{c.name} ({endpoint_id[:12]})")
        record = {
            "EndpointID": endpoint_id,
            "MacAddress": ipam.canonical_mac(desired) if desired else ipam.mac_address(address),
            "HostIfName": f"veth{endpoint_id[:7]}",
            "IfName": ifname,
            "Name": c.name,
            "Hostname": c.config.get("Hostname") or "",
            "Aliases": settings.get("Aliases") or [],
            "Links": settings.get("Links") or [],
            "Ports": [[p.proto, p.port, p.host_ip, p.host_port] for p in published],
            "IPv6Address": str(address6) if address6 else "",
        }
        tx.execute(
            "INSERT INTO endpoints (network_id, container_id, address, record) VALUES (?,?,?,?)",
            (network.id, c.id, str(address), json.dumps(record)),
        )

    @staticmethod
    def _address6(tx: sqlite3.Connection, network: Network, settings: dict) -> IPv6Address | None:
        """An IPv6 address for an endpoint on ``network``, when it has IPv6 on."""
        if network.subnet6 is None or network.pool6 is None or network.gateway6 is None:
            return None
        rows = tx.execute("SELECT record FROM endpoints WHERE network_id = ?", (network.id,))
        taken: set[ipam.Address] = {network.gateway6}
        taken |= {IPv6Address(a) for r in rows if (a := json.loads(r["record"]).get("IPv6Address"))}
        requested = (settings.get("IPAMConfig") or {}).get("IPv6Address")
        if requested:
            address = ipam.parse_address(requested, network.subnet6, network.name)
            if address in taken:
                raise Conflict(
                    f"failed to set up container networking: Address already in use: {address}"
                )
        else:
            address = ipam.next_free(network.pool6, network.subnet6, taken)
        return IPv6Address(address)

    @staticmethod
    def _published(tx: sqlite3.Connection) -> list[ports.Published]:
        found = []
        for row in tx.execute("SELECT record FROM endpoints"):
            for proto, port, host_ip, host_port in json.loads(row["record"])["Ports"]:
                found.append(ports.Published(proto, port, host_ip, host_port))
        return found

    def _row(self, container_id: str, network_id: str) -> sqlite3.Row:
        return self.db.query(
            "SELECT * FROM endpoints WHERE container_id = ? AND network_id = ?",
            container_id,
            network_id,
        )[0]

    def _plug(self, c: Container, pid: int, network: Network, default_route: bool) -> None:
        row = self._row(c.id, network.id)
        record = json.loads(row["record"])
        self.networks.ensure_bridge(network)
        self.networks.links.add_endpoint(
            Endpoint(
                pid=pid,
                host_name=record["HostIfName"],
                bridge=network.bridge,
                ifname=record["IfName"],
                address=row["address"],
                prefixlen=network.subnet.prefixlen,
                gateway=str(network.gateway),
                mac=record["MacAddress"],
                default_route=default_route,
                alias=self.networks.owner,
                address6=record.get("IPv6Address") or "",
                prefixlen6=network.subnet6.prefixlen if network.subnet6 else 0,
                gateway6=str(network.gateway6 or ""),
                mtu=network.mtu,
            )
        )

    def _unplug(self, c: Container, network: Network) -> None:
        rows = [r for r in self._rows(c.id) if r["network_id"] == network.id]
        for row in rows:
            self.networks.links.delete(json.loads(row["record"])["HostIfName"])
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?",
                (c.id, network.id),
            )
        self.networks.sync_rules()

    def _show(self, c: Container, pid: int) -> None:
        """The running container's addresses and ports in its record, as `inspect` shows them."""
        settings = c.record["NetworkSettings"]
        published: list[ports.Published] = []
        for row in self._rows(c.id):
            network = self.networks.by_id(row["network_id"])
            if network is None or network.name not in settings["Networks"]:
                continue
            record = json.loads(row["record"])
            endpoint = settings["Networks"][network.name]
            endpoint.update(
                EndpointID=record["EndpointID"],
                Gateway=str(network.gateway),
                IPAddress=row["address"],
                IPPrefixLen=network.subnet.prefixlen,
                MacAddress=record["MacAddress"],
                **_ipv6_fields(network, record.get("IPv6Address") or ""),
                DNSNames=dns_names(c.name, record["Aliases"], c.id, record["Hostname"])
                if network.has_dns
                else None,
            )
            published += [ports.Published(*p) for p in record["Ports"]]
            if network.name == "bridge":
                settings.update({k: endpoint[k] for k in _RUNTIME_FIELDS})
        settings.update(
            SandboxID=c.id,
            SandboxKey=f"/proc/{pid}/ns/net",
            Ports=ports.bindings_view(published, c.config.get("ExposedPorts") or {}),
        )


def _ipv6_fields(network: Network, address: str) -> dict[str, Any]:
    """An endpoint's IPv6 fields of EndpointSettings (empty off IPv6)."""
    if not address or network.subnet6 is None:
        return {"IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0}
    return {
        "IPv6Gateway": str(network.gateway6),
        "GlobalIPv6Address": address,
        "GlobalIPv6PrefixLen": network.subnet6.prefixlen,
    }


def _check_request(network: Network, config: dict[str, Any]) -> None:
    if network.driver != "bridge":
        return
    user_defined = network.name != "bridge"
    if config.get("Aliases") and not user_defined:
        raise InvalidArgument(
            "network-scoped alias is supported only for containers in user defined networks"
        )
    for link in config.get("Links") or []:
        parse_link(link)
    address = (config.get("IPAMConfig") or {}).get("IPv4Address")
    if address:
        if not user_defined:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
        ipam.parse_address(address, network.subnet, network.name)
    address6 = (config.get("IPAMConfig") or {}).get("IPv6Address")
    if address6:
        if not user_defined:
            raise InvalidArgument(
                "user specified IP address is supported on user defined networks only"
            )
        if network.subnet6 is None:  # moby: no v6 subnet contains it
            raise InvalidArgument(
                f"no configured subnet or ip-range contain the IP address {address6} of network {network.name}"
            )
        ipam.parse_address(address6, network.subnet6, network.name)


def _check_mac(config: dict[str, Any]) -> None:
    mac = config.get("MacAddress") or ""
    if not mac:
        return
    try:
        ipam.canonical_mac(mac)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


def _check_connectable(c: Container, network: Network) -> None:
    mode = c.host_config.get("NetworkMode") or "bridge"
    if mode in ("host", "none") or mode.startswith("container:"):
        raise Conflict(
            "container sharing network namespace with another container or host cannot be connected to any other network"
        )
    if network.driver != "bridge":
        raise Conflict(
            "container cannot be disconnected from host network or connected to host network"
        )
