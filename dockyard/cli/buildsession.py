"""``dockyard build --secret`` and ``--ssh``, and what a daemon elsewhere cannot read
itself: read on this side, handed to the daemon.

The values are buildx's: ``--secret id=ID[,src=FILE|,env=VAR][,type=file|env]``
(with neither source, the variable ID if set, else the file ID), and
``--ssh default|ID[=SOCKET]`` (the agent at $SSH_AUTH_SOCK when no socket is
given). They go to ``POST /build/session`` before the build, which then names
the session: secret values travel in that request's body, never in the build's
query or any file. An ssh agent is a socket path, which a daemon on this
machine binds into the steps itself; a daemon elsewhere gets it forwarded over
a hijacked connection for as long as the build runs (``cli/agentforward.py``).

A daemon elsewhere (tcp://, ssh://) cannot read this machine's directories:
each ``--build-context name=DIR`` and ``--cache-from type=local,src=DIR`` is
uploaded to the session as a tar (``cli/buildcontext.py``), and each
``--cache-to type=local,dest=DIR`` is asked for in the session: the daemon
sends that cache back in the build's response and it is written here.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import os
import stat

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cli.agentforward import AgentForward
    from dockyard.client import Client


@dataclasses.dataclass
class Uploads:
    """The directories of a build's inputs, for a daemon that cannot read them."""

    # --build-context name -> DIR
    contexts: dict[str, str] = dataclasses.field(default_factory=dict)
    # --cache-from type=local,src=DIR
    caches: list[str] = dataclasses.field(default_factory=list)
    # --cache-to type=local: (dest, mode)
    exports: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.contexts or self.caches or self.exports)


class Session:
    """An open build session: its id, and the agents forwarded to it until ``close``."""

    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.forwards: list[AgentForward] = []

    def close(self) -> None:
        for forward in self.forwards:
            forward.close()


def open_session(
    client: Client, secrets: list[str], ssh: list[str], uploads: Uploads
) -> Session | None:
    """A new build session holding ``secrets``, ``ssh`` and ``uploads``; None for none
    of them. A daemon elsewhere gets each ssh agent forwarded, until ``close``."""
    if not secrets and not ssh and not uploads:
        return None
    values = dict(_secret(spec) for spec in secrets)
    agents = dict(_agent(spec) for spec in ssh)
    if not client.local:  # (a daemon on this machine checks the sockets itself)
        for ssh_id, agent in agents.items():
            _check_socket(ssh_id, agent)
    body = {
        "Secrets": {k: base64.b64encode(v).decode() for k, v in values.items()},
        "SSH": agents if client.local else {},
        "CacheExports": [mode for _, mode in uploads.exports],
    }
    answer = client.request("POST", "/build/session", None, body).json()
    session = Session(str(answer["ID"]))
    try:
        _upload(client, session.id, uploads)
        if not client.local:
            from dockyard.cli.agentforward import AgentForward

            for ssh_id, agent in agents.items():
                session.forwards.append(AgentForward(client, session.id, ssh_id, agent))
    except BaseException:
        session.close()
        raise
    return session


def _upload(client: Client, session: str, uploads: Uploads) -> None:
    from dockyard.cli.buildcontext import cache_tar, named_context_tar

    headers = {"Content-Type": "application/x-tar"}
    for name, directory in uploads.contexts.items():
        with named_context_tar(directory) as tar:
            path = f"/build/session/{session}/contexts"
            client.request("PUT", path, {"name": name}, tar, headers)
    for directory in uploads.caches:
        with cache_tar(directory) as tar:
            client.request("PUT", f"/build/session/{session}/caches", None, tar, headers)


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


def _check_socket(ssh_id: str, path: str) -> None:
    """The agent a daemon elsewhere is to get is there, before the build starts."""
    try:
        is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        is_socket = False
    if not is_socket:
        raise InvalidArgument(f"ssh agent {ssh_id}: {path} is not a socket")


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
