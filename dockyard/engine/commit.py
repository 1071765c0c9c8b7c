"""`docker commit`: a container's changes as a new layer on its image."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from dockyard import rootless
from dockyard.build.changes import apply_changes
from dockyard.engine import specgen
from dockyard.engine.container import Container, now_rfc3339
from dockyard.errors import NotFound
from dockyard.runtime import cgroups

if TYPE_CHECKING:
    from dockyard.engine.images import Image
    from dockyard.store.layers import Layer, LayerStore

# The fields of a container's Config that an image config keeps (OCI image spec "config").
IMAGE_CONFIG_FIELDS = (
    "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
    "StopSignal", "OnBuild",
)  # fmt: skip


class ImageWriter(Protocol):
    """The image service as a commit uses it (engine/images.py)."""

    @property
    def layers(self) -> LayerStore: ...
    def resolve(self, name: str) -> Image: ...
    def create_image(
        self,
        config: dict[str, Any],
        layers: list[Layer],
        parent: str = "",
        reference: str | None = None,
    ) -> str: ...


def commit_changes(
    c: Container,
    images: ImageWriter,
    held_layers: list[str],
    reference: str | None,
    *,
    comment: str,
    author: str,
    changes: list[str],
    pause: bool,
    config: dict[str, Any],
) -> str:
    """The new image's id. Its config is the container's (what `run` flags set), with
    the fields of ``config`` over it and ``changes`` (Dockerfile instructions) applied
    on top, as Docker does. A running container is frozen while its layer is read.

    ``held_layers`` are the chain IDs the container holds: they stand in for its
    image when `rmi -f` deleted that (what the image's history said is gone with it)."""
    parent_id, parent_config, chain = _parent(c, images, held_layers)
    merged = {**c.config, **{k: v for k, v in config.items() if v is not None}}
    image_config = apply_changes(
        {k: merged[k] for k in IMAGE_CONFIG_FIELDS if merged.get(k) not in (None, "", {}, [])},
        changes,
    )
    frozen = pause and c.running and not c.state["Paused"] and _freeze(c)
    try:
        layer = images.layers.diff(c.root / "upper", chain[-1] if chain else "")
    finally:
        if frozen:
            cgroups.open_cgroup(specgen.container_cgroup_path(c)).thaw()
    now = now_rfc3339()
    step = {"created": now, "created_by": " ".join(c.command)}
    signed = {"author": author} if author else {}
    new_config = {
        "architecture": parent_config.get("architecture", "amd64"),
        "os": parent_config.get("os", "linux"),
        "config": image_config,
        "created": now,
        "history": [
            *(parent_config.get("history") or []),
            {**step, **signed, **({"comment": comment} if comment else {})},
        ],
        **signed,
    }
    layers = [images.layers.get(link) for link in chain]
    image_id: str = images.create_image(
        new_config, [*layers, layer], parent=parent_id, reference=reference
    )
    return image_id


def _parent(
    c: Container, images: ImageWriter, held_layers: list[str]
) -> tuple[str, dict, list[str]]:
    """(image id, image config, chain IDs) of what the new image stands on."""
    try:
        image = images.resolve(c.record["Image"])
    except NotFound:
        if not held_layers:
            raise
        # One history entry per layer, of which nothing is known any more.
        return "", {"history": [{} for _ in held_layers]}, held_layers
    return image.id, image.config, image.chain


def _freeze(c: Container) -> bool:
    """Freeze a running container for the commit; False when that fails, as for a
    container that has just exited: moby goes on with the commit then. Rootless
    mode has no freezer of its own (no cgroups): the commit goes on unfrozen."""
    if rootless.active():
        return False
    try:
        cgroups.open_cgroup(specgen.container_cgroup_path(c)).freeze()
    except OSError:
        return False
    return True
