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

    from dockyard.client import Client
    from dockyard.tlsconfig import TLSFiles

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
    "export": ("cp", "export", "Export a container's filesystem as a tar archive"),
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
                    "export",
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
    "context": (
        "Manage contexts",
        {
            "create": ("context", "context-create", "Create a context"),
            "inspect": (
                "context",
                "context-inspect",
                "Display detailed information on one or more contexts",
            ),
            "ls": ("context", "context-ls", "List contexts"),
            "list": ("context", "context-ls", "List contexts"),
            "rm": ("context", "context-rm", "Remove one or more contexts"),
            "remove": ("context", "context-rm", "Remove one or more contexts"),
            "show": ("context", "context-show", "Print the name of the current context"),
            "use": ("context", "context-use", "Set the current dockyard context"),
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
            "dial-stdio": (
                "dialstdio",
                "dial-stdio",
                "Proxy the stdio stream to the daemon connection. Should not be invoked manually.",
            ),
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

GLOBAL_FLAGS_WITH_VALUE = (
    "-H",
    "--host",
    "-c",
    "--context",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
)
GLOBAL_BOOL_FLAGS = ("--tls", "--tlsverify")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


class GlobalOptions:
    def __init__(self) -> None:
        self.host: str | None = None
        self.context = ""
        self.debug = False
        # TLS flags: None when not given.
        self.tls: bool | None = None
        self.tlsverify: bool | None = None
        self.tlscacert: str | None = None
        self.tlscert: str | None = None
        self.tlskey: str | None = None


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
            if options.host is not None:
                raise UsageError(
                    global_flag_error(
                        f'invalid argument "{value}" for "-H, --host" flag: specify only one -H'
                    ),
                    125,
                )
            options.host = value
        elif flag in ("-c", "--context"):
            options.context = value
        elif flag in GLOBAL_BOOL_FLAGS:
            setattr(options, flag[2:], _global_bool(flag, value if has_value else "true"))
        elif flag in ("--tlscacert", "--tlscert", "--tlskey"):
            setattr(options, flag[2:], value)
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


def _global_bool(flag: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(
        global_flag_error(
            f'invalid argument "{value}" for "{flag}" flag: strconv.ParseBool: '
            f'parsing "{value}": invalid syntax'
        ),
        125,
    )


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
    if getattr(namespace, "global_options", False):  # the context verbs: no daemon involved
        return namespace.handler(options, namespace) or 0
    client = client_for(options)
    try:
        status = namespace.handler(client, namespace)
    finally:
        client.close()
    return status or 0


def client_for(options: GlobalOptions) -> Client:
    """A client of the daemon the flags, the environment or the current context name."""
    from dockyard.client import Client
    from dockyard.client.contexts import DEFAULT_CONTEXT, ContextStore, resolve_name

    if options.host is not None and options.context:
        raise StatusError(1, "conflicting options: cannot specify both --host and --context")
    store = ContextStore()
    try:
        name = resolve_name(options.context, options.host, store)
        if name != DEFAULT_CONTEXT:
            endpoint = store.endpoint(name)
            return Client(endpoint.host, tls=endpoint.tls)
        tls = default_tls(options)
        return Client(options.host, tls=tls)
    except DockyardError as err:
        raise StatusError(
            1, f"Failed to initialize: unable to resolve docker endpoint: {err.message}"
        ) from None


def default_tls(options: GlobalOptions) -> TLSFiles | None:
    """The TLS of the default context, from the flags and DOCKYARD_TLS*; its files must exist."""
    from dockyard import tlsconfig

    tls = tlsconfig.resolve(
        options.tls,
        options.tlsverify,
        options.tlscacert,
        options.tlscert,
        options.tlskey,
        tls_env=tlsconfig.env_flag("DOCKYARD_TLS"),
        verify_when_tls=False,
    )
    if tls is not None:
        for path in (tls.ca, tls.cert, tls.key):
            if path:
                tlsconfig.read_file(path)
    return tls


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
    from dockyard.config import local_host

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
    from dockyard.tlsconfig import CA_FILE, CERT_FILE, KEY_FILE, default_cert_dir

    certs = default_cert_dir()
    lines += [
        "",
        "Global Options:",
        "  -c, --context string     Name of the context to use to connect to the daemon"
        ' (overrides DOCKYARD_HOST env var and default context set with "dockyard context use")',
        "  -D, --debug              Enable debug mode",
        f'  -H, --host string        Daemon socket to connect to (default "{local_host()}")',
        "      --tls                Use TLS; implied by --tlsverify",
        "      --tlscacert string   Trust certs signed only by this CA"
        f' (default "{os.path.join(certs, CA_FILE)}")',
        "      --tlscert string     Path to TLS certificate file"
        f' (default "{os.path.join(certs, CERT_FILE)}")',
        f'      --tlskey string      Path to TLS key file (default "{os.path.join(certs, KEY_FILE)}")',
        "      --tlsverify          Use TLS and verify the remote",
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
