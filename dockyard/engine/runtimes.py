"""The OCI runtimes a container may name with --runtime (docs/compatibility.md).

The default is called "runc", as in Docker: it is the built-in runtime, which does
what runc does (tests/runtime/test_runc_parity.py); "dockyard" names it too. The runc
and crun binaries, where installed, go by the names docker 28 lists them under: runc's
is that of containerd's shim for it.
"""

from __future__ import annotations

import shutil

DEFAULT_RUNTIME = "runc"
BUILTIN_RUNTIMES = ("runc", "dockyard")
RUNTIME_BINARIES = {"io.containerd.runc.v2": "runc", "crun": "crun"}


def installed_runtimes() -> dict[str, str]:
    """Name → path of each runtime binary installed on this machine."""
    found = {name: shutil.which(binary) for name, binary in RUNTIME_BINARIES.items()}
    return {name: path for name, path in found.items() if path}


def known_runtimes() -> list[str]:
    """The names --runtime and the daemon's default-runtime may give."""
    return [*BUILTIN_RUNTIMES, *installed_runtimes()]
