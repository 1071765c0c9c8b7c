"""Contexts: named daemon endpoints, kept the way the docker CLI keeps them, in dockyard's own directory.

    <dir>/config.json                                  {"currentContext": NAME}
    <dir>/contexts/meta/<sha256(NAME)>/meta.json       {"Name", "Metadata": {"Description"},
                                                        "Endpoints": {"docker": {"Host", "SkipTLSVerify"}}}
    <dir>/contexts/tls/<sha256(NAME)>/docker/          ca.pem, cert.pem, key.pem

``<dir>`` is ``$DOCKYARD_CONFIG`` or ``~/.dockyard``, not the docker CLI's
``~/.docker``: a context names a daemon, and the docker CLI's contexts name
Docker's. The layout and the files are the docker CLI's, so a context copied
from ``~/.docker/contexts`` works as it is. ``default`` is no file: it is the
daemon of ``-H``, ``DOCKYARD_HOST`` and the TLS flags.

Every command reads the current context's name; what only the ``context``
verbs need (hashlib, re, shutil) is imported when they run.
"""

from __future__ import annotations

import json
import os

from dockyard.errors import InvalidArgument, NotFound
from dockyard.jsondoc import json_object

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from dockyard.client.endpoint import Endpoint

DEFAULT_CONTEXT = "default"
ENDPOINT = "docker"  # the one endpoint a context has, under the docker CLI's name
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")
_VALID_NAME = "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"


def resolve_name(flag: str, host: str | None, store: ContextStore) -> str:
    """The context a command uses, in the docker CLI's order of precedence.

    ``--context``; then ``default`` when ``-H`` or DOCKYARD_HOST names a daemon;
    then DOCKYARD_CONTEXT; then the one ``dockyard context use`` chose.
    """
    if flag:
        return flag
    if host is not None or os.environ.get("DOCKYARD_HOST"):
        return DEFAULT_CONTEXT
    return os.environ.get("DOCKYARD_CONTEXT") or store.current() or DEFAULT_CONTEXT


def validate_name(name: str) -> None:
    import re

    if not name:
        raise InvalidArgument("context name cannot be empty")
    if name == DEFAULT_CONTEXT:
        raise InvalidArgument(f'"{DEFAULT_CONTEXT}" is a reserved context name')
    if not re.match(_VALID_NAME, name):
        raise InvalidArgument(
            f'context name "{name}" is invalid, names are validated against regexp "{_VALID_NAME}"'
        )


def _digest(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()


class ContextStore:
    def __init__(self, directory: str | None = None) -> None:
        if directory is None:
            from dockyard.config import dockyard_config_dir

            directory = dockyard_config_dir()
        self.directory = directory

    # -- where things are -------------------------------------------------------------

    def meta_dir(self, name: str) -> str:
        return os.path.join(self.directory, "contexts", "meta", _digest(name))

    def tls_dir(self, name: str) -> str:
        return os.path.join(self.directory, "contexts", "tls", _digest(name))

    def _meta_file(self, name: str) -> str:
        return os.path.join(self.meta_dir(name), "meta.json")

    def _config_file(self) -> str:
        return os.path.join(self.directory, "config.json")

    # -- contexts ---------------------------------------------------------------------

    def get(self, name: str) -> dict[str, Any]:
        """The context's meta.json document."""
        path = self._meta_file(name)
        try:
            with open(path, "rb") as f:
                document = json_object(f.read())
        except FileNotFoundError:
            raise NotFound(
                f'context "{name}": context not found: open {path}: no such file or directory'
            ) from None
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"parsing {path}: {exc}") from None
        return document

    def exists(self, name: str) -> bool:
        return os.path.exists(self._meta_file(name))

    def names(self) -> list[str]:
        root = os.path.join(self.directory, "contexts", "meta")
        try:
            entries = os.listdir(root)
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            try:
                with open(os.path.join(root, entry, "meta.json"), "rb") as f:
                    found.append(json.load(f)["Name"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a context the docker CLI would list either
        return sorted(found)

    def create(
        self,
        name: str,
        description: str,
        host: str,
        skip_tls_verify: bool,
        tls: dict[str, bytes],
    ) -> None:
        metadata = {"Description": description} if description else {}
        document = {
            "Name": name,
            "Metadata": metadata,
            "Endpoints": {ENDPOINT: {"Host": host, "SkipTLSVerify": skip_tls_verify}},
        }
        _write(self._meta_file(name), json.dumps(document).encode(), 0o644, 0o755)
        import shutil

        shutil.rmtree(self.tls_dir(name), ignore_errors=True)
        for filename, data in tls.items():
            _write(os.path.join(self.tls_dir(name), ENDPOINT, filename), data, 0o600, 0o700)

    def remove(self, name: str) -> None:
        import shutil

        shutil.rmtree(self.meta_dir(name), ignore_errors=True)
        shutil.rmtree(self.tls_dir(name), ignore_errors=True)

    def tls_listing(self, name: str) -> dict[str, list[str]]:
        """Which TLS files each endpoint has (``docker context inspect``'s TLSMaterial)."""
        listing: dict[str, list[str]] = {}
        root = self.tls_dir(name)
        try:
            endpoints = sorted(os.listdir(root))
        except FileNotFoundError:
            return listing
        for endpoint in endpoints:
            files = sorted(os.listdir(os.path.join(root, endpoint)))
            if files:
                listing[endpoint] = files
        return listing

    def endpoint(self, name: str) -> Endpoint:
        """How to reach the context's daemon: its host, and TLS when it has TLS files or skips verifying."""
        from dockyard.client.endpoint import Endpoint

        meta = self.get(name).get("Endpoints", {}).get(ENDPOINT)
        if not isinstance(meta, dict):
            raise InvalidArgument("cannot find docker endpoint in context")
        host = meta.get("Host") or ""
        skip = bool(meta.get("SkipTLSVerify"))
        files = self.tls_listing(name).get(ENDPOINT, [])
        if not host.startswith("tcp://") or not (files or skip):
            return Endpoint(host)
        from dockyard.tlsconfig import TLSFiles

        directory = os.path.join(self.tls_dir(name), ENDPOINT)
        ca, cert, key = (os.path.join(directory, f) if f in files else "" for f in TLS_FILES)
        return Endpoint(host, TLSFiles(ca, cert, key, verify=not skip))

    # -- the current context ------------------------------------------------------------

    def current(self) -> str:
        try:
            with open(self._config_file(), "rb") as f:
                document = json.load(f)
        except FileNotFoundError:
            return ""
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"loading config file: {self._config_file()}: {exc}") from None
        name = document.get("currentContext") if isinstance(document, dict) else None
        return name if isinstance(name, str) else ""

    def set_current(self, name: str) -> None:
        """Make ``name`` the current context; '' for default. Other keys are kept."""
        path = self._config_file()
        try:
            with open(path, "rb") as f:
                document = json_object(f.read())
        except FileNotFoundError:
            document = {}
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"loading config file: {path}: {exc}") from None
        if name:
            document["currentContext"] = name
        else:
            document.pop("currentContext", None)
        _write(path, json.dumps(document, indent="\t").encode(), 0o600, 0o700)


def _write(path: str, data: bytes, mode: int, dir_mode: int) -> None:
    """Write a file whole or not at all (a temporary file renamed over it)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=dir_mode, exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
