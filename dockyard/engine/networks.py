"""Networks: `docker network`, and what the kernel holds for them.

``NetworkService`` keeps the networks (SQLite ``networks``: the predefined
``bridge``, ``host`` and ``none``, and user-defined bridge networks) and makes
the kernel match them:

- a network of the bridge driver is a Linux bridge with the gateway address;
  it is created when the network is, or when a container first needs it, and
  removed with the network or, idle, when the engine closes;
- the engine's nftables table (network/ruleset.py) is rendered from the
  bridges that exist and the ports published on them, on every change;
- containers' endpoints (engine/endpoints.py) are plugged into the bridges.

Kernel names: the default bridge is ``dockyard0`` and the table ``dockyard``
for the default data root; any other data root gets names derived from its
path, so engines side by side (tests) never share one. ``DOCKYARD_BRIDGE``
names the default bridge explicitly. User-defined networks' bridges are
``br-<id12>`` as in Docker.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_interface, ip_network
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard import config as defaults
from dockyard import rootless
from dockyard.config import Paths
from dockyard.daemonconfig import AddressSettings
from dockyard.engine.container import Container, now_rfc3339
from dockyard.engine.discovery import Discovery
from dockyard.engine.endpoints import Endpoints, endpoint_settings, network_settings
from dockyard.engine.events import EventBus
from dockyard.engine.filters import Filters
from dockyard.engine.legacylinks import LegacyLinks
from dockyard.engine.names import new_id
from dockyard.errors import Conflict, Forbidden, InvalidArgument, NotFound
from dockyard.errors import SystemError as EngineSystemError
from dockyard.network import ipam, ports, proxy, ruleset
from dockyard.store.metadata import Metadata

if TYPE_CHECKING:
    from dockyard.engine.containers.store import ContainerStore
    from dockyard.network.links import Links
    from dockyard.network.nftables import Nftables

log = logging.getLogger(__name__)
PREDEFINED = ("bridge", "host", "none")
DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MTU_OPTION = "com.docker.network.driver.mtu"
ICC_OPTION = "com.docker.network.bridge.enable_icc"
# The MTUs the kernel takes for an Ethernet link (IPv4 needs 68).
_MTU_RANGE = range(68, 65536)
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")
MAX_LINK_NAME = 15
_SYS_NET = "/sys/class/net"


def kernel_names(paths: Paths) -> tuple[str, str]:
    """(default bridge, nftables table) of the engine with these paths."""
    if str(paths.data_root) == defaults.DEFAULT_DATA_ROOT:
        bridge, table = "dockyard0", "dockyard"
    else:
        tag = hashlib.sha256(str(paths.data_root).encode()).hexdigest()[:8]
        bridge, table = f"dy{tag}", f"dockyard_{tag}"
    return os.environ.get("DOCKYARD_BRIDGE") or bridge, table


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    record: dict[str, Any]

    @property
    def driver(self) -> str:
        return str(self.record["Driver"])

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    def _config(self, version: int) -> dict[str, str] | None:
        """The IPAM Config entry of IP ``version`` (a network has one of each at most)."""
        for config in self.record["IPAM"]["Config"] or []:
            if ip_network(config["Subnet"]).version == version:
                return dict(config)
        return None

    @property
    def subnet(self) -> IPv4Network:
        return IPv4Network(self.record["IPAM"]["Config"][0]["Subnet"])

    @property
    def pool(self) -> IPv4Network:
        """Where endpoints get their addresses: the IPRange, or the whole subnet."""
        ip_range = self.record["IPAM"]["Config"][0].get("IPRange")
        return IPv4Network(ip_range) if ip_range else self.subnet

    @property
    def gateway(self) -> IPv4Address:
        return IPv4Address(self.record["IPAM"]["Config"][0]["Gateway"])

    @property
    def ipv6(self) -> bool:
        return bool(self.record.get("EnableIPv6"))

    @property
    def subnet6(self) -> IPv6Network | None:
        config = self._config(6) if self.ipv6 else None
        return IPv6Network(config["Subnet"]) if config else None

    @property
    def pool6(self) -> IPv6Network | None:
        config = self._config(6) if self.ipv6 else None
        if not config:
            return None
        return IPv6Network(config.get("IPRange") or config["Subnet"])

    @property
    def gateway6(self) -> IPv6Address | None:
        config = self._config(6) if self.ipv6 else None
        return IPv6Address(config["Gateway"]) if config else None

    @property
    def bridge(self) -> str:
        return str(self.record["Options"].get(BRIDGE_NAME_OPTION) or f"br-{self.id[:12]}")

    @property
    def mtu(self) -> int:
        """The MTU of its bridge and veths (``com.docker.network.driver.mtu``); 0: the kernel's."""
        return int((self.record["Options"] or {}).get(MTU_OPTION) or 0)

    @property
    def icc(self) -> bool:
        """Whether its containers may talk to each other (``...bridge.enable_icc``)."""
        return (self.record["Options"] or {}).get(ICC_OPTION, "true") in _GO_TRUE

    @property
    def has_dns(self) -> bool:
        """User-defined bridge networks are served by the embedded DNS server; the default one not."""
        return self.driver == "bridge" and not self.predefined


# Aliases: inside NetworkService, ``list`` names its method.
Rows = list[sqlite3.Row]
NetworkList = list[Network]
ContainerList = list[Container]
Subnets = list[ipam.Subnet]
FilterValues = dict[str, list[str]]
Views = list[dict]
Names = list[str]
Forwards = list[ruleset.Forward]


class NetworkService:
    def __init__(
        self,
        paths: Paths,
        metadata: Metadata,
        events: EventBus,
        containers: ContainerStore,
        addresses: AddressSettings | None = None,
    ) -> None:
        """``addresses``: the daemon's bip and default-address-pools (Docker's without)."""
        self.db = metadata
        self.addresses = addresses or AddressSettings()
        self.events = events
        self.default_bridge, self.table = kernel_names(paths)
        self.owner = f"dockyard:{paths.data_root}"  # the mark on our links and table
        self._links: Links | None = None
        self._nft: Nftables | None = None
        self._ensured: set[str] = set()  # bridges this engine has checked with the kernel
        self._applied = ""  # the last commands nftables took
        self._build_steps: set[str] = set()  # RUN steps plugged in now (their endpoints live)
        # Rootless: every published port is a socket of the host, served by the proxies.
        self._rootless = rootless.active()
        self.proxies = proxy.Proxies()  # the listeners of the published ports DNAT does not serve
        self._add_predefined()
        self.legacy_links = LegacyLinks(metadata, containers)
        self.discovery = Discovery(self)
        self.endpoints = Endpoints(self, containers)

    @property
    def publishes_ipv6(self) -> bool:
        """Whether a port published without host address is also bound on ``::``: where
        the host has IPv6, as Docker does; not rootless (its namespace has no IPv6 way out)."""
        return not self._rootless and ports.host_has_ipv6()

    # ------------------------------------------------------------------ containers' endpoints
    def settings_for_create(
        self, host_config: dict[str, Any], networking_config: dict[str, Any] | None, exposed: dict
    ) -> dict[str, Any]:
        """A new container's NetworkSettings (NotFound for a network that does not exist)."""
        return self.endpoints.settings_for_create(host_config, networking_config, exposed)

    def attach(self, c: Container, pid: int) -> None:
        """Plug a starting container in: its runtime has made its network namespace (``pid``)."""
        self.endpoints.attach(c, pid)

    def release(self, c: Container) -> None:
        """Give back what a stopped container held (its record is updated; the caller saves it)."""
        self.endpoints.release(c)

    def renamed(self, c: Container) -> None:
        self.endpoints.renamed(c)

    def forget(self, container_id: str) -> None:
        """Give back what the endpoints of a container that is no more held."""
        self.endpoints.forget(container_id)

    def connect(self, ref: str, container: str, endpoint_config: dict[str, Any] | None) -> None:
        self.endpoints.connect(ref, container, endpoint_config or {})

    def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        self.endpoints.disconnect(ref, container, force)

    # ------------------------------------------------------------------ builds' RUN steps
    def build_network(self, mode: str) -> Network:
        """The bridge network a build's RUN steps join for ``mode`` (the classic builder's
        ``default`` is the default bridge); NotFound, or InvalidArgument for another driver."""
        network = self.get("bridge" if mode == "default" else mode)
        if network.driver != "bridge":
            raise InvalidArgument(f"network mode {mode!r} is not supported for builds")
        return network

    def plug_build_step(self, mode: str, step_id: str, pid: int, hosts: Path) -> Container:
        """An endpoint for a RUN step whose network namespace ``pid`` is in, like a
        container's: an address, a veth into the bridge, its name in ``hosts``."""
        network = self.build_network(mode)
        step = Container(
            {
                "Id": step_id,
                "Name": "/" + step_id[:12],
                "Config": {"Hostname": step_id[:12], "ExposedPorts": None},
                "HostConfig": {"NetworkMode": network.name},
                "HostsPath": str(hosts),
                "NetworkSettings": network_settings({network.name: endpoint_settings(network, {})}),
            },
            hosts.parent,
        )
        self._build_steps.add(step_id)
        try:
            self.endpoints.attach(step, pid)
        except BaseException:
            self._build_steps.discard(step_id)
            raise
        return step

    def unplug_build_step(self, step: Container) -> None:
        self.endpoints.release(step)
        self._build_steps.discard(step.id)

    def is_build_step(self, endpoint_owner: str) -> bool:
        """Whether an endpoint's owner is a RUN step running now (not a container)."""
        return endpoint_owner in self._build_steps

    # ------------------------------------------------------------------ kernel access (lazy)
    @property
    def links(self) -> Links:
        if self._links is None:
            from dockyard.network.links import Links

            self._links = Links()
        return self._links

    @property
    def nft(self) -> Nftables:
        if self._nft is None:
            from dockyard.network.nftables import Nftables

            self._nft = Nftables()
        return self._nft

    # ------------------------------------------------------------------ records
    def _add_predefined(self) -> None:
        with self.db.transaction() as tx:
            for name in PREDEFINED:
                found = tx.execute("SELECT id FROM networks WHERE name = ?", (name,)).fetchone()
                if found and name == "bridge":
                    self._readdress_default_bridge(tx, found[0])
                if found:
                    continue
                record = self._predefined_record(name)
                tx.execute(
                    "INSERT INTO networks (id, name, created, record) VALUES (?,?,?,?)",
                    (record["Id"], name, record["Created"], json.dumps(record)),
                )

    def _readdress_default_bridge(self, tx: sqlite3.Connection, network_id: str) -> None:
        """The default bridge moved to the daemon's bip, as dockerd makes it again at start;
        kept while containers are on it."""
        if not self.addresses.bip:
            return
        record = json.loads(
            tx.execute("SELECT record FROM networks WHERE id = ?", (network_id,)).fetchone()[0]
        )
        wanted = self._default_bridge_addresses()
        if record["IPAM"]["Config"] == [wanted]:
            return
        if tx.execute("SELECT 1 FROM endpoints WHERE network_id = ?", (network_id,)).fetchone():
            log.warning("bip %s: containers are on the default bridge, kept", self.addresses.bip)
            return
        if os.path.exists(f"{_SYS_NET}/{self.default_bridge}"):
            self.links.delete(self.default_bridge)  # its old address goes with it
        record["IPAM"]["Config"] = [wanted]
        tx.execute("UPDATE networks SET record = ? WHERE id = ?", (json.dumps(record), network_id))

    def _default_bridge_addresses(self) -> dict[str, str]:
        """The bip's subnet and gateway, else a free subnet of the pools and its first host."""
        if self.addresses.bip:
            bip = ip_interface(self.addresses.bip)
            return {"Subnet": str(bip.network), "Gateway": str(bip.ip)}
        subnet = ipam.free_subnet([*ipam.host_subnets(), *self._subnets()], self.addresses.pools)
        return {"Subnet": str(subnet), "Gateway": str(ipam.first_host(subnet))}

    def _predefined_record(self, name: str) -> dict[str, Any]:
        if name != "bridge":
            return _record(name, DRIVERS[name], None, {}, {})
        addresses = self._default_bridge_addresses()
        options = {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            BRIDGE_NAME_OPTION: self.default_bridge,
            "com.docker.network.driver.mtu": "1500",
        }
        return _record(name, "bridge", addresses, options, {})

    def _subnets(self) -> Subnets:
        """The subnets, of both versions, the bridge networks hold."""
        found: Subnets = []
        for n in self.all():
            if n.driver == "bridge":
                found += [ip_network(c["Subnet"]) for c in n.record["IPAM"]["Config"] or []]
        return found

    def all(self) -> NetworkList:
        rows = self.db.query("SELECT id, name, record FROM networks ORDER BY created, name")
        return [_network(row) for row in rows]

    def get(self, ref: str) -> Network:
        """By full id, by name, then by unique id prefix — Docker's order."""
        rows = self.db.lookup("networks", "id, name, record", ref, ref)
        if len(rows) > 1:
            raise InvalidArgument(
                f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)"
            )
        if not rows:
            raise NotFound(f"network {ref} not found")
        return _network(rows[0])

    def by_id(self, network_id: str) -> Network | None:
        rows = self.db.query("SELECT id, name, record FROM networks WHERE id = ?", network_id)
        return _network(rows[0]) if rows else None

    # ------------------------------------------------------------------ docker network
    def create(
        self,
        name: str,
        driver: str = "bridge",
        ipam_config: list[dict[str, str]] | None = None,
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        internal: bool = False,
        attachable: bool = False,
        ipam_options: dict[str, str] | None = None,
        enable_ipv6: bool = False,
    ) -> dict:
        """A user-defined bridge network and its bridge; {"Id", "Warning"}.

        ``ipam_options`` are kept as given (None when the request had no IPAM), as moby
        does; its default IPAM driver reads none of them."""
        if name in PREDEFINED:
            raise Conflict(f"operation is not permitted on predefined {name} network ")
        if not name.strip():
            raise InvalidArgument("invalid name: name is empty")
        if self.db.query("SELECT 1 FROM networks WHERE name = ?", name):
            raise Conflict(f"network with name {name} already exists")
        if (driver or "bridge") != "bridge":
            raise NotFound(f'plugin "{driver}" not found')
        options = dict(options or {})
        _check_driver_options(options)
        if len(options.get(BRIDGE_NAME_OPTION, "")) > MAX_LINK_NAME:
            raise InvalidArgument(
                f"bridge name {options[BRIDGE_NAME_OPTION]} is longer than {MAX_LINK_NAME} characters"
            )
        record = _record(name, "bridge", None, options, labels or {})
        record["IPAM"].update(
            Options=ipam_options,
            Config=self._address_plan(ipam_config or [], enable_ipv6, record["Id"]),
        )
        record.update(Internal=internal, Attachable=attachable, EnableIPv6=enable_ipv6)
        network = Network(record["Id"], name, record)
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO networks (id, name, created, record) VALUES (?,?,?,?)",
                (network.id, name, record["Created"], json.dumps(record)),
            )
        try:
            self.ensure_bridge(network)
        except BaseException:
            with self.db.transaction() as tx:
                tx.execute("DELETE FROM networks WHERE id = ?", (network.id,))
            raise
        self.events.publish("network", "create", network.id, {"name": name, "type": "bridge"})
        return {"Id": network.id, "Warning": ""}

    def _address_plan(
        self, configs: list[dict[str, str]], enable_ipv6: bool, network_id: str
    ) -> list[dict[str, str]]:
        """The network's IPAM Config: an IPv4 entry, and an IPv6 one when it has IPv6 on;
        each a subnet (given or free), its gateway, an IPRange."""
        taken = self._subnets()
        by_version: dict[int, dict[str, str]] = {}
        for config in configs:
            version = _config_version(config)
            if version in by_version:
                raise InvalidArgument(f"only one IPv{version} subnet per network is supported")
            by_version[version] = config
        if 6 in by_version and not enable_ipv6:
            raise InvalidArgument(
                "network without IPv6 enabled cannot have an IPv6 subnet (use --ipv6)"
            )
        plan = [self._version_plan(by_version.get(4, {}), taken, None)]
        if enable_ipv6:
            plan.append(self._version_plan(by_version.get(6, {}), taken, network_id))
        return plan

    def _version_plan(
        self, config: dict[str, str], taken: Subnets, v6_seed: str | None
    ) -> dict[str, str]:
        """One IPAM Config entry; ``v6_seed`` (the network's id) picks a free ULA for v6."""
        if not config.get("Subnet"):
            if config.get("Gateway") or config.get("IPRange"):
                raise InvalidArgument("gateway address or ip-range specified without a subnet")
            subnet: ipam.Subnet
            if v6_seed is None:
                subnet = ipam.free_subnet([*ipam.host_subnets(), *taken], self.addresses.pools)
            else:
                subnet = ipam.ula_subnet(v6_seed)
            return {"Subnet": str(subnet), "Gateway": str(ipam.first_host(subnet))}
        subnet = ipam.parse_subnet(config["Subnet"])
        if any(subnet.overlaps(other) for other in taken if other.version == subnet.version):  # type: ignore[arg-type]
            raise Forbidden(
                "invalid pool request: Pool overlaps with other one on this address space"
            )
        gateway = config.get("Gateway")
        plan = {
            "Subnet": str(subnet),
            "Gateway": str(
                ipam.parse_gateway(gateway, subnet) if gateway else ipam.first_host(subnet)
            ),
        }
        if config.get("IPRange"):
            plan["IPRange"] = str(ipam.parse_range(config["IPRange"], subnet))
        return plan

    def inspect(self, ref: str) -> dict:
        return self._view(self.get(ref))

    def _view(self, network: Network) -> dict:
        view = dict(network.record)
        view["Containers"] = {
            row["container_id"]: endpoint_view(row, network)
            for row in self.endpoint_rows(network.id)
        }
        return view

    def list(self, filters: FilterValues | None = None) -> Views:
        wanted = Filters(
            filters or {}, allowed=("dangling", "driver", "id", "label", "name", "scope", "type")
        )
        for value in wanted.get("type"):
            if value not in ("custom", "builtin"):
                raise InvalidArgument(f"invalid filter: 'type'='{value}'")
        views = [self._view(n) for n in self.all() if _listed(n, wanted)]
        dangling = wanted.get("dangling")
        if dangling:
            keep = dangling[0].lower() in ("1", "true")
            views = [
                v for v in views if (not v["Containers"] and v["Name"] not in PREDEFINED) == keep
            ]
        return views

    def remove(self, ref: str) -> None:
        network = self.get(ref)
        if network.predefined:
            raise Conflict(f"{network.name} is a pre-defined network and cannot be removed")
        if self.endpoint_rows(network.id):
            raise Conflict(
                f"error while removing network: network {network.name} id {network.id} has active endpoints"
            )
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM networks WHERE id = ?", (network.id,))
        if os.path.exists(f"{_SYS_NET}/{network.bridge}"):
            self.links.delete(network.bridge)
        self.sync_rules()
        self.events.publish(
            "network", "destroy", network.id, {"name": network.name, "type": "bridge"}
        )

    def prune(self, filters: FilterValues | None = None) -> dict:
        wanted = Filters(filters or {}, allowed=("until", "label", "label!"))
        deleted: Names = []
        for network in self.all():
            if network.predefined or self.endpoint_rows(network.id):
                continue
            if not wanted.match_labels(network.record.get("Labels") or {}):
                continue
            if not wanted.match_until(network.record["Created"]):
                continue
            self.remove(network.id)
            deleted.append(network.name)
        return {"NetworksDeleted": deleted or None}

    # ------------------------------------------------------------------ the kernel
    def endpoint_rows(self, network_id: str | None = None) -> Rows:
        if network_id is None:
            return self.db.query("SELECT * FROM endpoints ORDER BY rowid")
        return self.db.query(
            "SELECT * FROM endpoints WHERE network_id = ? ORDER BY rowid", network_id
        )

    def ensure_bridge(self, network: Network) -> None:
        """The network's bridge, checked with the kernel once per engine while it exists.

        Its route_localnet (links.py) is turned on only once the engine's table is in
        place, whose first rule keeps containers away from the host's 127.0.0.1.
        """
        if network.bridge in self._ensured and os.path.exists(f"{_SYS_NET}/{network.bridge}"):
            return
        self.links.ensure_bridge(
            network.bridge, str(network.gateway), network.subnet.prefixlen, self.owner, network.mtu
        )
        if network.gateway6 and network.subnet6:
            self.links.add_bridge_address6(
                network.bridge, str(network.gateway6), network.subnet6.prefixlen
            )
        self.sync_rules()
        self.links.route_localnet(network.bridge)
        self._ensured.add(network.bridge)

    def sync_rules(self, again: bool = False) -> None:
        """Render the engine's table from the bridges that exist; no bridge, no table.

        ``again``: replace the kernel's table even if this engine wrote the same one last.
        """
        bridges = [
            ruleset.Bridge(n.bridge, str(n.subnet), str(n.subnet6 or ""), icc=n.icc)
            for n in self.all()
            if n.driver == "bridge" and os.path.exists(f"{_SYS_NET}/{n.bridge}")
        ]
        forwards = self._forwards()
        # The published ports the engine's listeners serve (proxy.py): the IPv6 ones, and
        # in a rootless engine all of them (their sockets are the host's); DNAT the rest.
        proxied = [f for f in forwards if self._rootless or f.is_ipv6()]
        self.proxies.sync(
            {
                proxy.Target(
                    f.proto,
                    f.host_ip,
                    f.host_port,
                    f.address6 if f.is_ipv6() and f.address6 else f.address,
                    f.port,
                )
                for f in proxied
            }
        )
        forwards = [f for f in forwards if f not in proxied]
        if again:
            self._applied = ""
        if bridges or forwards:
            commands = ruleset.render(self.table, self.owner, bridges, forwards)
        else:
            commands = ruleset.remove(self.table)
        if commands != self._applied:  # most starts and stops publish nothing: no change
            self.nft.run(commands)
            self._applied = commands

    def _forwards(self) -> Forwards:
        forwards = []
        for row in self.endpoint_rows():
            record = json.loads(row["record"])
            for proto, port, host_ip, host_port in record.get("Ports") or []:
                forwards.append(
                    ruleset.Forward(
                        proto,
                        host_ip,
                        host_port,
                        row["address"],
                        port,
                        record.get("IPv6Address") or "",
                    )
                )
        return forwards

    def published_rules(self) -> tuple[Names, Names | None]:
        """The DNAT rules the published ports call for, and those the kernel's table holds
        (None when there is no table)."""
        forwards = [] if self._rootless else self._forwards()
        wanted = sorted(ruleset.dnat_rule(f) for f in forwards if not f.is_ipv6())
        try:
            listing = self.nft.run(f"list chain ip {self.table} publish")
        except EngineSystemError:  # no table (or no nftables at all)
            return wanted, None
        found = sorted(line.strip() for line in listing.splitlines() if " dnat to " in line)
        return wanted, found

    def has_bridges(self) -> bool:
        """Whether any bridge of this engine's networks exists in the kernel."""
        return any(os.path.exists(f"{_SYS_NET}/{n.bridge}") for n in self._bridge_networks())

    def recover(self, loop: asyncio.AbstractEventLoop, containers: ContainerList) -> None:
        """After the containers' recovery: the kernel's rules as the records say, and the
        DNS server for the running containers (served on ``loop`` from now on)."""
        with self.db.transaction() as tx:
            # A build's RUN step that an engine left behind (no container has its id).
            tx.execute(
                "DELETE FROM endpoints WHERE container_id NOT IN (SELECT id FROM containers)"
            )
        self.proxies.bind(loop)  # first: the sync below listens for what is published
        if any(os.path.exists(f"{_SYS_NET}/{n.bridge}") for n in self._bridge_networks()):
            self.sync_rules()
        self.discovery.bind(loop)
        self.discovery.recover(containers)

    def close(self) -> None:
        """Remove the bridges no running container uses, and the table when nothing is left."""
        self.discovery.close()
        self.proxies.close()
        in_use = {row["network_id"] for row in self.endpoint_rows()}
        idle = [
            n
            for n in self._bridge_networks()
            if n.id not in in_use and os.path.exists(f"{_SYS_NET}/{n.bridge}")
        ]
        for network in idle:
            self.links.delete(network.bridge)
        if idle or self._nft is not None:
            self.sync_rules()
        if self._links is not None:
            self._links.close()
        if self._nft is not None:
            self._nft.close()

    def _bridge_networks(self) -> NetworkList:
        return [n for n in self.all() if n.driver == "bridge"]


def _check_driver_options(options: dict[str, str]) -> None:
    """The bridge driver's options it applies, parsed as libnetwork parses them."""
    if MTU_OPTION in options:
        value = options[MTU_OPTION]
        try:
            mtu = int(value, 10)
        except ValueError:
            raise InvalidArgument(
                f'failed to parse {MTU_OPTION} value: {value} (strconv.Atoi: parsing "{value}": '
                "invalid syntax)"
            ) from None
        if mtu not in _MTU_RANGE:
            raise InvalidArgument(f"invalid MTU number: {mtu}")
    if ICC_OPTION in options and options[ICC_OPTION] not in (*_GO_TRUE, *_GO_FALSE):
        value = options[ICC_OPTION]
        raise InvalidArgument(
            f'failed to parse {ICC_OPTION} value: {value} (strconv.ParseBool: parsing "{value}": '
            "invalid syntax)"
        )


def _record(
    name: str,
    driver: str,
    addresses: dict[str, str] | None,
    options: dict[str, str],
    labels: dict[str, str],
) -> dict[str, Any]:
    return {
        "Name": name,
        "Id": new_id(),
        "Created": now_rfc3339(),
        "Scope": "local",
        "Driver": driver,
        "EnableIPv4": True,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None,  # the daemon's own networks have none
            "Config": None if addresses is None else [addresses],
        },
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Options": options,
        "Labels": labels,
    }


def _config_version(config: dict[str, str]) -> int:
    """The IP version of a requested IPAM Config entry: its subnet's (v4 without one)."""
    subnet = config.get("Subnet")
    return ipam.parse_subnet(subnet).version if subnet else 4


def _network(row: sqlite3.Row) -> Network:
    return Network(row["id"], row["name"], json.loads(row["record"]))


def endpoint_view(row: sqlite3.Row, network: Network) -> dict[str, str]:
    """An entry of a network's Containers."""
    record = json.loads(row["record"])
    return {
        "Name": record["Name"],
        "EndpointID": record["EndpointID"],
        "MacAddress": record["MacAddress"],
        "IPv4Address": f"{row['address']}/{network.subnet.prefixlen}",
        "IPv6Address": f"{record['IPv6Address']}/{network.subnet6.prefixlen}"
        if record.get("IPv6Address") and network.subnet6
        else "",
    }


def _listed(network: Network, wanted: Filters) -> bool:
    kind = "builtin" if network.predefined else "custom"
    return (
        wanted.match_any("name", lambda v: v in network.name)
        and wanted.match_any("id", lambda v: network.id.startswith(v))
        and wanted.match_any("driver", lambda v: v == network.driver)
        and wanted.match_any("scope", lambda v: v == "local")
        and wanted.match_any("type", lambda v: v == kind)
        and wanted.match_labels(network.record.get("Labels") or {})
    )
