"""The image config of each build step: the parent's, with the new run config
and one more history entry, as Docker's classic builder writes them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from dockyard.build.backend import BuildImage
from dockyard.errors import InvalidArgument
from dockyard.platforms import HOST_ARCHITECTURE


def check_platform(wanted: str) -> None:
    """Builds are for this machine's platform only (``--platform`` may name it)."""
    if wanted and wanted not in ("linux", f"linux/{HOST_ARCHITECTURE}"):
        raise InvalidArgument(
            f"platform {wanted} is not supported: this engine builds linux/{HOST_ARCHITECTURE}"
        )


def scratch() -> BuildImage:
    """The empty image ``FROM scratch`` starts from."""
    config = {
        "architecture": HOST_ARCHITECTURE,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    }
    return BuildImage("", config)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def child_config(
    parent: BuildImage,
    run_config: dict[str, Any],
    created_by: str,
    empty_layer: bool,
    author: str = "",
) -> dict[str, Any]:
    """The whole image config of a step built on ``parent``."""
    config = copy.deepcopy(parent.config)
    created = now()
    config["created"] = created
    config["config"] = run_config
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    entry: dict[str, Any] = {"created": created, "created_by": created_by}
    if empty_layer:
        entry["empty_layer"] = True
    config["history"] = [*(config.get("history") or []), entry]
    if author:
        config["author"] = author
    return config


def nop(shell: list[str], comment: str) -> str:
    """created_by of a step that ran no command: ``/bin/sh -c #(nop)  ENV A=1``."""
    return " ".join([*shell, "#(nop) ", comment])


def nop_file(shell: list[str], comment: str) -> str:
    """created_by of COPY and ADD, which Docker writes with one space less."""
    return " ".join([*shell, "#(nop) " + comment])
