"""Cache keys of build steps, and why a step missed the cache.

A step's key is a pure function of its inputs: the identity of the image it
builds on, its instruction after variable substitution, the build args it
uses, and for COPY and ADD the digest (type, permissions, content; never
mtime) of every source file plus the identity of any other source (a stage or
image for ``--from``, the content of a URL). Equal inputs, equal key: the
cached image is reused. The inputs are stored with the key so that a miss can
be explained by comparing against what was built on the same parent before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

KEY_VERSION = 1
MAX_RECORDED_FILES = 5000  # beyond this only the combined digest is kept for --explain
_LISTED = 5


@dataclass(frozen=True)
class StepInputs:
    parent: str  # image id, "" for scratch
    instruction: str  # after substitution
    build_args: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # context path -> digest
    sources: dict[str, str] = field(default_factory=dict)  # other source -> identity

    def key(self) -> str:
        body = {
            "v": KEY_VERSION,
            "parent": self.parent,
            "instruction": self.instruction,
            "build_args": self.build_args,
            "files": _combined(self.files),
            "sources": self.sources,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def record(self) -> dict[str, Any]:
        """What the cache stores beside the key, for explaining later misses."""
        listed = len(self.files) <= MAX_RECORDED_FILES
        return {
            "parent": self.parent,
            "instruction": self.instruction,
            "build_args": self.build_args,
            "files": self.files if listed else {},
            "files_digest": _combined(self.files),
            "sources": self.sources,
        }


def _combined(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\0{files[path]}\0".encode())
    return digest.hexdigest()


def explain_miss(current: StepInputs, earlier: Iterable[dict[str, Any]]) -> str:
    """Why ``current`` missed: compared with what was built on the same parent before."""
    records = list(earlier)
    if not records:
        return "nothing was built on its parent image before"
    same_text = [r for r in records if r.get("instruction") == current.instruction]
    record = same_text[0] if same_text else records[0]
    reasons = _arg_changes(current.build_args, record.get("build_args") or {})
    if not same_text and not reasons:
        reasons.append(
            f"instruction changed: was {record.get('instruction')!r}, now {current.instruction!r}"
        )
    reasons += _source_changes(current.sources, record.get("sources") or {})
    reasons += _file_changes(current, record)
    return "; ".join(reasons) or "its earlier cache entry is gone (pruned)"


def _arg_changes(now: dict[str, str], before: dict[str, str]) -> list[str]:
    changes = []
    for name in sorted(set(now) | set(before)):
        if name not in before:
            changes.append(f"build arg {name} added ({now[name]!r})")
        elif name not in now:
            changes.append(f"build arg {name} removed (was {before[name]!r})")
        elif now[name] != before[name]:
            changes.append(f"build arg {name} changed: {before[name]!r} -> {now[name]!r}")
    return changes


def _source_changes(now: dict[str, str], before: dict[str, str]) -> list[str]:
    return [
        f"source {name} changed"
        for name in sorted(set(now) | set(before))
        if now.get(name) != before.get(name)
    ]


def _file_changes(current: StepInputs, record: dict[str, Any]) -> list[str]:
    if record.get("files_digest") == _combined(current.files):
        return []
    before: dict[str, str] = record.get("files") or {}
    if not before:
        return ["source files changed"]
    now = current.files
    changed = [f"file {p} changed" for p in sorted(now) if p in before and before[p] != now[p]]
    changed += [f"file {p} added" for p in sorted(now) if p not in before]
    changed += [f"file {p} removed" for p in sorted(before) if p not in now]
    if len(changed) > _LISTED:
        changed = [*changed[:_LISTED], f"and {len(changed) - _LISTED} more files"]
    return changed
