"""Legacy links: ``docker run --link child:alias`` on the default bridge.

A link is recorded when the parent is created (SQLite ``links``: moby's
linkIndex, kept across restarts) and gives the parent, each time it starts,
environment variables describing the child (``ALIAS_PORT_80_TCP_ADDR``, ...,
network/linkspec.py) and an /etc/hosts entry for it, which is rewritten when
the child starts again with another address. Its name is ``/parent/alias``:
``docker rm --link /parent/alias`` removes it, inspect shows it in the
parent's ``HostConfig.Links`` as ``/child:/parent/alias``.

On a user-defined network ``--link`` is no legacy link but an alias of the
endpoint (``EndpointSettings.Links``) that only the container's own DNS
queries see (engine/discovery.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.engine.container import Container
from dockyard.errors import InvalidArgument, NotFound
from dockyard.errors import SystemError as EngineSystemError
from dockyard.network import hosts
from dockyard.network.linkspec import env_vars, is_user_defined, parse_link

if TYPE_CHECKING:
    import sqlite3

    from dockyard.engine.containers.store import ContainerStore
    from dockyard.store.metadata import Metadata

HOST_NETWORK_AND_LINKS = (
    "conflicting options: host type networking can't be used with links. "
    "This would result in undefined behavior"
)
CONTAINER_NETWORK_AND_LINKS = (
    "conflicting options: container type network can't be used with links. "
    "This would result in undefined behavior"
)
DEFAULT_NETWORK = "bridge"


class LegacyLinks:
    def __init__(self, db: Metadata, containers: ContainerStore) -> None:
        self.db = db
        self.containers = containers

    # ------------------------------------------------------------------ create
    def register(self, tx: sqlite3.Connection, parent_id: str, host_config: dict[str, Any]) -> None:
        """Record the links of a new container (moby's registerLinks), in its create transaction."""
        links = host_config.get("Links") or []
        mode = host_config.get("NetworkMode") or "default"
        if not links or is_user_defined(mode):
            return
        if mode == "host":
            raise InvalidArgument(HOST_NETWORK_AND_LINKS)
        if mode.startswith("container:"):
            raise InvalidArgument(CONTAINER_NETWORK_AND_LINKS)
        for link in links:
            name, alias = parse_link(link)
            child = self._linkable(name)
            # A second link of the parent under one alias is ignored, as moby ignores it.
            tx.execute(
                "INSERT OR IGNORE INTO links (parent_id, alias, child_id) VALUES (?,?,?)",
                (parent_id, alias, child.id),
            )

    def _linkable(self, name: str) -> Container:
        try:
            child = self.containers.get(name)
            while (child.host_config.get("NetworkMode") or "").startswith("container:"):
                child = self.containers.get(child.host_config["NetworkMode"].split(":", 1)[1])
        except NotFound as e:
            raise InvalidArgument(f"could not get container for {name}: {e.message}") from None
        if child.host_config.get("NetworkMode") == "host":
            raise InvalidArgument(HOST_NETWORK_AND_LINKS)
        return child

    # ------------------------------------------------------------------ what links give
    def children(self, parent: Container) -> list[tuple[str, Container]]:
        """(``/parent/alias``, child) of each link of ``parent``."""
        rows = self.db.query(
            "SELECT alias, child_id FROM links WHERE parent_id = ? ORDER BY rowid", parent.id
        )
        return [(f"/{parent.name}/{r['alias']}", self.containers.get(r["child_id"])) for r in rows]

    def parents(self, child: Container) -> list[Container]:
        rows = self.db.query("SELECT DISTINCT parent_id FROM links WHERE child_id = ?", child.id)
        return [self.containers.get(r["parent_id"]) for r in rows]

    def env(self, parent: Container) -> list[str]:
        """The variables the parent's links give it as it starts (on the default bridge only)."""
        if DEFAULT_NETWORK not in parent.record["NetworkSettings"]["Networks"]:
            return []
        result = []
        for name, child in self.children(parent):
            if not child.running:
                raise EngineSystemError(
                    f"Cannot link to a non running container: /{child.name} AS {name}"
                )
            bridge = child.record["NetworkSettings"]["Networks"].get(DEFAULT_NETWORK)
            if bridge is None:
                raise EngineSystemError(
                    f"container {child.id} not attached to default bridge network"
                )
            result += env_vars(
                name,
                bridge["IPAddress"],
                child.config.get("Env") or [],
                list(child.config.get("ExposedPorts") or {}),
            )
        return result

    def host_entries(self, parent: Container) -> list[hosts.Entry]:
        """/etc/hosts lines of the parent's children on the default bridge: alias, hostname, name.

        The addresses are the endpoints' (a child being started has one before its record
        says it runs).
        """
        if DEFAULT_NETWORK not in parent.record["NetworkSettings"]["Networks"]:
            return []
        entries = []
        for name, child in self.children(parent):
            alias = name.rsplit("/", 1)[1]
            names = [alias, child.config["Hostname"]]
            if alias != child.name:
                names.append(child.name)
            rows = self.db.query(
                "SELECT e.address FROM endpoints e JOIN networks n ON n.id = e.network_id"
                " WHERE n.name = ? AND e.container_id = ?",
                DEFAULT_NETWORK,
                child.id,
            )
            if rows:
                entries.append(hosts.Entry(rows[0]["address"], " ".join(names)))
        return entries

    def view(self, parent: Container) -> list[str] | None:
        """HostConfig.Links as inspect shows it: ``/child:/parent/alias``."""
        return [f"/{child.name}:{name}" for name, child in self.children(parent)] or None

    def names_by_container(self) -> dict[str, list[str]]:
        """The link names each linked container also goes by (``docker ps`` lists them)."""
        rows = self.db.query(
            "SELECT l.child_id, l.alias, c.name FROM links l JOIN containers c"
            " ON c.id = l.parent_id ORDER BY l.rowid"
        )
        names: dict[str, list[str]] = {}
        for r in rows:
            names.setdefault(r["child_id"], []).append(f"/{r['name']}/{r['alias']}")
        return names

    # ------------------------------------------------------------------ removal
    def unlink(self, name: str) -> Container:
        """`docker rm --link /parent/alias`: forget that link; the parent is returned."""
        full = name if name.startswith("/") else "/" + name
        parent_name, _, alias = full[1:].rpartition("/")
        if not parent_name:
            self.containers.get(name)  # no such container: 404, as moby's
            raise EngineSystemError(
                "Conflict, cannot remove the default link name of the container"
            )
        try:
            parent = self.containers.get(parent_name)
        except NotFound:
            raise NotFound(f"No such container: {name}") from None
        with self.db.transaction() as tx:
            removed = tx.execute(
                "DELETE FROM links WHERE parent_id = ? AND alias = ?", (parent.id, alias)
            ).rowcount
        if not removed:
            raise NotFound(f"No such container: {name}")
        return parent

    def forget(self, c: Container) -> None:
        """A removed container's links, as parent and as child."""
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM links WHERE parent_id = ? OR child_id = ?", (c.id, c.id))
