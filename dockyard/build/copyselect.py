"""Which sources a COPY or ADD takes and where each lands: ``--exclude`` and ``--parents``.

``--exclude=PATTERN`` (repeatable, .dockerignore syntax) leaves out what it
matches: inside a directory source, by the path below that directory; a file
source, by its name (``COPY --exclude=*.txt hom* /dir/``). ``--parents`` keeps
each source's directories under the destination (``a/b/c.txt`` lands in
``DEST/a/b/``); a ``/./`` in the source pattern marks where the kept part
starts (``a/./b/c.txt`` lands in ``DEST/b/``), as in BuildKit.
"""

from __future__ import annotations

import posixpath

from dockyard.build.context import Source, clean_relative
from dockyard.build.dockerignore import IgnoreMatcher

PIVOT = "/./"


def exclude_matcher(patterns: list[str]) -> IgnoreMatcher | None:
    return IgnoreMatcher(patterns) if patterns else None


def excluded(source: Source, matcher: IgnoreMatcher | None) -> bool:
    """Whether a file source is left out by name (a directory's entries are filtered as copied)."""
    if matcher is None or source.is_dir:
        return False
    return matcher.ignored(posixpath.basename(source.name))


def kept_digests(
    digests: dict[str, str], source: Source, matcher: IgnoreMatcher | None
) -> dict[str, str]:
    """A directory source's file digests without what ``matcher`` excludes."""
    if matcher is None or not source.is_dir:
        return digests
    prefix = "" if source.name == "." else source.name + "/"
    return {
        path: digest
        for path, digest in digests.items()
        if path == source.name or not matcher.ignored(path.removeprefix(prefix))
    }


def parents_destination(pattern: str, source: Source, dest: str) -> str:
    """Where ``--parents`` puts ``source`` (matched by ``pattern``): a directory under ``dest``."""
    kept = source.name
    if PIVOT in pattern:
        pivot = clean_relative(pattern.split(PIVOT, 1)[0])
        if pivot != "." and (kept == pivot or kept.startswith(pivot + "/")):
            kept = kept[len(pivot) :].lstrip("/") or "."
    below = kept if source.is_dir else posixpath.dirname(kept)
    base = dest.rstrip("/")
    if below in ("", "."):
        return base + "/"
    return f"{base}/{below}/"
