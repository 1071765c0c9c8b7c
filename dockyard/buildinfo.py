"""Which build of dockyard this is: the commit and its time, for ``docker version``.

Read once from the git checkout the package runs from (``make install``
installs it in place); an installation without one reports empty strings, as
a dockerd built outside git does.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dockyard.timefmt import rfc3339_nano

_SOURCE = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BuildInfo:
    commit: str  # short hash, as dockerd's GitCommit
    time: str  # RFC 3339 with nanoseconds, as dockerd's BuildTime


@functools.cache
def build_info() -> BuildInfo:
    try:
        done = subprocess.run(
            ["git", "-C", str(_SOURCE), "log", "-1", "--format=%h %ct"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        commit, seconds = done.stdout.split()
    except (OSError, subprocess.SubprocessError, ValueError):
        return BuildInfo("", "")
    return BuildInfo(commit, rfc3339_nano(int(seconds) * 1_000_000_000))
