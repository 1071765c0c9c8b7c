"""A container's file system: `docker cp`, `export`, `diff` and `commit`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol

from dockyard.engine import archive, specgen
from dockyard.engine.commit import ImageWriter, commit_changes
from dockyard.engine.container import Container
from dockyard.engine.containers.store import ContainerStore
from dockyard.engine.events import EventBus
from dockyard.engine.volumes import oci_mounts
from dockyard.errors import Conflict, NotFound
from dockyard.errors import SystemError as EngineSystemError
from dockyard.store.leases import Leases
from dockyard.store.reference import repo_tag
from dockyard.tarfs.root import Root


class CommitImages(ImageWriter, Protocol):
    """The image service as the container's files need it (engine/images.py)."""

    @property
    def leases(self) -> Leases: ...


class ContainerFiles:
    def __init__(
        self, store: ContainerStore, images: CommitImages, events: EventBus, storage_driver: str
    ) -> None:
        self.store = store
        self.images = images
        self.events = events
        self.storage_driver = storage_driver  # mounts a stopped container's root
        # What docker cp sees of each container.
        self._copy_roots = archive.CopyRoots(storage_driver)

    def copying(self, cid: str) -> bool:
        """Whether copies (`docker cp`) have the stopped container's root mounted now."""
        return self._copy_roots.in_use(cid)

    def detach(self, c: Container) -> None:
        """The container is being removed: copies let go of its root."""
        self._copy_roots.detach(c)

    def commit(
        self,
        ref: str,
        reference: str | None = None,
        *,
        comment: str = "",
        author: str = "",
        changes: list[str] | None = None,
        pause: bool = True,
        config: dict[str, Any] | None = None,
    ) -> str:
        """`docker commit` (engine/commit.py); the new image's id."""
        c = self.store.get(ref)
        with self.images.leases.hold():  # its layer is stored before its image holds it
            image_id = commit_changes(
                c,
                self.images,
                self.store.held_layers(c.id),
                reference,
                comment=comment,
                author=author,
                changes=changes or [],
                pause=pause,
                config=config or {},
            )
        attributes = {"comment": comment, "imageID": image_id, "imageRef": ""}
        if reference:
            attributes["imageRef"] = str(repo_tag(reference))
        self.events.publish(
            "container", "commit", c.id, {**self.store.event_attributes(c.record), **attributes}
        )
        return image_id

    def changes(self, ref: str) -> list[dict]:
        c = self.store.get(ref)
        return archive.changes(c.root / "upper", c.lowerdirs)

    def archive_stat(self, ref: str, path: str) -> dict:
        c = self.store.get(ref)
        with self._copy_root(c, ref) as root:
            return archive.stat_path(root, path)

    def archive_get(self, ref: str, path: str) -> tuple[BinaryIO, dict]:
        """The tar of ``path`` as a stream to read (and close), and the path's stat."""
        c = self.store.get(ref)
        return archive.get(self._copy_root(c, ref), path)

    def export(self, ref: str) -> BinaryIO:
        """`docker export`: the container's file system as a tar stream to read (and close)."""
        c = self.store.get(ref)
        status = c.state["Status"]
        if status in ("dead", "removing"):
            why = "is Dead" if status == "dead" else "is being removed"
            raise Conflict(f"You cannot export container {c.id} which {why}")
        layers = [
            c.root / "upper",
            specgen.make_init_layer(c.root),
            *self.images.resolve(c.record["Image"]).lowerdirs,
        ]
        attributes = self.store.event_attributes(c.record)
        try:
            return archive.export(
                archive.export_root(c, layers, self.storage_driver, self.store.paths.tmp),
                lambda: self.events.publish("container", "export", c.id, attributes),
            )
        except OSError as e:
            raise EngineSystemError(f"Error exporting container {ref}: {e.strerror or e}") from e

    def archive_put(
        self, ref: str, path: str, tar: BinaryIO, no_overwrite_dir_non_dir: bool = False
    ) -> None:
        c = self.store.get(ref)
        if c.host_config.get("ReadonlyRootfs") and c.running:
            raise Conflict("container rootfs is marked read-only")
        with self._copy_root(c, ref) as root:
            archive.put(root, path, tar, no_overwrite_dir_non_dir)

    @contextlib.contextmanager
    def _copy_root(self, c: Container, ref: str) -> Iterator[Root]:
        """The container's root for a copy; a missing path is named with the container, as Docker does."""
        try:
            mounts = [] if c.running else oci_mounts(c)
            with self._copy_roots.open(c, c.lowerdirs, mounts) as root:
                yield root
        except NotFound as e:
            if e.message.endswith(" in container"):
                raise NotFound(f"{e.message} {ref}") from None
            raise
