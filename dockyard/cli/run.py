"""create, run, start and attach: the commands that make a container and stream it.

``run`` does what docker's run.go does on the wire: create (pulling a missing
image), attach before start, wait (condition next-exit, or removed with --rm)
before start, start, then copy the streams until the output ends; the exit
status is the wait's StatusCode.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from dockyard.cli.parser import (
    PROGRAM,
    CommandParser,
    StatusError,
    add_positionals,
    command,
    error_text,
)
from dockyard.cli.pull import familiar, pull
from dockyard.cli.runopts import add_container_flags, create_body
from dockyard.client import APIError, Client, Hijacked, Response, streams
from dockyard.errors import DockyardError, InvalidArgument

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

RUN_USAGE = "%(prog)s [OPTIONS] IMAGE [COMMAND] [ARG...]"


def register(subparsers: Any) -> None:
    command(
        subparsers,
        "create",
        run_create,
        usage=RUN_USAGE,
        description="Create a new container",
        min_args=1,
        intermixed=False,
        short_help=False,
        declare=declare_create_flags,
    )
    command(
        subparsers,
        "run",
        run_run,
        usage=RUN_USAGE,
        description="Create and run a new container from an image",
        min_args=1,
        intermixed=False,
        short_help=False,
        declare=declare_run_flags,
    )

    start = command(
        subparsers,
        "start",
        run_start,
        usage="%(prog)s [OPTIONS] CONTAINER [CONTAINER...]",
        description="Start one or more stopped containers",
        min_args=1,
    )
    start.add_argument("-a", "--attach", action="store_true")
    start.add_argument("-i", "--interactive", action="store_true")
    start.add_argument("--detach-keys", default="")
    add_positionals(start)

    attach = command(
        subparsers,
        "attach",
        run_attach,
        usage="%(prog)s [OPTIONS] CONTAINER",
        description="Attach local standard input, output, and error streams to a running container",
        min_args=1,
        max_args=1,
    )
    attach.add_argument("--detach-keys", default="")
    attach.add_argument("--no-stdin", action="store_true")
    attach.add_argument("--sig-proxy", action="store_true", default=True)
    add_positionals(attach)


def declare_create_flags(parser: CommandParser) -> None:
    add_container_flags(parser)
    add_positionals(parser)


def declare_run_flags(parser: CommandParser) -> None:
    add_container_flags(parser)
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("--detach-keys", default="")
    parser.add_argument("--sig-proxy", action="store_true", default=True)
    add_positionals(parser)


# -- create --------------------------------------------------------------------


def build_body(parser_prog: str, ns: argparse.Namespace) -> dict[str, Any]:
    image, command_args = ns.args[0], ns.args[1:]
    try:
        return create_body(ns, image, command_args)
    except InvalidArgument as err:
        raise StatusError(
            125, f"{PROGRAM}: {err.message}\n\nRun '{parser_prog} --help' for more information"
        ) from None


def create_container(client: Client, ns: argparse.Namespace, body: dict[str, Any]) -> str:
    """POST /containers/create, pulling the image first when it is missing (docker's --pull)."""
    image = body["Image"]
    query = {"name": ns.name or None, "platform": ns.platform or None}
    if ns.pull == "always":
        pull(client, image, ns.quiet, ns.platform)
    try:
        response = client.request("POST", "/containers/create", query, body).json()
    except APIError as err:
        if err.status != 404 or ns.pull == "never" or "image" not in err.message.lower():
            raise
        print(f"Unable to find image '{familiar(image)}' locally", file=sys.stderr)
        pull(client, image, ns.quiet, ns.platform)
        response = client.request("POST", "/containers/create", query, body).json()
    for warning in response.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    if ns.cidfile:
        write_cidfile(ns.cidfile, response["Id"])
    return str(response["Id"])


def write_cidfile(path: str, container_id: str) -> None:
    try:
        with open(path, "x") as handle:
            handle.write(container_id)
    except FileExistsError:
        raise InvalidArgument(
            f"container ID file found, make sure the other container isn't running or delete {path}"
        ) from None


def run_create(client: Client, ns: argparse.Namespace) -> int:
    body = build_body(f"{PROGRAM} create", ns)
    try:
        print(create_container(client, ns, body))
    except DockyardError as err:
        raise status_error(err, "create") from None
    return 0


def status_error(err: DockyardError, verb: str) -> StatusError:
    """docker's toStatusError: 126 when the command cannot be invoked, 127 when missing."""
    message = error_text(err)
    status = 125
    if any(text in message for text in ("executable file not found", "no such file or directory")):
        status = 127
    elif "permission denied" in message:
        status = 126
    return StatusError(
        status,
        f"{PROGRAM}: {message}\n\nRun '{PROGRAM} {verb} --help' for more information",
    )


# -- run -----------------------------------------------------------------------


def run_run(client: Client, ns: argparse.Namespace) -> int:
    body = build_body(f"{PROGRAM} run", ns)
    if ns.detach:
        if ns.attach:
            raise StatusError(1, "conflicting options: cannot specify both --attach and --detach")
        body.update(AttachStdin=False, AttachStdout=False, AttachStderr=False, StdinOnce=False)
    elif body["Tty"] and body["AttachStdin"] and not os.isatty(0):
        raise StatusError(1, "the input device is not a TTY")
    detach_keys = streams.parse_detach_keys(ns.detach_keys or streams.DEFAULT_DETACH_KEYS)
    try:
        container_id = create_container(client, ns, body)
    except DockyardError as err:
        raise status_error(err, "run") from None
    attached = body["AttachStdin"] or body["AttachStdout"] or body["AttachStderr"]
    if not attached:
        start_or_fail(client, container_id, "run")
        print(container_id)
        return 0
    stream = attach_stream(client, container_id, body["AttachStdin"], ns.detach_keys)
    condition = "removed" if ns.rm else "next-exit"
    wait = client.request("POST", f"/containers/{container_id}/wait", {"condition": condition})
    try:
        start_or_fail(client, container_id, "run")
    except StatusError:
        stream.close()
        wait.close()
        raise
    session = Session(client, container_id, stream, body["Tty"], body["AttachStdin"])
    if session.run(detach_keys, sig_proxy=ns.sig_proxy and not body["Tty"]):
        return 0
    return exit_status(wait)


def start_or_fail(client: Client, container_id: str, verb: str) -> None:
    try:
        client.request("POST", f"/containers/{container_id}/start").read()
    except DockyardError as err:
        raise status_error(err, verb) from None


def attach_stream(client: Client, container_id: str, stdin: bool, detach_keys: str) -> Hijacked:
    query = {
        "stream": True,
        "stdin": stdin,
        "stdout": True,
        "stderr": True,
        "detachKeys": detach_keys or None,
    }
    return client.hijack("POST", f"/containers/{container_id}/attach", query)


def exit_status(wait: Response) -> int:
    """The container's exit status from a wait response; 125 when the wait failed."""
    try:
        result = wait.json()
    except (OSError, ValueError) as err:
        raise StatusError(125, f"{PROGRAM}: error waiting for container: {err}") from None
    if (result.get("Error") or {}).get("Message"):
        raise StatusError(
            125, f"{PROGRAM}: error waiting for container: {result['Error']['Message']}"
        )
    return int(result.get("StatusCode", 125))


class Session:
    """The user's terminal joined to a hijacked attach or exec stream."""

    def __init__(
        self,
        client: Client,
        container_id: str,
        stream: Hijacked,
        tty: bool,
        stdin: bool,
        resize_path: str = "",
    ) -> None:
        self.client = client
        self.container_id = container_id
        self.stream = stream
        self.tty = tty
        self.stdin = stdin
        self.resize_path = resize_path or f"/containers/{container_id}/resize"

    def run(self, detach_keys: bytes, sig_proxy: bool) -> bool:
        """Copy until the output ends; True when the user typed the detach keys."""
        handlers: streams.SignalHandlers = {}
        if sig_proxy:
            handlers.update((signum, self.forward_signal) for signum in streams.proxied_signals())
        interactive = self.tty and self.stdin and os.isatty(0)
        if self.tty and os.isatty(1):
            import signal

            self.resize()
            handlers[signal.SIGWINCH] = lambda signum: self.resize()
        escape = streams.EscapeFilter(detach_keys) if interactive else None
        output = streams.OutputWriter(self.tty)
        try:
            if interactive:
                with streams.raw_terminal(0):
                    return streams.pump(self.stream, output, 0, escape, handlers)
            return streams.pump(self.stream, output, 0 if self.stdin else None, escape, handlers)
        finally:
            self.stream.close()

    def resize(self) -> None:
        size = streams.terminal_size(1)
        if size is None:
            return
        # APIError: the process may have exited already; docker ignores that too.
        with contextlib.suppress(APIError):
            self.client.request("POST", self.resize_path, {"h": size[0], "w": size[1]}).read()

    def forward_signal(self, signum: int) -> None:
        # APIError: the container already stopped.
        with contextlib.suppress(APIError):
            path = f"/containers/{self.container_id}/kill"
            self.client.request("POST", path, {"signal": str(signum)}).read()


# -- start ---------------------------------------------------------------------


def run_start(client: Client, ns: argparse.Namespace) -> int:
    if not (ns.attach or ns.interactive):
        return start_each(client, ns.args)
    if len(ns.args) > 1:
        raise StatusError(1, "you cannot start and attach multiple containers at once")
    info = client.request("GET", f"/containers/{ns.args[0]}/json").json()
    container_id, config = info["Id"], info["Config"]
    stdin = ns.interactive and bool(config.get("OpenStdin"))
    stream = attach_stream(client, container_id, stdin, ns.detach_keys)
    auto_remove = bool((info.get("HostConfig") or {}).get("AutoRemove"))
    condition = "removed" if auto_remove else "next-exit"
    wait = client.request("POST", f"/containers/{container_id}/wait", {"condition": condition})
    try:
        client.request("POST", f"/containers/{container_id}/start").read()
    except APIError:
        stream.close()
        raise
    detach_keys = streams.parse_detach_keys(ns.detach_keys or streams.DEFAULT_DETACH_KEYS)
    session = Session(client, container_id, stream, bool(config.get("Tty")), stdin)
    if session.run(detach_keys, sig_proxy=not config.get("Tty")):
        return 0
    return exit_status(wait)


def start_each(client: Client, containers: list[str]) -> int:
    failed = []
    for name in containers:
        try:
            client.request("POST", f"/containers/{name}/start").read()
        except APIError as err:
            print(f"Error response from daemon: {err.message}", file=sys.stderr)
            failed.append(name)
            continue
        print(name)
    if failed:
        raise StatusError(1, f"Error: failed to start containers: {', '.join(failed)}")
    return 0


# -- attach --------------------------------------------------------------------


def run_attach(client: Client, ns: argparse.Namespace) -> int:
    name = ns.args[0]
    wait = client.request("POST", f"/containers/{name}/wait")
    info = client.request("GET", f"/containers/{name}/json").json()
    state = info.get("State") or {}
    if not state.get("Running"):
        raise StatusError(1, "You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise StatusError(1, "You cannot attach to a paused container, unpause it first")
    config = info["Config"]
    stdin = bool(config.get("OpenStdin")) and not ns.no_stdin
    if config.get("Tty") and stdin and not os.isatty(0):
        raise StatusError(1, "the input device is not a TTY")
    stream = attach_stream(client, info["Id"], stdin, ns.detach_keys)
    detach_keys = streams.parse_detach_keys(ns.detach_keys or streams.DEFAULT_DETACH_KEYS)
    session = Session(client, info["Id"], stream, bool(config.get("Tty")), stdin)
    if session.run(detach_keys, sig_proxy=ns.sig_proxy and not config.get("Tty")):
        return 0
    return exit_status(wait)
