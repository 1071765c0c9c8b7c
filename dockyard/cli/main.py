"""The ``dockyard`` command: global options, dispatch, and docker's error reporting.

Only the module that defines the command being run is imported and only its
parsers are built: start-up time is most of what ``dockyard run`` costs.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli.parser import PROGRAM, CommandParser, StatusError, UsageError, error_text
from dockyard.errors import DockyardError

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

# name → (module, name the module registers, one-line help); docker's wording.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "attach": (
        "run",
        "attach",
        "Attach local standard input, output, and error streams to a running container",
    ),
    "build": ("build", "build", "Build an image from a Dockerfile"),
    "commit": ("images", "commit", "Create a new image from a container's changes"),
    "builder": ("build", "builder", "Manage builds"),
    "cp": ("cp", "cp", "Copy files/folders between a container and the local filesystem"),
    "create": ("run", "create", "Create a new container"),
    "diff": (
        "containers",
        "diff",
        "Inspect changes to files or directories on a container's filesystem",
    ),
    "events": ("system", "events", "Get real time events from the server"),
    "exec": ("exec", "exec", "Execute a command in a running container"),
    "history": ("images", "history", "Show the history of an image"),
    "images": ("images", "images", "List images"),
    "import": (
        "images",
        "import",
        "Import the contents from a tarball to create a filesystem image",
    ),
    "info": ("system", "info", "Display system-wide information"),
    "inspect": ("inspect", "inspect", "Return low-level information on Docker objects"),
    "kill": ("containers", "kill", "Kill one or more running containers"),
    "load": ("images", "load", "Load an image from a tar archive or STDIN"),
    "login": ("login", "login", "Authenticate to a registry"),
    "logout": ("login", "logout", "Log out from a registry"),
    "logs": ("logs", "logs", "Fetch the logs of a container"),
    "pause": ("containers", "pause", "Pause all processes within one or more containers"),
    "port": ("containers", "port", "List port mappings or a specific mapping for the container"),
    "ps": ("containers", "ps", "List containers"),
    "pull": ("images", "pull", "Download an image from a registry"),
    "push": ("images", "push", "Upload an image to a registry"),
    "rename": ("containers", "rename", "Rename a container"),
    "restart": ("containers", "restart", "Restart one or more containers"),
    "rm": ("containers", "rm", "Remove one or more containers"),
    "rmi": ("images", "rmi", "Remove one or more images"),
    "run": ("run", "run", "Create and run a new container from an image"),
    "save": (
        "images",
        "save",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
    ),
    "start": ("run", "start", "Start one or more stopped containers"),
    "stats": (
        "containers",
        "stats",
        "Display a live stream of container(s) resource usage statistics",
    ),
    "stop": ("containers", "stop", "Stop one or more running containers"),
    "tag": ("images", "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "top": ("containers", "top", "Display the running processes of a container"),
    "unpause": ("containers", "unpause", "Unpause all processes within one or more containers"),
    "update": ("containers", "update", "Update configuration of one or more containers"),
    "version": ("system", "version", "Show the Docker version information"),
    "wait": (
        "containers",
        "wait",
        "Block until one or more containers stop, then print their exit codes",
    ),
}

# group → verb → top-level command it is (or the module's own name for group-only verbs).
GROUPS: dict[str, tuple[str, dict[str, tuple[str, str, str]]]] = {
    "container": (
        "Manage containers",
        {
            **{
                verb: COMMANDS[verb]
                for verb in (
                    "attach",
                    "commit",
                    "cp",
                    "create",
                    "diff",
                    "exec",
                    "kill",
                    "logs",
                    "pause",
                    "port",
                    "rename",
                    "restart",
                    "run",
                    "start",
                    "stats",
                    "stop",
                    "top",
                    "unpause",
                    "update",
                    "wait",
                )
            },
            "inspect": (
                "inspect",
                "container-inspect",
                "Display detailed information on one or more containers",
            ),
            "ls": COMMANDS["ps"],
            "list": COMMANDS["ps"],
            "ps": COMMANDS["ps"],
            "rm": COMMANDS["rm"],
            "remove": COMMANDS["rm"],
            "prune": ("containers", "container-prune", "Remove all stopped containers"),
        },
    ),
    "image": (
        "Manage images",
        {
            "build": COMMANDS["build"],
            "history": COMMANDS["history"],
            "import": COMMANDS["import"],
            "inspect": (
                "inspect",
                "image-inspect",
                "Display detailed information on one or more images",
            ),
            "ls": COMMANDS["images"],
            "list": COMMANDS["images"],
            "load": COMMANDS["load"],
            "prune": ("images", "image-prune", "Remove unused images"),
            "pull": COMMANDS["pull"],
            "push": COMMANDS["push"],
            "rm": COMMANDS["rmi"],
            "remove": COMMANDS["rmi"],
            "save": COMMANDS["save"],
            "tag": COMMANDS["tag"],
        },
    ),
    "system": (
        "Manage Docker",
        {
            "check": (
                "system",
                "system-check",
                "Check the engine's records against disk and kernel",
            ),
            "df": ("system", "system-df", "Show docker disk usage"),
            "events": COMMANDS["events"],
            "info": COMMANDS["info"],
            "prune": ("system", "system-prune", "Remove unused data"),
        },
    ),
    "network": (
        "Manage networks",
        {
            "connect": ("networks", "network-connect", "Connect a container to a network"),
            "create": ("networks", "network-create", "Create a network"),
            "disconnect": (
                "networks",
                "network-disconnect",
                "Disconnect a container from a network",
            ),
            "inspect": (
                "networks",
                "network-inspect",
                "Display detailed information on one or more networks",
            ),
            "ls": ("networks", "network-ls", "List networks"),
            "list": ("networks", "network-ls", "List networks"),
            "prune": ("networks", "network-prune", "Remove all unused networks"),
            "rm": ("networks", "network-rm", "Remove one or more networks"),
            "remove": ("networks", "network-rm", "Remove one or more networks"),
        },
    ),
    "volume": (
        "Manage volumes",
        {
            "create": ("volumes", "volume-create", "Create a volume"),
            "inspect": (
                "volumes",
                "volume-inspect",
                "Display detailed information on one or more volumes",
            ),
            "ls": ("volumes", "volume-ls", "List volumes"),
            "list": ("volumes", "volume-ls", "List volumes"),
            "prune": ("volumes", "volume-prune", "Remove unused local volumes"),
            "rm": ("volumes", "volume-rm", "Remove one or more volumes"),
            "remove": ("volumes", "volume-rm", "Remove one or more volumes"),
        },
    ),
}

GLOBAL_FLAGS_WITH_VALUE = ("-H", "--host", "-l", "--log-level")


class GlobalOptions:
    def __init__(self) -> None:
        self.host: str | None = None
        self.debug = False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        return run(args)
    except UsageError as err:
        print(err.text, file=sys.stderr)
        return err.status
    except StatusError as err:
        if err.text:
            print(err.text, file=sys.stderr)
        return err.status
    except DockyardError as err:
        print(error_text(err), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`dockyard ps | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run(args: list[str]) -> int:
    options, rest = parse_global(args)
    if not rest:
        print_help(sys.stdout if args else sys.stderr)
        return 0 if args else 1
    name, rest = rest[0], rest[1:]
    if name == "daemon":
        return run_daemon(rest)
    if name in GROUPS:
        return run_group(options, name, rest)
    if name not in COMMANDS:
        raise UsageError(
            f"{PROGRAM}: unknown command: {PROGRAM} {name}\n\n"
            f"Run '{PROGRAM} --help' for more information",
            1,
        )
    return run_command(options, COMMANDS[name], f"{PROGRAM} {name}", rest)


def parse_global(args: list[str]) -> tuple[GlobalOptions, list[str]]:
    options = GlobalOptions()
    index = 0
    while index < len(args) and args[index].startswith("-"):
        flag, has_value, value = args[index].partition("=")
        if flag in GLOBAL_FLAGS_WITH_VALUE and not has_value:
            if index + 1 >= len(args):
                raise UsageError(global_flag_error(f"flag needs an argument: {flag}"), 125)
            index += 1
            value = args[index]
        if flag in ("-H", "--host"):
            options.host = value
        elif flag in ("-D", "--debug"):
            options.debug = True
        elif flag in ("-v", "--version"):
            print_version()
            raise StatusError(0)
        elif flag in ("-h", "--help"):
            print_help(sys.stdout)
            raise StatusError(0)
        elif flag not in ("-l", "--log-level"):
            raise UsageError(global_flag_error(unknown_global_flag(flag)), 125)
        index += 1
    return options, args[index:]


def unknown_global_flag(flag: str) -> str:
    if flag.startswith("--"):
        return f"unknown flag: {flag}"
    return f"unknown shorthand flag: '{flag[1:2]}' in {flag}"


def global_flag_error(message: str) -> str:
    return f"{message}\n\nUsage:  {PROGRAM} [OPTIONS] COMMAND\n\nRun '{PROGRAM} --help' for more information"


def run_group(options: GlobalOptions, group: str, rest: list[str]) -> int:
    description, verbs = GROUPS[group]
    if not rest or rest[0] in ("-h", "--help"):
        print_group_help(group, description, verbs, sys.stdout)
        return 0
    verb = rest[0]
    if verb not in verbs:
        raise UsageError(
            f"{PROGRAM}: unknown command: {PROGRAM} {group} {verb}\n\n"
            f"Usage:  {PROGRAM} {group}\n\nRun '{PROGRAM} {group} --help' for more information",
            1,
        )
    return run_command(options, verbs[verb], f"{PROGRAM} {group} {verb}", rest[1:])


def run_command(
    options: GlobalOptions, entry: tuple[str, str, str], prog: str, args: list[str]
) -> int:
    parser = build_parser(entry)
    parser.prog = prog
    namespace = parser.parse_command(args)
    from dockyard.client import Client

    client = Client(options.host)
    try:
        status = namespace.handler(client, namespace)
    finally:
        client.close()
    return status or 0


def build_parser(entry: tuple[str, str, str]) -> CommandParser:
    """Import the command's module and build its parsers (and only those)."""
    import importlib

    module_name, name, _ = entry
    module: Any = importlib.import_module(f"dockyard.cli.{module_name}")
    top = CommandParser(prog=PROGRAM)
    subparsers = top.add_subparsers()
    module.register(subparsers)
    parser: CommandParser = subparsers.choices[name]
    return parser


def run_daemon(args: list[str]) -> int:
    from dockyard.daemon import main as daemon_main

    return daemon_main(args)


def print_version() -> None:
    from dockyard.config import ENGINE_VERSION

    print(f"Dockyard version {ENGINE_VERSION}")


def print_help(stream: Any) -> None:
    from dockyard.config import DEFAULT_HOST

    lines = [
        f"Usage:  {PROGRAM} [OPTIONS] COMMAND",
        "",
        "A self-sufficient runtime for containers",
        "",
        "Management Commands:",
    ]
    lines += [f"  {name:<11} {GROUPS[name][0]}" for name in GROUPS]
    lines += ["", "Commands:"]
    lines += [f"  {name:<11} {COMMANDS[name][2]}" for name in sorted(COMMANDS)]
    lines += [f"  {'daemon':<11} Run the dockyard daemon in the foreground"]
    lines += [
        "",
        "Global Options:",
        "  -D, --debug              Enable debug mode",
        f'  -H, --host string        Daemon socket to connect to (default "{DEFAULT_HOST}")',
        "  -v, --version            Print version information and quit",
        "",
        f"Run '{PROGRAM} COMMAND --help' for more information on a command.",
    ]
    print("\n".join(lines), file=stream)


def print_group_help(group: str, description: str, verbs: dict[str, Any], stream: Any) -> None:
    lines = [f"Usage:  {PROGRAM} {group} COMMAND", "", description, "", "Commands:"]
    lines += [f"  {verb:<11} {entry[2]}" for verb, entry in sorted(verbs.items())]
    lines += ["", f"Run '{PROGRAM} {group} COMMAND --help' for more information on a command."]
    print("\n".join(lines), file=stream)


if __name__ == "__main__":
    sys.exit(main())
