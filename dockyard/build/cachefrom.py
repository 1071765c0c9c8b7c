"""``--cache-from``: steps taken from images named as cache sources, by their history.

The classic builder's ImageCache (moby's image/cache): an image given with
``--cache-from`` (pulled, say, from a registry, so never built here) stands in
for a step when its history continues the parent's exactly and its next entry
was made by the same command. The step's image is then that source itself when
the entry is its last, or else an image "restored" from it: the parent, plus
the entry and the layer it made.
"""

from __future__ import annotations

import copy
from typing import Any

from dockyard.build.backend import BuildImage

_HISTORY_FIELDS = ("created", "created_by", "author", "comment", "empty_layer")


def source_step(
    sources: list[BuildImage], parent: BuildImage, created_by: str
) -> tuple[BuildImage, int] | None:
    """The first source whose history goes on from ``parent`` with a step made by
    ``created_by``, and the index of that step's entry."""
    index = len(_history(parent))
    for source in sources:
        history = _history(source)
        if _continues(source, parent) and history[index].get("created_by", "") == created_by:
            return source, index
    return None


def restored_config(
    parent: BuildImage, run_config: dict[str, Any], source: BuildImage, index: int
) -> dict[str, Any]:
    """The image config of the step the entry ``index`` of ``source`` made, on ``parent``."""
    entry = _history(source)[index]
    config = copy.deepcopy(parent.config)
    diff_ids = list(_diff_ids(parent))
    if not entry.get("empty_layer"):
        made = sum(1 for earlier in _history(source)[:index] if not earlier.get("empty_layer"))
        diff_ids.append(_diff_ids(source)[made])
    config.update(
        config=run_config,
        created=entry.get("created", ""),
        history=[*_history(parent), entry],
        rootfs={"type": "layers", "diff_ids": diff_ids},
    )
    for key in ("architecture", "os", "author"):
        if source.config.get(key):
            config[key] = source.config[key]
    return config


def _continues(source: BuildImage, parent: BuildImage) -> bool:
    """moby's isValidParent: ``source`` is ``parent`` plus at least one more entry."""
    history, parent_history = _history(source), _history(parent)
    if not history:
        return False
    if not parent_history and not _diff_ids(parent):
        return True
    diff_ids, parent_diff_ids = _diff_ids(source), _diff_ids(parent)
    if len(parent_history) >= len(history) or len(parent_diff_ids) > len(diff_ids):
        return False
    same_history = all(
        _entry(mine) == _entry(theirs)
        for mine, theirs in zip(parent_history, history, strict=False)
    )
    return same_history and diff_ids[: len(parent_diff_ids)] == parent_diff_ids


def _entry(entry: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(entry.get(key) or None for key in _HISTORY_FIELDS)


def _history(image: BuildImage) -> list[dict[str, Any]]:
    return list(image.config.get("history") or [])


def _diff_ids(image: BuildImage) -> list[str]:
    return list((image.config.get("rootfs") or {}).get("diff_ids") or [])
