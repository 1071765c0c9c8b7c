"""`docker commit`: a container's changes as a new layer on its image."""

from __future__ import annotations

from typing import Any

from dockyard.build.changes import apply_changes
from dockyard.engine import specgen
from dockyard.engine.container import Container, now_rfc3339
from dockyard.runtime import cgroups

# The fields of a container's Config that an image config keeps (OCI image spec "config").
IMAGE_CONFIG_FIELDS = (
    "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
    "StopSignal", "OnBuild",
)  # fmt: skip


def commit_changes(
    c: Container,
    images: Any,
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
    on top, as Docker does. A running container is frozen while its layer is read."""
    image = images.resolve(c.record["Image"])
    merged = {**c.config, **{k: v for k, v in config.items() if v is not None}}
    image_config = apply_changes(
        {k: merged[k] for k in IMAGE_CONFIG_FIELDS if merged.get(k) not in (None, "", {}, [])},
        changes,
    )
    frozen = pause and c.running and not c.state["Paused"]
    cgroup = cgroups.open_cgroup(specgen.container_cgroup_path(c))
    if frozen:
        cgroup.freeze()
    try:
        layer = images.layers.diff(c.root / "upper", image.chain[-1] if image.chain else "")
    finally:
        if frozen:
            cgroup.thaw()
    now = now_rfc3339()
    step = {"created": now, "created_by": " ".join(c.command)}
    signed = {"author": author} if author else {}
    new_config = {
        "architecture": image.config.get("architecture", "amd64"),
        "os": image.config.get("os", "linux"),
        "config": image_config,
        "created": now,
        "history": [
            *(image.config.get("history") or []),
            {**step, **signed, **({"comment": comment} if comment else {})},
        ],
        **signed,
    }
    layers = [images.layers.get(chain) for chain in image.chain]
    image_id: str = images.create_image(
        new_config, [*layers, layer], parent=image.id, reference=reference
    )
    return image_id
