"""Which storage driver mounts the engine's overlays, chosen once at the daemon's start.

As dockerd: ``--storage-driver`` (or daemon.json's ``storage-driver``) names one, and
a name it does not know stops the start. Given none, ``overlay2`` where native
overlay mounts work, which a tiny overlay mounted in the data root tells (as moby's
overlay2 driver probes), else ``fuse-overlayfs`` where it is installed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from dockyard.errors import DockyardError
from dockyard.runtime import fuseoverlay
from dockyard.runtime.overlay import FUSE_OVERLAYFS, OVERLAY2, mount_overlay, unmount

DRIVERS = (OVERLAY2, FUSE_OVERLAYFS)


class DriverError(DockyardError):
    """No storage driver can be used: the daemon does not start."""


def choose(requested: str | None, scratch: Path) -> str:
    """The driver to use: ``requested`` if it works here, else the first that does.
    ``scratch`` is a directory of the data root, where the probe mounts."""
    if requested:
        if requested not in DRIVERS:
            raise DriverError(
                "error initializing graphdriver: failed to GetDriver graph "
                f"{requested} {scratch.parent}: driver not supported"
            )
        reason = unusable(requested, scratch)
        if reason:
            raise DriverError(
                f"error initializing graphdriver: {requested}: {reason}: driver not supported"
            )
        return requested
    reasons = []
    for driver in DRIVERS:
        reason = unusable(driver, scratch)
        if not reason:
            return driver
        reasons.append(f"{driver}: {reason}")
    raise DriverError(
        "error initializing graphdriver: no storage driver works here (" + "; ".join(reasons) + ")"
    )


def unusable(driver: str, scratch: Path) -> str:
    """Why ``driver`` cannot mount overlays here ("" when it can)."""
    if driver == FUSE_OVERLAYFS:
        return fuseoverlay.unavailable()
    return _native_overlay_fails(scratch)


def _native_overlay_fails(scratch: Path) -> str:
    """Mount an overlay of two lower directories and an upper one, as moby's probe does."""
    probe = Path(tempfile.mkdtemp(prefix="overlay-probe-", dir=scratch))
    target = probe / "merged"
    lowers = [probe / "lower2", probe / "lower1"]
    for lower in lowers:
        lower.mkdir()
    try:
        mount_overlay(lowers, probe / "upper", probe / "work", target)
    except OSError as e:
        return f"mounting an overlay failed: {(e.strerror or str(e)).lower()}"
    finally:
        unmount(target)
        shutil.rmtree(probe, ignore_errors=True)
    return ""
