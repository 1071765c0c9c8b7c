"""Where a user's rootless engine keeps things, as Docker's and Podman's rootless modes do.

The data root is ``$XDG_DATA_HOME/dockyard`` (``~/.local/share/dockyard``); the
exec root and the socket are in ``$XDG_RUNTIME_DIR``, which login sessions
create (``/run/user/UID``). Without it (``su`` without a login), ``/run/user/UID``
when it is there, else ``/tmp/dockyard-run-UID`` as Podman does.
"""

from __future__ import annotations

import os

SOCKET_NAME = "dockyard.sock"


def data_root() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "dockyard")


def runtime_dir() -> str:
    found = os.environ.get("XDG_RUNTIME_DIR")
    if found:
        return found
    uid = os.getuid()
    user_run = f"/run/user/{uid}"
    if os.path.isdir(user_run):
        return user_run
    return f"/tmp/dockyard-run-{uid}"


def exec_root() -> str:
    return os.path.join(runtime_dir(), "dockyard")


def host() -> str:
    return "unix://" + os.path.join(runtime_dir(), SOCKET_NAME)
