"""``dockyard build`` and ``dockyard builder prune``.

The output is ``docker build`` with the classic builder (``--progress plain``).
A context directory is not uploaded to a daemon on this machine's socket: it
reads it in place (``context=/abs/dir``), which is what makes a cached rebuild
cheap; a Dockerfile from outside it (``-f -``, or a file elsewhere) is sent as
the request body, since the daemon reads only inside the context. A daemon
elsewhere (tcp://, ssh://) gets the context as a tar, as the docker CLI sends
it: what .dockerignore excludes is left out here (never the Dockerfile or
.dockerignore itself), and a Dockerfile from outside the context goes in
under a name of its own, which .dockerignore then lists so that ``COPY .``
does not take it. A context on stdin (a tar, or a lone Dockerfile) is sent as
the request body.
``--explain`` (or ``DOCKYARD_EXPLAIN=1``) says why each step missed the cache.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

from dockyard.cli.parser import StatusError, add_positionals, command
from dockyard.client import Client
from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from dockyard.cli.buildoutput import ExportSink
    from dockyard.cli.buildprogress import TtyProgress

_TAR_MAGIC_OFFSET = 257
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def register(subparsers: Any) -> None:
    _register_build(subparsers)
    _register_builder(subparsers)


def _register_build(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "build",
        run_build,
        usage="%(prog)s [OPTIONS] PATH | URL | -",
        description="Build an image from a Dockerfile",
        min_args=1,
        max_args=1,
    )
    parser.add_argument("-t", "--tag", action="append", default=[])
    parser.add_argument("-f", "--file", default="")
    parser.add_argument("--build-arg", action="append", default=[])
    parser.add_argument("--target", default="")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--network", default="default")
    parser.add_argument("--add-host", action="append", default=[])
    parser.add_argument("--iidfile", default="")
    parser.add_argument(
        "--progress", choices=("auto", "plain", "tty", "quiet", "rawjson"), default="auto"
    )
    parser.add_argument("--pull", action="store_true")
    parser.add_argument("--rm", action="store_true", default=True)
    parser.add_argument("--force-rm", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--ssh", action="append", default=[])
    parser.add_argument("-o", "--output", action="append", default=[])
    parser.add_argument("--cache-from", action="append", default=[])
    parser.add_argument("--cache-to", action="append", default=[])
    parser.add_argument("--build-context", action="append", default=[])
    add_positionals(parser)


def _register_builder(subparsers: Any) -> None:
    parser = command(
        subparsers,
        "builder",
        run_builder,
        usage="%(prog)s prune [OPTIONS]",
        description="Manage builds",
        min_args=1,
        max_args=1,
    )
    parser.add_argument("-a", "--all", action="store_true")
    parser.add_argument("-f", "--force", action="store_true")
    parser.add_argument("--filter", action="append", default=[])
    parser.add_argument("--keep-storage", default="")
    add_positionals(parser)


# -- build ----------------------------------------------------------------------


def run_build(client: Client, ns: argparse.Namespace) -> int:
    if ns.progress == "quiet":
        ns.quiet = True
    if ns.pull:
        raise InvalidArgument("--pull is not supported: pull the base image first")
    query: dict[str, Any] = {
        "t": ns.tag,
        "buildargs": json.dumps(_build_args(ns.build_arg)) if ns.build_arg else None,
        "labels": json.dumps(dict(_pair(v) for v in ns.label)) if ns.label else None,
        "target": ns.target or None,
        "nocache": ns.no_cache or None,
        "q": ns.quiet or None,
        "networkmode": ns.network if ns.network != "default" else None,
        "extrahosts": ns.add_host or None,
        "rm": ns.rm,
        "forcerm": ns.force_rm or None,
        "explain": (ns.explain or os.environ.get("DOCKYARD_EXPLAIN") == "1") or None,
    }
    contexts, context_dirs = _named_contexts(ns.build_context, client.local)
    cache_from, cache_dirs = _caches(ns.cache_from, client.local, False)
    cache_to, cache_dests = _caches(ns.cache_to, client.local, True)
    query["buildcontexts"] = json.dumps(contexts) if contexts else None
    query["cachefrom"] = json.dumps(cache_from) if cache_from else None
    query["cacheto"] = json.dumps(cache_to) if cache_to else None
    session = None
    if ns.secret or ns.ssh or context_dirs or cache_dirs or cache_dests:
        from dockyard.cli.buildsession import Uploads, open_session

        uploads = Uploads(context_dirs, [d for d, _ in cache_dirs], cache_dests)
        session = open_session(client, ns.secret, ns.ssh, uploads)
        query["session"] = session.id if session else None
    try:  # a forwarded ssh agent serves the build until it ends
        image_id = _request_build(client, ns, query, [dest for dest, _ in cache_dests])
    finally:
        if session is not None:
            session.close()
    if ns.iidfile:
        with open(ns.iidfile, "w") as f:
            f.write(image_id)
    return 0


def _request_build(
    client: Client, ns: argparse.Namespace, query: dict[str, Any], cache_dests: list[str]
) -> str:
    """Send the build and show its progress; ``cache_dests``: where the local caches the
    daemon sends back go, in order. Returns the image id."""
    caches: list[ExportSink] = []
    if cache_dests:
        from dockyard.cli.buildoutput import ExportSink, Output

        caches = [ExportSink(Output("local", dest=dest)) for dest in cache_dests]
    sink, pushed = None, []
    if ns.output:
        from dockyard.cli.buildoutput import ExportSink, parse_outputs

        output = parse_outputs(ns.output)
        if output is not None:
            query["outputs"] = output.query()
            sink = ExportSink(output) if output.type not in ("image", "registry") else None
            pushed = output.pushed_names(ns.tag)
    with _Context(ns.args[0], ns.file, query, client.local) as body:
        refs = _registry_refs(ns.cache_from, False) + _registry_refs(ns.cache_to, True) + pushed
        headers = {**_headers(query, body), **_registry_config(refs)}
        response = client.request("POST", "/build", query, body, headers)
        return _show(response.iter_json(), ns.quiet, sink, caches, _live_view(ns, sink))


def _headers(query: dict[str, Any], body: BinaryIO | None) -> dict[str, str]:
    if body is None:
        return {}
    return {"Content-Type": "text/plain" if "context" in query else "application/x-tar"}


def _named_contexts(values: list[str], local: bool) -> tuple[dict[str, str], dict[str, str]]:
    """``--build-context name=DIR|docker-image://REF``: what the build's query names (a
    directory made absolute, for a daemon on this machine), and the directories a
    daemon elsewhere gets uploaded."""
    named, uploaded = {}, {}
    for value in values:
        name, sep, source = value.partition("=")
        if not sep or not name or not source:
            raise InvalidArgument(f"invalid context value: {value}, expected key=value")
        if "://" in source:
            named[name] = source
        elif local:
            named[name] = os.path.abspath(source)
        else:
            uploaded[name] = os.path.abspath(source)
    return named, uploaded


def _registry_refs(caches: list[str], bare_is_registry: bool) -> list[str]:
    """The references of registry caches (a bare --cache-to is one; a bare --cache-from
    is an image)."""
    refs = []
    for value in caches:
        fields = dict(f.partition("=")[::2] for f in value.split(",") if "=" in f)
        if fields.get("type") == "registry" and fields.get("ref"):
            refs.append(fields["ref"])
        elif bare_is_registry and "=" not in value:
            refs.append(value)
    return refs


def _registry_config(refs: list[str]) -> dict[str, str]:
    """X-Registry-Config, as the docker CLI sends it for a build: the stored logins, here
    of the registries of ``refs``."""
    if not refs:
        return {}
    from dockyard.store.reference import parse

    domains = {parse(ref).domain for ref in refs}
    import base64

    from dockyard.cli.credentials import ConfigFile, server_for_domain

    config, logins = ConfigFile.load(), {}
    for domain in sorted(domains):
        auth = config.get(server_for_domain(domain))
        if not auth.empty:
            logins[auth.server] = {
                "username": auth.username,
                "password": auth.password,
                "serveraddress": auth.server,
            }
    if not logins:
        return {}
    return {"X-Registry-Config": base64.urlsafe_b64encode(json.dumps(logins).encode()).decode()}


def _caches(
    values: list[str], local: bool, export: bool
) -> tuple[list[str], list[tuple[str, str]]]:
    """``--cache-from``/``--cache-to`` values: those of the build's query (a local cache's
    directory made absolute, for a daemon on this machine), and the local caches
    (directory, mode) a daemon elsewhere gets uploaded or sends back."""
    named, elsewhere = [], []
    for value in values:
        fields = value.split(",")
        if "type=local" not in fields:
            named.append(value)
        elif local:
            named.append(",".join(_absolute(f) for f in fields))
        else:
            from dockyard.build.cacheexport import parse_cache_option

            option = parse_cache_option(value, export)
            elsewhere.append((os.path.abspath(option.location), option.attrs.get("mode", "min")))
    return named, elsewhere


def _absolute(field: str) -> str:
    key, sep, path = field.partition("=")
    return f"{key}={os.path.abspath(path)}" if sep and key in ("src", "dest") else field


def _build_args(values: list[str]) -> dict[str, str | None]:
    """``K=V``, or ``K`` alone: its value from our environment, else unset."""
    args: dict[str, str | None] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        args[key] = rest if sep else os.environ.get(key)
    return args


def _pair(value: str) -> tuple[str, str]:
    key, _, rest = value.partition("=")
    return key, rest


def _live_view(ns: argparse.Namespace, sink: ExportSink | None) -> TtyProgress | None:
    """``--progress=tty``, or ``auto`` on a terminal: the live view (on stderr, as buildx)."""
    if ns.quiet or ns.progress not in ("tty", "auto"):
        return None
    if ns.progress == "auto" and not sys.stderr.isatty():
        return None
    from dockyard.cli.buildprogress import TtyProgress

    return TtyProgress()


def _show(
    messages: Any,
    quiet: bool,
    sink: ExportSink | None,
    caches: list[ExportSink],
    view: TtyProgress | None,
) -> str:
    """Print the daemon's progress like docker does (or draw it in ``view``), and write
    what an ``--output`` exports to ``sink`` and the local caches it sends back to
    ``caches``; returns the image id."""
    image_id = ""
    # Progress goes to stderr when stdout carries the export, as buildx's does.
    out = sys.stderr if sink is not None and sink.output.to_stdout else sys.stdout
    success = False
    try:
        for message in messages:
            if message.get("error"):
                detail = message.get("errorDetail") or {}
                out.flush()
                for opened in (sink, *caches):
                    if opened is not None:
                        opened.close()
                raise StatusError(detail.get("code") or 1, message["error"])
            if "export" in message and sink is not None:
                sink.write(message["export"])
            elif "cacheexport" in message:
                caches[int(message.get("index") or 0)].write(message["cacheexport"])
            elif "aux" in message:
                image_id = (message.get("aux") or {}).get("ID", image_id)
            elif "stream" in message and view is not None:
                view.write(message["stream"])
            elif "stream" in message:
                out.write(message["stream"])
                out.flush()
            elif "status" in message and not quiet:
                _status(message, out)
        success = True
    finally:
        if view is not None:
            view.close(success)
    for cache in caches:
        cache.finish()
    if sink is not None:
        sink.finish()
    return image_id


def _status(message: dict[str, Any], out: Any) -> None:
    """A pull's or push's status as jsonmessage shows it off a terminal: a line, none for
    bytes moving."""
    if (message.get("progressDetail") or {}).get("current"):
        return
    layer = f"{message['id']}: " if message.get("id") else ""
    out.write(layer + message["status"] + "\n")


class _Context:
    """What the request carries: a local directory by path (and a Dockerfile from
    outside it as the body), or a tar body."""

    def __init__(self, path: str, dockerfile: str, query: dict[str, Any], local: bool) -> None:
        self.path = path
        self.dockerfile = dockerfile
        self.query = query
        self.local = local
        self.body: BinaryIO | None = None

    def __enter__(self) -> BinaryIO | None:
        if self.path == "-":
            if self.dockerfile == "-":
                raise InvalidArgument(
                    "invalid argument: can't use stdin for both build context and dockerfile"
                )
            return self._stdin_context()
        if "://" in self.path or self.path.startswith("git@"):
            raise InvalidArgument(
                f"unable to prepare context: remote contexts are not supported: {self.path}"
            )
        directory = os.path.abspath(self.path)
        if not os.path.isdir(directory):
            raise InvalidArgument(f'unable to prepare context: path "{self.path}" not found')
        inside, outside = self._dockerfile(directory)
        if not self.local:
            from dockyard.cli.buildcontext import context_tar

            self.body = context_tar(directory, inside or "Dockerfile", outside, self.query)
            return self.body
        self.query["context"] = directory
        if inside:
            self.query["dockerfile"] = inside
        return io.BytesIO(outside) if outside is not None else None

    def _dockerfile(self, directory: str) -> tuple[str, bytes | None]:
        """The Dockerfile's path inside the context, or its text when it is not in there."""
        if self.dockerfile == "-":
            return "", sys.stdin.buffer.read()
        if not self.dockerfile:
            return "", None
        dockerfile = os.path.abspath(self.dockerfile)
        real, real_directory = os.path.realpath(dockerfile), os.path.realpath(directory)
        if not os.path.exists(real):
            raise InvalidArgument(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                f"lstat {real}: no such file or directory"
            )
        if real.startswith(real_directory + os.sep):
            return os.path.relpath(real, real_directory), None
        self.query["dockerfile"] = dockerfile  # named in messages only (a local daemon)
        with open(dockerfile, "rb") as f:
            return "", f.read()

    def __exit__(self, *exc: object) -> None:
        if self.body is not None:
            self.body.close()

    def _stdin_context(self) -> BinaryIO:
        """A tar (maybe compressed) as it is; anything else is a lone Dockerfile."""
        stdin = sys.stdin.buffer
        head = stdin.read(_TAR_MAGIC_OFFSET + 8)
        if head.startswith(_COMPRESSED_MAGIC) or head[_TAR_MAGIC_OFFSET:].startswith(b"ustar"):
            if self.dockerfile:
                self.query["dockerfile"] = self.dockerfile
            return io.BufferedReader(_Prefixed(head, stdin))
        return _dockerfile_tar(head + stdin.read())


class _Prefixed(io.RawIOBase):
    """Bytes already read, then the rest of a stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size] = self.head[:size]
            self.head = self.head[size:]
            return size
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _dockerfile_tar(dockerfile: bytes) -> BinaryIO:
    import tarfile
    import time

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        info.mode = 0o600
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(dockerfile))
    out.seek(0)
    return out


# -- builder prune ----------------------------------------------------------------


def run_builder(client: Client, ns: argparse.Namespace) -> int:
    verb = ns.args[0]
    if verb != "prune":
        raise StatusError(
            1,
            f"dockyard: unknown command: dockyard builder {verb}\n\n"
            "Usage:  dockyard builder prune [OPTIONS]\n\n"
            "Run 'dockyard builder --help' for more information",
        )
    if not ns.force:
        from dockyard.cli.containers import confirm

        if not confirm("WARNING! This will remove all dangling build cache."):
            return 0
    report = client.request("POST", "/build/prune", {"all": ns.all or None}).json()
    deleted = report.get("CachesDeleted") or []
    if deleted:
        print("Deleted build cache objects:")
        for key in deleted:
            print(key[:25])
        print()
    from dockyard.units import human_size

    print(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}")
    return 0
