"""argparse, made to behave like docker's cobra/pflag command line.

Docker's wording and exit codes for bad usage:
- a bad flag or flag value: ``unknown flag: --foo`` / ``invalid argument "12q" for
  "-m, --memory" flag: ...`` + usage + ``Run 'docker run --help' ...``, exit 125;
- a wrong number of arguments: ``docker: 'docker rm' requires at least 1 argument``
  + usage + ``See 'docker rm --help' ...``, exit 1;
- an option that does not convert (``-p 12x``): ``docker: invalid containerPort: 12x``
  + ``Run 'docker run --help' ...``, exit 125.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from dockyard.errors import DockyardError, InvalidArgument

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, NoReturn

PROGRAM = "dockyard"


class UsageError(Exception):
    """Bad command-line usage, printed the way docker prints it."""

    def __init__(self, text: str, status: int) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


class FlagValueError(argparse.ArgumentTypeError):
    """A flag value that does not parse; keeps the value for docker's message."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


def flag_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type=`` from a parser that raises InvalidArgument."""

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except InvalidArgument as err:
            raise FlagValueError(value, err.message) from None

    convert.__name__ = parse.__name__
    return convert


TRUE_WORDS = ("1", "t", "T", "TRUE", "true", "True")
FALSE_WORDS = ("0", "f", "F", "FALSE", "false", "False")


def parse_int(value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise InvalidArgument(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


integer = flag_type(parse_int)


class CommandParser(argparse.ArgumentParser):
    """One command's parser. ``min_args``/``max_args`` are cobra's Args rules."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("add_help", False)
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)
        self.min_args = 0
        self.max_args: int | None = None
        self.intermixed = True
        self.declare: Callable[[CommandParser], None] | None = None

    def declare_flags(self) -> None:
        if self.declare is not None:
            declare, self.declare = self.declare, None
            declare(self)

    def format_help(self) -> str:
        self.declare_flags()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.flag_error_text(message), 125)

    def usage_line(self) -> str:
        return (self.usage or "%(prog)s [OPTIONS]") % {"prog": self.prog}

    def flag_error_text(self, message: str) -> str:
        return (
            f"{message}\n\nUsage:  {self.usage_line()}\n\n"
            f"Run '{self.prog} --help' for more information"
        )

    def arity_error(self, message: str, hint: str = "Run") -> UsageError:
        return UsageError(
            f"{PROGRAM}: '{self.prog}' {message}\n\nUsage:  {self.usage_line()}\n\n"
            f"{hint} '{self.prog} --help' for more information",
            1,
        )

    def option_error(self, message: str) -> UsageError:
        """A value that parsed as a flag but does not convert (docker's withHelp)."""
        return UsageError(
            f"{PROGRAM}: {message}\n\nRun '{self.prog} --help' for more information", 125
        )

    def parse_command(self, args: list[str]) -> argparse.Namespace:
        self.declare_flags()
        args, explicit = self.take_bool_values(args)
        namespace = self.parse_flags(args)
        for dest, value in explicit.items():
            setattr(namespace, dest, value)
        return namespace

    def take_bool_values(self, args: list[str]) -> tuple[list[str], dict[str, bool]]:
        """pflag's ``--rm=false``/``--sig-proxy=false``: argparse flags take no value."""
        out: list[str] = []
        explicit: dict[str, bool] = {}
        awaiting_value = False
        for position, arg in enumerate(args):
            if awaiting_value or arg == "-" or not arg.startswith("-") or arg == "--":
                if not awaiting_value and not self.intermixed:
                    return out + args[position:], explicit  # the command's own arguments
                out.append(arg)
                awaiting_value = False
                continue
            name, has_value, value = arg.partition("=")
            action = self._option_string_actions.get(name)
            if action is None or not has_value or action.nargs != 0:
                out.append(arg)
                awaiting_value = action is not None and action.nargs != 0 and not has_value
                continue
            explicit[action.dest] = self.bool_value(action, value) == (action.const is not False)
        return out, explicit

    def bool_value(self, action: argparse.Action, value: str) -> bool:
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        flag = flag_names("/".join(action.option_strings))
        raise UsageError(
            self.flag_error_text(
                f'invalid argument "{value}" for "{flag}" flag: '
                f'strconv.ParseBool: parsing "{value}": invalid syntax'
            ),
            125,
        )

    def parse_flags(self, args: list[str]) -> argparse.Namespace:
        try:
            if self.intermixed:
                namespace, extras = self.parse_known_intermixed_args(args)
            else:
                namespace, extras = self.parse_known_args(args)
        except argparse.ArgumentError as err:
            message = describe_argument_error(err, args)
            raise UsageError(self.flag_error_text(message), 125) from None
        unknown = [arg for arg in extras if arg.startswith("-") and arg != "-"]
        if unknown:
            raise UsageError(self.flag_error_text(unknown_flag(unknown[0])), 125)
        positionals = getattr(namespace, "args", None)
        if positionals is not None:
            if positionals[:1] == ["--"]:
                positionals = positionals[1:]
            namespace.args = positionals + extras
            self.check_arity(len(namespace.args))
        return namespace

    def check_arity(self, count: int) -> None:
        """cobra's NoArgs, ExactArgs, RequiresMinArgs, RequiresMaxArgs, RequiresRangeArgs."""
        low, high = self.min_args, self.max_args
        if low <= count and (high is None or count <= high):
            return
        if high == 0:
            raise self.arity_error("accepts no arguments")
        if low == high:
            raise self.arity_error(f"requires {low} {plural('argument', low)}")
        if high is None:
            raise self.arity_error(f"requires at least {low} {plural('argument', low)}", "See")
        if low == 0:
            raise self.arity_error(f"requires at most {high} {plural('argument', high)}")
        raise self.arity_error(f"requires at least {low} and at most {high} arguments")


def plural(word: str, number: int) -> str:
    return word if number == 1 else word + "s"


def describe_argument_error(err: argparse.ArgumentError, args: list[str]) -> str:
    flag = flag_names(err.argument_name or "")
    cause = err.__context__
    if isinstance(cause, FlagValueError):
        return f'invalid argument "{cause.value}" for "{flag}" flag: {cause.reason}'
    if err.message.startswith("expected"):
        names = (err.argument_name or "").split("/")
        typed = next((arg for arg in reversed(args) if arg in names), names[0])
        if typed.startswith("--"):
            return f"flag needs an argument: {typed}"
        return f"flag needs an argument: '{typed[1:]}' in {typed}"
    if err.message.startswith("invalid choice"):
        return f'invalid argument for "{flag}" flag: {err.message}'
    return err.message


def flag_names(argument_name: str) -> str:
    """argparse's ``-m/--memory`` as docker writes it: ``-m, --memory``."""
    return ", ".join(argument_name.split("/"))


def unknown_flag(arg: str) -> str:
    if arg.startswith("--"):
        return f"unknown flag: {arg.split('=', 1)[0]}"
    return f"unknown shorthand flag: '{arg[1]}' in {arg}"


class HelpAction(argparse.Action):
    """``--help``: the command's help on stdout, exit 0."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, help="Print usage")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        parser.print_help(sys.stdout)
        raise SystemExit(0)


def command(
    subparsers: Any,
    name: str,
    handler: Callable[..., int | None],
    *,
    usage: str,
    description: str,
    min_args: int = 0,
    max_args: int | None = None,
    intermixed: bool = True,
    short_help: bool = True,
    declare: Callable[[CommandParser], None] | None = None,
) -> CommandParser:
    """Add one command; ``usage`` is docker's, with ``%(prog)s`` for the command's name.

    ``declare`` adds the command's flags when it is parsed or its help shown:
    commands with many flags (create, run) cost nothing unless they run.
    """
    parser: CommandParser = subparsers.add_parser(
        name, usage=usage, description=description, help=description
    )
    parser.set_defaults(handler=handler)
    parser.min_args, parser.max_args, parser.intermixed = min_args, max_args, intermixed
    parser.add_argument(*(("-h", "--help") if short_help else ("--help",)), action=HelpAction)
    parser.declare = declare
    return parser


def add_positionals(parser: CommandParser) -> None:
    """All arguments land in ``args``; ``check_arity`` enforces the count."""
    nargs = "*" if parser.intermixed else argparse.REMAINDER
    parser.add_argument("args", nargs=nargs, help=argparse.SUPPRESS)


class StatusError(Exception):
    """End the command with this exit status, after printing ``text`` (if any) to stderr."""

    def __init__(self, status: int, text: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def error_text(err: DockyardError) -> str:
    """How docker words an error: the daemon's refusals get their prefix."""
    from dockyard.client.errors import APIError

    if isinstance(err, APIError):
        return f"Error response from daemon: {err.message}"
    return err.message
