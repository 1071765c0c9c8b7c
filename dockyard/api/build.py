"""Build routes: ``POST /build`` (Docker's classic builder) and ``POST /build/prune``.

The build runs in a worker thread; its progress messages cross to the event
loop through a bounded queue and go out as JSON lines: a client that reads
slowly blocks the worker (and a RUN step's output, through its shim) instead
of growing the daemon. As in moby, an error before
the first message is an HTTP error status, and one after it is an
``{"errorDetail": ...}`` line in the stream.

Beyond Docker: a client on the local Unix socket may name the context as a
directory on this machine (``context=/abs/dir``) instead of uploading a tar.
``dockerfile`` is then, as ever, a path inside the context; a Dockerfile from
elsewhere (``-f -``, or a file outside the context) comes as the request body,
``dockerfile`` only naming it in messages. ``explain=1`` adds why each step
missed the cache. ``session`` names a build session (``api/buildsession.py``):
secrets, ssh agents, and what a client elsewhere uploaded (named contexts,
local caches) or wants sent back (local caches, as ``cacheexport`` lines).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.api import query, responses
from dockyard.api.body import BodyReader
from dockyard.api.buildsession import from_unix_socket, sessions
from dockyard.api.engine_access import engine
from dockyard.build.backend import RunLimits
from dockyard.build.builder import DOCKER_IMAGE, BuildRequest
from dockyard.build.cacheexport import CacheOption, parse_cache_option
from dockyard.build.exporters import parse_outputs
from dockyard.build.history import check_platform
from dockyard.errors import DockyardError, InvalidArgument
from dockyard.store import reference

if TYPE_CHECKING:
    from dockyard.engine.builds import BuildService
    from dockyard.engine.buildsessions import BuildSession

_BUFFER = 1 << 20
_END = object()
# Messages waiting for the client (a RUN step's output comes in chunks of up to 32 KiB).
_MAX_PENDING_MESSAGES = 64
_HUB_SERVERS = ("docker.io", "index.docker.io", "registry-1.docker.io")


class _ClientGone(Exception):
    """The client went away: the build stops at its next message."""


def _builds(request: web.Request) -> BuildService:
    service: BuildService = engine(request).builds
    return service


async def build(request: web.Request) -> web.StreamResponse:
    _refuse_unsupported(request)
    directory = _local_context(request)
    dockerfile = (await request.read() or None) if directory else None
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[Any] = asyncio.Queue(_MAX_PENDING_MESSAGES)
    gone = threading.Event()

    def put(message: object) -> None:
        """From the worker: wait for room in the queue."""
        asyncio.run_coroutine_threadsafe(messages.put(message), loop).result()

    def emit(message: dict[str, Any]) -> None:
        if gone.is_set():
            raise _ClientGone()
        put(message)

    def run() -> str:
        try:
            # The session's uploads are removed when the build ends, however it ends.
            with sessions(request).take(query.text(request, "session")) as session:
                build_request = _build_request(request, session)
                body = None if directory else io.BufferedReader(BodyReader(request, loop), _BUFFER)
                return _builds(request).build(
                    build_request, emit, tar=body, directory=directory, dockerfile=dockerfile
                )
        finally:
            put(_END)

    worker = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        message = await messages.get()
        if message is _END:
            await worker  # a failure before any output: an HTTP error status
        response = await responses.start_stream(request, "application/json")
        while message is not _END:
            await _send(response, message)
            message = await messages.get()
        await worker
    except Exception as e:
        started = responses.started(request)
        if started is None:
            raise
        await _send(started, _error_message(e))
        return started
    finally:
        _let_go(gone, messages)
    return response


def _let_go(gone: threading.Event, messages: asyncio.Queue[Any]) -> None:
    """Nobody reads the messages any more: the worker's next one stops the build, and
    the one it may be waiting to put (at most one, after ``gone``) finds room."""
    gone.set()
    while not messages.empty():
        messages.get_nowait()


async def _send(response: web.StreamResponse, message: dict[str, Any]) -> None:
    await response.write(responses.dumps(message).encode() + b"\r\n")


def _error_message(error: Exception) -> dict[str, Any]:
    """moby's JSONError: a failed RUN's exit status as ``code``, which `docker build` exits with."""
    text = error.message if isinstance(error, DockyardError) else str(error) or type(error).__name__
    code = getattr(error, "exit_code", 0)
    detail = {"code": code, "message": text} if code else {"message": text}
    return {"errorDetail": detail, "error": text}


def _build_request(request: web.Request, session: BuildSession) -> BuildRequest:
    """The build's parameters, with what its session brought (from a worker thread)."""
    cache_from = [str(name) for name in _json_list(request, "cachefrom")]
    uploaded = [CacheOption("local", {"src": str(path)}) for path in session.cache_imports]
    sent_back = [
        CacheOption("local", {"mode": mode}, to_client=True) for mode in session.cache_exports
    ]
    return BuildRequest(
        secrets=session.secrets,
        ssh=session.ssh,
        dockerfile_name=query.text(request, "dockerfile"),
        tags=request.query.getall("t", []),
        build_args=_json_map(request, "buildargs"),
        target=query.text(request, "target"),
        no_cache=query.flag(request, "nocache"),
        labels={k: v or "" for k, v in _json_map(request, "labels").items()},
        network=_network(query.text(request, "networkmode")),
        cache_from=[name for name in cache_from if not name.startswith("type=")],
        cache_imports=[
            *_caches(request, [n for n in cache_from if n.startswith("type=")], False),
            *uploaded,
        ],
        cache_exports=[
            *_caches(request, [str(n) for n in _json_list(request, "cacheto")], True),
            *sent_back,
        ],
        extra_hosts=[
            host
            for value in request.query.getall("extrahosts", [])
            for host in value.split(",")
            if host
        ],
        quiet=query.flag(request, "q"),
        explain=query.flag(request, "explain"),
        output=parse_outputs(query.text(request, "outputs")),
        contexts=_named_contexts(request, session.contexts),
        registry_logins=_registry_logins(request),
        limits=RunLimits(
            memory=query.integer(request, "memory", 0),
            memory_swap=query.integer(request, "memswap", 0),
            cpu_shares=query.integer(request, "cpushares", 0),
            cpu_period=query.integer(request, "cpuperiod", 0),
            cpu_quota=query.integer(request, "cpuquota", 0),
            cpuset_cpus=query.text(request, "cpusetcpus"),
            cpuset_mems=query.text(request, "cpusetmems"),
            shm_size=query.integer(request, "shmsize", 0),
        ),
    )


def _refuse_unsupported(request: web.Request) -> None:
    """What this builder cannot do, refused rather than ignored."""
    if query.text(request, "version", "1") == "2":
        raise InvalidArgument("BuildKit is not supported by this engine: use the classic builder")
    if query.text(request, "remote"):
        raise InvalidArgument("remote build contexts are not supported: send the context as a tar")
    if query.flag(request, "pull"):
        raise InvalidArgument(
            "pulling base images during a build is not supported: pull them first"
        )
    if query.flag(request, "squash"):
        raise InvalidArgument("squash is only supported with experimental mode")
    check_platform(query.text(request, "platform"))


def _json_list(request: web.Request, name: str) -> list[object]:
    raw = query.text(request, name)
    try:
        value = json.loads(raw) if raw else None
    except ValueError as e:
        raise InvalidArgument(f"invalid {name} parameter: {e}") from None
    return value if isinstance(value, list) else []


def _json_map(request: web.Request, name: str) -> dict[str, str | None]:
    raw = query.text(request, name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid {name} parameter: {e}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str | None) for v in value.values()):
        raise InvalidArgument(f"invalid {name} parameter: expected a JSON object of strings")
    return value


def _network(mode: str) -> str:
    """RUN steps' network: default (the default bridge), host, none, or a bridge network
    by name, as the classic builder takes them; another container's is refused."""
    if mode.startswith("container:"):
        raise InvalidArgument(f"network mode {mode!r} is not supported for builds")
    return mode or "default"


def _caches(request: web.Request, values: list[str], export: bool) -> list[CacheOption]:
    """``type=local|registry,...`` caches; a local one is a directory on this machine,
    named only by a local client."""
    options = [parse_cache_option(value, export) for value in values]
    for option in options:
        if option.type == "local" and not from_unix_socket(request):
            raise InvalidArgument(
                "a local build cache is accepted only from a local client:"
                " a client elsewhere uploads it to the build session"
            )
        if option.type == "local" and not Path(option.location).is_absolute():
            raise InvalidArgument("a local build cache must be an absolute path on this machine")
    return options


def _registry_logins(request: web.Request) -> dict[str, tuple[str, str]]:
    """X-Registry-Config: base64url JSON of server address → auth config, by registry domain."""
    header = request.headers.get("X-Registry-Config", "")
    if not header:
        return {}
    try:
        configs = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        raise InvalidArgument("invalid X-Registry-Config header") from None
    if not isinstance(configs, dict):
        raise InvalidArgument("invalid X-Registry-Config header")
    logins = {}
    for server, auth in configs.items():
        if isinstance(auth, dict) and auth.get("username"):
            domain = str(server).split("://", 1)[-1].split("/", 1)[0]
            domain = "docker.io" if domain in _HUB_SERVERS else domain
            logins[domain] = (str(auth["username"]), str(auth.get("password") or ""))
    return logins


def _named_contexts(request: web.Request, uploaded: dict[str, Path]) -> dict[str, str]:
    """``buildcontexts``: name → ``docker-image://REF``, or a directory on this machine
    (from a local client only); with the directories the session's client uploaded."""
    contexts = _json_map(request, "buildcontexts")
    for name in uploaded:
        if name in contexts:
            raise InvalidArgument(f"build context {name} is given twice")
    for name, value in contexts.items():
        if not name or not value:
            raise InvalidArgument(f"invalid context value: {name}={value or ''}")
        if value.startswith(DOCKER_IMAGE):
            reference.parse(value.removeprefix(DOCKER_IMAGE))
        elif "://" in value:
            raise InvalidArgument(
                f"unsupported build context {value}: a directory or docker-image://"
            )
        elif not from_unix_socket(request) or not Path(value).is_absolute():
            raise InvalidArgument(
                "a build context directory is accepted only from a local client, as an absolute"
                " path: a client elsewhere uploads it to the build session"
            )
        elif not Path(value).is_dir():
            raise InvalidArgument(f"the build context {name} ({value}) is not a directory")
    return {
        **{name: str(value) for name, value in contexts.items()},
        **{name: str(path) for name, path in uploaded.items()},
    }


def _local_context(request: web.Request) -> Path | None:
    """The context directory a local client named, if it did."""
    local = query.text(request, "context")
    if not local:
        return None
    if not from_unix_socket(request):
        raise InvalidArgument(
            "a context directory is accepted only from a local Unix-socket client"
        )
    directory = Path(local)
    if not directory.is_absolute():
        raise InvalidArgument("the context must be an absolute path on this machine")
    return directory


async def prune(request: web.Request) -> web.Response:
    report = await asyncio.to_thread(_builds(request).prune)
    return responses.json_response(report)


def routes() -> list[web.RouteDef]:
    return [web.post("/build", build), web.post("/build/prune", prune)]
