"""Containers, split by verb as youki splits libcontainer:

- store.py: the records, and what the verbs share about them (locks, creations);
- lifecycle.py: create, start, stop, kill, restart, pause, update, rename, remove;
- supervision.py: the shims of running containers, their exits, waits, restart policies;
- attach.py: logs, attach and resize;
- queries.py: `docker ps`, inspect, top, stats;
- files.py: cp, export, diff, commit.

Each part is given the services it uses, typed by the small Protocol of what it uses.
``ContainerService`` builds the parts and is the one door to them, as ``engine.images``
and ``engine.volumes`` are to theirs.
"""

from __future__ import annotations

from typing import Protocol

from dockyard.config import Paths
from dockyard.engine.containers.attach import ContainerIO
from dockyard.engine.containers.files import CommitImages, ContainerFiles
from dockyard.engine.containers.lifecycle import (
    ContainerNetworking,
    ContainerVolumes,
    LayerHolds,
    Lifecycle,
    ShimSpawner,
)
from dockyard.engine.containers.queries import ContainerQueries, ImageLookup
from dockyard.engine.containers.store import ContainerStore
from dockyard.engine.containers.supervision import RestartPolicies, Supervisor
from dockyard.engine.events import EventBus
from dockyard.engine.specgen import ContainerDefaults
from dockyard.runtime import shim


class ContainerImages(CommitImages, ImageLookup, Protocol):
    """The image service as the containers use it (engine/images.py)."""


class ContainerService:
    def __init__(
        self,
        paths: Paths,
        store: ContainerStore,
        events: EventBus,
        images: ContainerImages,
        layers: LayerHolds,
        networks: ContainerNetworking,
        volumes: ContainerVolumes,
        runtimes: dict[str, str],
        spawn_shim: ShimSpawner = shim.spawn,
        defaults: ContainerDefaults | None = None,
    ) -> None:
        self.store = store
        self.supervisor = Supervisor(store, events, networks, volumes)
        self.io = ContainerIO(paths, store, events)
        self.files = ContainerFiles(
            store, images, events, (defaults or ContainerDefaults()).storage_driver
        )
        self.lifecycle = Lifecycle(
            paths,
            store,
            self.supervisor,
            self.io,
            self.files,
            events,
            images,
            layers,
            networks,
            volumes,
            runtimes,
            spawn_shim,
            defaults,
        )
        self.restarts = RestartPolicies(store, self.supervisor, self.lifecycle)
        self.queries = ContainerQueries(store, images, networks.legacy_links)
        # The verbs, each done by its part.
        self.get = store.get
        self.all = store.all
        self.create = self.lifecycle.create
        self.start = self.lifecycle.start
        self.stop = self.lifecycle.stop
        self.stop_all = self.lifecycle.stop_all
        self.kill = self.lifecycle.kill
        self.restart = self.lifecycle.restart
        self.pause = self.lifecycle.pause
        self.unpause = self.lifecycle.unpause
        self.update = self.lifecycle.update
        self.rename = self.lifecycle.rename
        self.remove = self.lifecycle.remove
        self.prune = self.lifecycle.prune
        self.wait = self.supervisor.wait
        self.wait_begin = self.supervisor.wait_begin
        self.logs = self.io.logs
        self.attach = self.io.attach
        self.resize = self.io.resize
        self.inspect = self.queries.inspect
        self.list = self.queries.list
        self.top = self.queries.top
        self.stats = self.queries.stats
        self.changes = self.files.changes
        self.commit = self.files.commit
        self.export = self.files.export
        self.archive_stat = self.files.archive_stat
        self.archive_get = self.files.archive_get
        self.archive_put = self.files.archive_put
