"""What `docker ps`, `inspect`, `top` and `stats` show of containers."""

from __future__ import annotations

import builtins  # the list() method shadows the type in annotations
import shlex
from typing import Protocol

from dockyard import treesize
from dockyard.engine import listing, processes, specgen
from dockyard.engine.container import ZERO_TIME, Container
from dockyard.engine.containers.store import ContainerStore
from dockyard.engine.filters import Filters
from dockyard.engine.images import Image
from dockyard.engine.volumes import mounts_volume
from dockyard.errors import InvalidArgument, NotFound
from dockyard.rootless import limits
from dockyard.runtime import cgroups
from dockyard.timefmt import parse_rfc3339

# The filters of `docker ps` (moby's acceptedPsFilterTags); `isolation` is Windows' only.
PS_FILTERS = (
    "ancestor", "before", "exited", "id", "isolation", "label", "name", "status", "health",
    "since", "volume", "network", "is-task", "publish", "expose",
)  # fmt: skip
CONTAINER_STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
HEALTH_STATES = ("none", "starting", "healthy", "unhealthy")


class ImageLookup(Protocol):
    """The image service as the listings read it (engine/images.py)."""

    def resolve(self, name: str) -> Image: ...
    def id_of(self, name: str) -> str: ...
    def descendants(self, image_id: str) -> set[str]: ...


class LinkNames(Protocol):
    """The legacy links as the listings show them (engine/legacylinks.py)."""

    def view(self, parent: Container) -> builtins.list[str] | None: ...
    def names_by_container(self) -> dict[str, builtins.list[str]]: ...


class ContainerQueries:
    def __init__(self, store: ContainerStore, images: ImageLookup, links: LinkNames) -> None:
        self.store = store
        self.images = images
        self.links = links

    def inspect(self, ref: str, size: bool = False) -> dict:
        c = self.store.get(ref)
        record = dict(c.record)
        record["HostConfig"] = {**c.host_config, "Links": self.links.view(c)}
        if size:
            record["SizeRw"] = treesize.tree_size(c.root / "upper")
            record["SizeRootFs"] = record["SizeRw"] + self._image_size(c)
        return record

    def _image_size(self, c: Container) -> int:
        try:
            return int(self.images.resolve(c.record["Image"]).size)
        except NotFound:
            return 0

    def list(
        self,
        all: bool = False,
        limit: int = -1,
        size: bool = False,
        filters: dict[str, list[str]] | None = None,
    ) -> list[dict]:
        """`docker ps`: newest first, filtered as moby's daemon/list.go does."""
        wanted = Filters(filters or {}, allowed=PS_FILTERS)
        query = _ListQuery(wanted, self._ids_by_prefix(wanted.get("id")))
        if "status" in wanted:
            all = True
        ancestors = self._ancestor_images(wanted.get("ancestor"))
        containers = self._apply_position_filters(
            listing.listed_containers(self.store.db, self.store.paths.containers), wanted
        )
        images = listing.ImageNames(self.images)
        link_names = self.links.names_by_container()
        result = []
        for c in containers:
            # moby: with a limit (-n, -l), containers in every state count.
            if not all and limit <= 0 and not c.running:
                continue
            if ancestors is not None and c.record["Image"] not in ancestors:
                continue
            if not query.matches(c):
                continue
            result.append(self._summary(c, size, images, link_names.get(c.id, [])))
            if 0 < limit <= len(result):
                break
        return result

    def _ids_by_prefix(self, prefixes: builtins.list[str]) -> set[str]:
        """The containers an `id` filter names: each value is a unique id prefix (truncindex)."""
        found = set()
        for prefix in prefixes:
            ids = self.store.ids_with_prefix(prefix)
            if prefix and len(ids) == 1:
                found.add(ids[0])
        return found

    def _ancestor_images(self, refs: builtins.list[str]) -> set[str] | None:
        """The images an `ancestor` filter names and all their descendants (None: no filter)."""
        if not refs:
            return None
        images: set[str] = set()
        for ref in refs:
            try:
                images |= self.images.descendants(self.images.resolve(ref).id)
            except (NotFound, InvalidArgument):
                continue  # moby: an image that cannot be found is skipped
        return images

    def _apply_position_filters(
        self, containers: builtins.list[Container], wanted: Filters
    ) -> builtins.list[Container]:
        """`before` and `since` cut the (newest first) list at a container."""
        for key, keep_after in (("before", True), ("since", False)):
            for ref in wanted.get(key):
                anchor = self.store.get(ref)
                index = next(i for i, c in enumerate(containers) if c.id == anchor.id)
                containers = containers[index + 1 :] if keep_after else containers[:index]
        return containers

    def _summary(
        self,
        c: Container,
        size: bool,
        images: listing.ImageNames,
        link_names: builtins.list[str],
    ) -> dict:
        summary = {
            "Id": c.id,
            # With its legacy links' names, sorted as moby's name index returns them.
            "Names": sorted(["/" + c.name, *link_names]),
            "Image": images.shown(c),
            "ImageID": c.record["Image"],
            "Command": " ".join(shlex.quote(a) if " " in a else a for a in c.command),
            "Created": int(parse_rfc3339(c.record["Created"])),
            "Ports": specgen.port_list(c),
            "Labels": c.config.get("Labels") or {},
            "State": c.state_string,
            "Status": c.status_text(),
            "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode", "bridge")},
            "NetworkSettings": {"Networks": c.record["NetworkSettings"].get("Networks", {})},
            "Mounts": c.record.get("Mounts") or [],
        }
        if size:
            summary["SizeRw"] = treesize.tree_size(c.root / "upper")
            summary["SizeRootFs"] = summary["SizeRw"] + self._image_size(c)
        return summary

    async def top(self, ref: str, ps_args: str = "-ef") -> dict:
        limits.check_cgroup_command("top")
        c = self.store.get_running(ref)
        return await processes.top(cgroups.open_cgroup(specgen.container_cgroup_path(c)), ps_args)

    def stats(self, ref: str, previous: dict | None = None) -> dict:
        limits.check_cgroup_command("stats")
        c = self.store.get(ref)
        if not c.running:
            return processes.empty_stats(c.name, c.id)
        own_network = c.host_config.get("NetworkMode") != "host"
        return processes.stats(
            cgroups.open_cgroup(specgen.container_cgroup_path(c)),
            c.name,
            c.id,
            previous,
            net_pid=c.state["Pid"] if own_network else 0,
        )


class _ListQuery:
    """The per-container filters of `docker ps`, their values checked up front as moby does."""

    def __init__(self, wanted: Filters, ids: set[str]) -> None:
        self.wanted = wanted
        self.ids = ids
        self.exited = [_exit_code_filter(v) for v in wanted.get("exited")]
        for value in wanted.get("status"):
            _check_state("status", "state", value, CONTAINER_STATES)
        self.is_task = wanted.boolean("is-task", False) if "is-task" in wanted else None
        for value in wanted.get("health"):
            _check_state("health", "health", value, HEALTH_STATES)
        self.publish = _port_filter(wanted, "publish")
        self.expose = _port_filter(wanted, "expose")

    def matches(self, c: Container) -> bool:
        wanted = self.wanted
        return (
            wanted.match_pattern("name", c.name, "/" + c.name)
            and ("id" not in wanted or (c.id in self.ids and wanted.match_pattern("id", c.id)))
            and self.is_task in (None, False)  # no container here is a swarm task
            and wanted.match_labels(c.config.get("Labels") or {})
            and (not self.exited or self._exited_with_a_wanted_code(c))
            and wanted.match_any("status", lambda v: c.state_string == v)
            and wanted.match_any("health", lambda v: _health_status(c) == v)
            and wanted.match_any("volume", lambda v: mounts_volume(c.record, v))
            and wanted.match_any("network", lambda v: _on_network(c, v))
            and self._ports_match(c)
        )

    def _exited_with_a_wanted_code(self, c: Container) -> bool:
        started = c.state["StartedAt"] != ZERO_TIME
        return started and not c.running and c.state["ExitCode"] in self.exited

    def _ports_match(self, c: Container) -> bool:
        if not self.publish and not self.expose:
            return True
        for port in specgen.port_list(c):
            if (port.get("PublicPort", 0), port["Type"]) in self.publish:
                return True
            if (port["PrivatePort"], port["Type"]) in self.expose:
                return True
        return False


def _exit_code_filter(value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise InvalidArgument(
            f"invalid filter 'exited={value}': strconv.Atoi: parsing \"{value}\": invalid syntax"
        ) from None


def _check_state(key: str, kind: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise InvalidArgument(
            f"invalid filter '{key}={value}': invalid value for {kind} ({value}): "
            f"must be one of {', '.join(valid)}"
        )


def _port_filter(wanted: Filters, key: str) -> set[tuple[int, str]]:
    """The ports a `publish` or `expose` filter names: ``80``, ``53/udp``, ``8000-8010/tcp``."""
    ports: set[tuple[int, str]] = set()
    for value in wanted.get(key):
        if ":" in value:
            raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
        port, _, proto = value.partition("/")
        try:
            first, _, last = port.partition("-")
            start, end = int(first), int(last or first)
            if not 0 <= start <= end <= 65535:
                raise ValueError
        except ValueError:
            raise InvalidArgument(
                f"error while looking up for {key} {value}: invalid port range: {port}"
            ) from None
        ports.update((number, proto or "tcp") for number in range(start, end + 1))
    return ports


def _on_network(c: Container, value: str) -> bool:
    """moby: the container is on a network of that name, or of an ID with that prefix."""
    networks = c.record["NetworkSettings"].get("Networks") or {}
    return value in networks or any(
        (settings or {}).get("NetworkID", "").startswith(value) for settings in networks.values()
    )


def _health_status(c: Container) -> str:
    """For ``ps --filter health=``: starting, healthy, unhealthy, or none without a healthcheck."""
    return (c.state.get("Health") or {}).get("Status") or "none"
