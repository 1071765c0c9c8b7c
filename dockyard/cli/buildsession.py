"""``dockyard build --secret`` and ``--ssh``: read on this side, handed to the daemon.

The values are buildx's: ``--secret id=ID[,src=FILE|,env=VAR][,type=file|env]``
(with neither source, the variable ID if set, else the file ID), and
``--ssh default|ID[=SOCKET]`` (the agent at $SSH_AUTH_SOCK when no socket is
given). They go to ``POST /build/session`` before the build, which then names
the session: secret values travel in that request's body, never in the build's
query or any file. An ssh agent is a socket path, so only a daemon on this
machine can use one.
"""

from __future__ import annotations

import base64
import csv
import os

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.client import Client


def open_session(client: Client, secrets: list[str], ssh: list[str]) -> str | None:
    """The id of a new build session holding ``secrets`` and ``ssh``; None for neither."""
    if not secrets and not ssh:
        return None
    values = dict(_secret(spec) for spec in secrets)
    agents = dict(_agent(spec) for spec in ssh)
    if agents and not client.local:
        raise InvalidArgument(
            "--ssh: forwarding an ssh agent needs a daemon on this machine (a unix:// host)"
        )
    body = {
        "Secrets": {k: base64.b64encode(v).decode() for k, v in values.items()},
        "SSH": agents,
    }
    answer = client.request("POST", "/build/session", None, body).json()
    return str(answer["ID"])


def _secret(spec: str) -> tuple[str, bytes]:
    kind, secret_id, source, env = "file", "", "", ""
    for field in next(csv.reader([spec])):
        key, _, value = field.partition("=")
        key = key.lower()
        if key == "type":
            if value not in ("file", "env"):
                raise InvalidArgument(f'unsupported secret type "{value}"')
            kind = value
        elif key == "id":
            secret_id = value
        elif key in ("source", "src"):
            source = value
        elif key == "env":
            env = value
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{field}'")
    if not secret_id:
        raise InvalidArgument(f"invalid secret {spec!r}: an id is required")
    if kind == "env" and not env:
        env, source = source, ""
    if not source and not env:
        env, source = (secret_id, "") if secret_id in os.environ else ("", secret_id)
    if env:
        if env not in os.environ:
            raise InvalidArgument(f"secret {secret_id}: environment variable {env} is not set")
        return secret_id, os.environ[env].encode()
    try:
        with open(source, "rb") as f:
            return secret_id, f.read()
    except OSError as e:
        message = f"failed to read secret {secret_id} from {source}: {e.strerror}"
        raise InvalidArgument(message) from None


def _agent(spec: str) -> tuple[str, str]:
    ssh_id, _, paths = spec.partition("=")
    ssh_id = ssh_id or "default"
    sockets = [p for p in paths.split(",") if p]
    if len(sockets) > 1:
        raise InvalidArgument(f"--ssh {spec}: give one agent socket")
    path = sockets[0] if sockets else os.environ.get("SSH_AUTH_SOCK", "")
    if not path:
        raise InvalidArgument("invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set")
    return ssh_id, os.path.abspath(path)
