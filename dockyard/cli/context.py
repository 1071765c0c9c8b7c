"""``dockyard context create/ls/use/rm/inspect/show``: named daemons, as ``docker context``.

The store is dockyard's own (``~/.dockyard``, see client/contexts.py), in the
docker CLI's layout. These verbs talk to no daemon: they get the global
options instead of a client.
"""

from __future__ import annotations

import argparse
import os
import sys

from dockyard.cli.parser import StatusError, add_positionals, command
from dockyard.client.contexts import (
    DEFAULT_CONTEXT,
    ENDPOINT,
    ContextStore,
    resolve_name,
    validate_name,
)
from dockyard.errors import DockyardError, InvalidArgument, NotFound

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import GlobalOptions

LS_TABLE = (
    "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"
)
LS_HEADERS = {
    "Name": "NAME",
    "Description": "DESCRIPTION",
    "DockerEndpoint": "DOCKER ENDPOINT",
    "Error": "ERROR",
}
DEFAULT_DESCRIPTION = "Current DOCKYARD_HOST based configuration"
ENDPOINT_KEYS = ("from", "host", "ca", "cert", "key", "skip-tls-verify")
IN_MEMORY = "<IN MEMORY>"
_HOST_OVERRIDES = "Warning: DOCKYARD_HOST environment variable overrides the active context. "


def register(subparsers: Any) -> None:
    create = _command(subparsers, "context-create", run_create, "[OPTIONS] CONTEXT", 1, 1)
    create.add_argument("--description", default="")
    create.add_argument("--docker", action="append", default=[])
    create.add_argument("--from", dest="source", default="")

    ls = _command(subparsers, "context-ls", run_ls, "[OPTIONS]", 0, 0)
    ls.add_argument("--format", default="")
    ls.add_argument("-q", "--quiet", action="store_true")

    _command(subparsers, "context-use", run_use, "CONTEXT", 1, 1)
    rm = _command(subparsers, "context-rm", run_rm, "CONTEXT [CONTEXT...]", 1, None)
    rm.add_argument("-f", "--force", action="store_true")
    inspect = _command(
        subparsers, "context-inspect", run_inspect, "[OPTIONS] [CONTEXT] [CONTEXT...]", 0, None
    )
    inspect.add_argument("-f", "--format", default="")
    _command(subparsers, "context-show", run_show, "", 0, 0)


def _command(
    subparsers: Any, name: str, handler: Any, usage: str, min_args: int, max_args: int | None
) -> Any:
    from dockyard.cli.main import GROUPS

    verb = name.removeprefix("context-")
    parser = command(
        subparsers,
        name,
        handler,
        usage=f"%(prog)s {usage}".rstrip(),
        description=GROUPS["context"][1][verb][2],
        min_args=min_args,
        max_args=max_args,
    )
    parser.set_defaults(global_options=True)
    add_positionals(parser)
    return parser


def _current(options: GlobalOptions, store: ContextStore) -> str:
    return resolve_name(options.context, options.host, store)


# -- create ------------------------------------------------------------------------------


def run_create(options: GlobalOptions, ns: argparse.Namespace) -> int:
    name = ns.args[0]
    store = ContextStore()
    validate_name(name)
    if store.exists(name):
        raise InvalidArgument(f'context "{name}" already exists')
    config = _endpoint_config(ns.docker)
    if ns.source and config:
        raise InvalidArgument("cannot use --docker flag when --from is set")
    if config and "from" not in config:
        host, skip, tls = _new_endpoint(config)
        description = ns.description
    else:
        source = config.get("from") or ns.source or _current(options, store)
        host, skip, tls, description = _copied_endpoint(options, store, source)
        if ns.description or config:
            description = ns.description
    store.create(name, description, host, skip, tls)
    print(name)
    print(f'Successfully created context "{name}"', file=sys.stderr)
    return 0


def _endpoint_config(values: list[str]) -> dict[str, str]:
    """``--docker "host=...,ca=..."`` (repeatable), keys checked as the docker CLI checks them."""
    config: dict[str, str] = {}
    for value in values:
        for pair in value.split(","):
            key, sep, item = pair.partition("=")
            if not sep:
                raise InvalidArgument(
                    f'invalid argument "{value}" for "--docker" flag: {pair} must be formatted as key=value'
                )
            config[key] = item
    unknown = [key for key in config if key not in ENDPOINT_KEYS]
    if unknown:
        raise InvalidArgument(
            "unable to create docker endpoint config: "
            + "\n".join(f"unrecognized config key: {key}" for key in unknown)
        )
    return config


def _new_endpoint(config: dict[str, str]) -> tuple[str, bool, dict[str, bytes]]:
    from dockyard.config import local_host
    from dockyard.hosts import parse_host
    from dockyard.tlsconfig import read_file

    host = config.get("host", "")
    skip = config.get("skip-tls-verify", "false").lower() in ("1", "t", "true")
    try:
        if host:
            parse_host(host, local_host())
        tls = {
            filename: read_file(os.path.expanduser(config[key]))
            for key, filename in (("ca", "ca.pem"), ("cert", "cert.pem"), ("key", "key.pem"))
            if config.get(key)
        }
    except InvalidArgument as exc:
        raise InvalidArgument(f"unable to create docker endpoint config: {exc.message}") from None
    return host, skip, tls


def _copied_endpoint(
    options: GlobalOptions, store: ContextStore, source: str
) -> tuple[str, bool, dict[str, bytes], str]:
    """Host, SkipTLSVerify, TLS files and description of an existing context (default too)."""
    if source == DEFAULT_CONTEXT:
        from dockyard.cli.main import default_tls
        from dockyard.tlsconfig import read_file

        tls_files = default_tls(options)
        files = {}
        if tls_files is not None:
            pairs = (
                ("ca.pem", tls_files.ca),
                ("cert.pem", tls_files.cert),
                ("key.pem", tls_files.key),
            )
            files = {filename: read_file(path) for filename, path in pairs if path}
        skip = tls_files is not None and not tls_files.verify
        return _default_host(options), skip, files, ""
    meta = store.get(source)
    endpoint = (meta.get("Endpoints") or {}).get(ENDPOINT) or {}
    directory = os.path.join(store.tls_dir(source), ENDPOINT)
    files = {}
    for filename in store.tls_listing(source).get(ENDPOINT, []):
        with open(os.path.join(directory, filename), "rb") as f:
            files[filename] = f.read()
    description = (meta.get("Metadata") or {}).get("Description", "")
    return endpoint.get("Host", ""), bool(endpoint.get("SkipTLSVerify")), files, description


def _default_host(options: GlobalOptions) -> str:
    from dockyard.cli.main import default_tls
    from dockyard.client.client import default_host
    from dockyard.config import local_host
    from dockyard.hosts import parse_host

    tls = default_tls(options) is not None
    return parse_host(options.host or default_host(), local_host(), tls)


# -- ls, show ------------------------------------------------------------------------------


def run_ls(options: GlobalOptions, ns: argparse.Namespace) -> int:
    from dockyard.cli.format import render_rows

    store = ContextStore()
    current = _current(options, store)
    rows = [_row(options, store, name, current) for name in [*store.names(), DEFAULT_CONTEXT]]
    if current not in (row["Name"] for row in rows):
        try:
            store.get(current)
            error = ""
        except DockyardError as exc:
            error = exc.message
        rows.append(_context_row(current, True, "", "", error))
    rows.sort(key=lambda row: _natural(row["Name"]))
    spec = "{{.Name}}" if ns.quiet else ns.format
    sys.stdout.write(render_rows(rows, spec, LS_TABLE, LS_HEADERS))
    if os.environ.get("DOCKYARD_HOST"):
        print(
            _HOST_OVERRIDES + "To use a context, either set the global --context flag, "
            "or unset DOCKYARD_HOST environment variable.",
            file=sys.stderr,
        )
    return 0


def _row(options: GlobalOptions, store: ContextStore, name: str, current: str) -> dict[str, Any]:
    if name == DEFAULT_CONTEXT:
        host = _default_host(options)  # what -H, DOCKYARD_HOST and the TLS flags make it
        return _context_row(name, name == current, DEFAULT_DESCRIPTION, host, "")
    try:
        meta = store.get(name)
    except DockyardError as exc:
        return _context_row(name, name == current, "", "", exc.message)
    endpoint = (meta.get("Endpoints") or {}).get(ENDPOINT)
    description = (meta.get("Metadata") or {}).get("Description", "")
    if not isinstance(endpoint, dict):
        return _context_row(
            name, name == current, description, "", "cannot find docker endpoint in context"
        )
    return _context_row(name, name == current, description, endpoint.get("Host", ""), "")


def _context_row(
    name: str, current: bool, description: str, endpoint: str, error: str
) -> dict[str, Any]:
    from dockyard.cli.format import ellipsis

    return {
        "Current": current,
        "Description": description,
        "DockerEndpoint": endpoint,
        "Error": ellipsis(error, 45) if error else "",
        "Name": name,
    }


def _natural(name: str) -> list[Any]:
    """sortorder.NaturalLess: runs of digits compare as numbers."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def run_show(options: GlobalOptions, ns: argparse.Namespace) -> int:
    print(_current(options, ContextStore()))
    return 0


# -- use, rm -------------------------------------------------------------------------------


def run_use(options: GlobalOptions, ns: argparse.Namespace) -> int:
    name = ns.args[0]
    store = ContextStore()
    if name != DEFAULT_CONTEXT:
        validate_name(name)
        store.get(name)
    if store.current() != (name if name != DEFAULT_CONTEXT else ""):
        store.set_current(name if name != DEFAULT_CONTEXT else "")
    print(name)
    print(f'Current context is now "{name}"', file=sys.stderr)
    if name != DEFAULT_CONTEXT and os.environ.get("DOCKYARD_HOST"):
        print(
            _HOST_OVERRIDES + f'To use "{name}", either set the global --context flag, '
            "or unset DOCKYARD_HOST environment variable.",
            file=sys.stderr,
        )
    return 0


def run_rm(options: GlobalOptions, ns: argparse.Namespace) -> int:
    store = ContextStore()
    current = _current(options, store)
    errors = []
    for name in ns.args:
        if name == DEFAULT_CONTEXT:
            errors.append(f'context "{DEFAULT_CONTEXT}" cannot be removed')
            continue
        try:
            _remove(store, name, name == current, ns.force)
        except DockyardError as exc:
            errors.append(exc.message)
            continue
        print(name)
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def _remove(store: ContextStore, name: str, current: bool, force: bool) -> None:
    if current:
        if not force:
            raise InvalidArgument(f'context "{name}" is in use, set -f flag to force remove')
        store.set_current("")  # back to DOCKYARD_HOST and the default
    if not force and not os.path.isdir(store.meta_dir(name)):
        raise NotFound(f'context "{name}" does not exist')
    store.remove(name)


# -- inspect -------------------------------------------------------------------------------


def run_inspect(options: GlobalOptions, ns: argparse.Namespace) -> int:
    from dockyard.cli.format import render_each

    store = ContextStore()
    names = ns.args or [_current(options, store)]
    items, errors = [], []
    for name in names:
        try:
            items.append(_inspect(options, store, name))
        except DockyardError as exc:
            errors.append(exc.message)
    for text in render_each(items, ns.format):
        sys.stdout.write(text)
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def _inspect(options: GlobalOptions, store: ContextStore, name: str) -> dict[str, Any]:
    if name == DEFAULT_CONTEXT:
        host, skip, files, _ = _copied_endpoint(options, store, DEFAULT_CONTEXT)
        return {
            "Name": DEFAULT_CONTEXT,
            "Metadata": {},
            "Endpoints": {ENDPOINT: {"Host": host, "SkipTLSVerify": skip}},
            "TLSMaterial": {ENDPOINT: sorted(files)} if files else {},
            "Storage": {"MetadataPath": IN_MEMORY, "TLSPath": IN_MEMORY},
        }
    meta = store.get(name)
    return {
        "Name": meta.get("Name", name),
        "Metadata": meta.get("Metadata") or {},
        "Endpoints": meta.get("Endpoints") or {},
        "TLSMaterial": store.tls_listing(name),
        "Storage": {"MetadataPath": store.meta_dir(name), "TLSPath": store.tls_dir(name)},
    }
