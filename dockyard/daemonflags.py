"""dockyardd's flags for the keys of its configuration file, as dockerd's.

:data:`FLAGS` has one entry per flag: dockerd's name, the file's key it sets and
how one value given turns into the file's form of it. A value is checked by
:func:`daemonconfig.check_values`, as the file's are, so the flag and the file
refuse the same values with the same words. Flags for keys dockyard cannot
honour (:data:`daemonconfig.UNSUPPORTED`) are refused, not ignored.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dockyard import daemonconfig
from dockyard.errors import InvalidArgument

# How a flag given again accumulates (dockerd's pflag Value types).
ONE = "one"  # the last one given counts (a string)
LIST = "list"  # each value adds an item (ListOpts)
MAP = "map"  # each value adds a name → value entry (MapOpts, UlimitOpt)


class FlagError(Exception):
    """Flags the daemon cannot start with; the message says why, on one line."""


def _log_opt(value: str) -> tuple[str, str]:
    """``--log-opt name=value`` (moby's MapOpts: no ``=`` is an empty value)."""
    name, _, option = value.partition("=")
    return name, option


def _default_ulimit(value: str) -> tuple[str, dict[str, Any]]:
    """``--default-ulimit name=soft[:hard]`` as the file's ``{"Name", "Soft", "Hard"}``."""
    from dockyard.cli.runopts import parse_ulimit  # go-units' ParseUlimit, as --ulimit

    ulimit = parse_ulimit(value)
    return ulimit["Name"], ulimit


def _address_pool(value: str) -> dict[str, Any]:
    """``--default-address-pool base=CIDR,size=N`` as the file's ``{"base", "size"}``."""
    pool: dict[str, Any] = {}
    for field in value.split(","):
        key, separator, text = field.lower().partition("=")
        if not separator:
            raise InvalidArgument(f"invalid field '{field}' must be a key=value pair")
        if key == "base":
            pool["base"] = text
        elif key == "size":
            try:
                pool["size"] = int(text, 10)
            except ValueError:
                raise InvalidArgument(
                    f'invalid size value: "{value}" (must be integer): '
                    f'strconv.Atoi: parsing "{text}": invalid syntax'
                ) from None
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{field}'")
    return pool


@dataclass(frozen=True)
class Flag:
    """One of dockerd's flags that sets a key of the configuration file."""

    names: tuple[str, ...]  # ("-H", "--host"): the long name last
    key: str  # the file's key
    help: str
    kind: str = ONE
    value: Callable[[str], Any] = str  # one value given → the file's form (MAP: a pair)
    metavar: str = "string"  # pflag's type name, as dockerd --help shows it

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def dest(self) -> str:
        return "flag_" + self.key.replace("-", "_")


FLAGS: tuple[Flag, ...] = (
    Flag(("--bip",), "bip", "IPv4 address for the default bridge"),
    Flag(
        ("--default-address-pool",),
        "default-address-pools",
        "Default address pools for node specific local networks (base=CIDR,size=N)",
        LIST,
        _address_pool,
        "pool-options",
    ),
    Flag(("--default-runtime",), "default-runtime", "Default OCI runtime for containers"),
    Flag(
        ("--default-ulimit",),
        "default-ulimits",
        "Default ulimits for containers (name=soft[:hard])",
        MAP,
        _default_ulimit,
        "ulimit",
    ),
    Flag(("--dns",), "dns", "DNS server to use", LIST, metavar="list"),
    Flag(("--dns-opt",), "dns-opts", "DNS options to use", LIST, metavar="list"),
    Flag(("--dns-search",), "dns-search", "DNS search domains to use", LIST, metavar="list"),
    Flag(
        ("--insecure-registry",),
        "insecure-registries",
        "Enable insecure registry communication",
        LIST,
        metavar="list",
    ),
    Flag(("--label",), "labels", "Set key=value labels to the daemon", LIST, metavar="list"),
    Flag(("--log-driver",), "log-driver", "Default driver for container logs"),
    Flag(
        ("--log-opt",),
        "log-opts",
        "Default log driver options for containers",
        MAP,
        _log_opt,
        "map",
    ),
    Flag(
        ("--max-concurrent-downloads",),
        "max-concurrent-downloads",
        "Set the max concurrent downloads (default 3)",
        value=int,
        metavar="int",
    ),
    Flag(
        ("--max-concurrent-uploads",),
        "max-concurrent-uploads",
        "Set the max concurrent uploads (default 5)",
        value=int,
        metavar="int",
    ),
    Flag(
        ("--registry-mirror",),
        "registry-mirrors",
        "Preferred Docker registry mirror",
        LIST,
        metavar="list",
    ),
    Flag(
        ("--seccomp-profile",),
        "seccomp-profile",
        'Path to seccomp profile. Set to "unconfined" to disable the default seccomp profile',
    ),
    # dockerd's, for a feature dockyard does not have: refused at start.
    Flag(("--userns-remap",), "userns-remap", "Not supported by dockyard (refused)"),
)


def add_to(parser: argparse.ArgumentParser) -> None:
    """Add :data:`FLAGS` to dockyardd's parser."""
    for flag in FLAGS:
        parser.add_argument(
            *flag.names,
            dest=flag.dest,
            action="store" if flag.kind == ONE else "append",
            type=_checked(flag),
            metavar=flag.metavar,
            help=flag.help,
        )


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The file's form of each flag of :data:`FLAGS` (None: not given)."""
    refused = [
        flag.name
        for flag in FLAGS
        if flag.key in daemonconfig.UNSUPPORTED and getattr(args, flag.dest) is not None
    ]
    if refused:
        raise FlagError("the following flags are not supported by dockyard: " + ", ".join(refused))
    values: dict[str, Any] = {}
    for flag in FLAGS:
        value = getattr(args, flag.dest)
        values[flag.key] = dict(value) if flag.kind == MAP and value is not None else value
    return values


def _checked(flag: Flag) -> Callable[[str], Any]:
    """An argparse ``type=`` that reads one value and checks it as the file's would be.

    log-opts are checked once merged: which are valid depends on the log driver,
    which may come from the file.
    """

    def convert(text: str) -> Any:
        try:
            value = flag.value(text)
            if flag.key not in daemonconfig.UNSUPPORTED and flag.key != "log-opts":
                daemonconfig.check_values({flag.key: _as_directive(flag, value)})
        except InvalidArgument as e:
            raise argparse.ArgumentTypeError(e.message) from None
        except daemonconfig.ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value

    convert.__name__ = flag.key  # argparse names the type in its "invalid ..." message
    return convert


def _as_directive(flag: Flag, value: Any) -> Any:
    if flag.kind == LIST:
        return [value]
    if flag.kind == MAP:
        return dict([value])
    return value
