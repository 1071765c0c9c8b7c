"""Parser nodes → typed instructions (BuildKit's ``frontend/dockerfile/instructions``).

Each instruction keeps its arguments as written; variables are expanded when
the instruction runs, against the environment of that moment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.build.parser import DockerfileError, Heredoc, Node, heredoc_marker
from dockyard.build.runmount import check_mount_syntax

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}


@dataclass(frozen=True, kw_only=True)
class Instruction:
    line: int
    original: str

    @property
    def name(self) -> str:
        return self.original.split(None, 1)[0].upper() if self.original else ""


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    base: str
    stage_name: str = ""
    platform: str = ""


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    pairs: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...]
    literal: bool = False  # from --label: values are not expanded


@dataclass(frozen=True, kw_only=True)
class CommandLine(Instruction):
    """RUN, CMD and ENTRYPOINT: a shell form (one string) or an exec form (a list)."""

    cmdline: tuple[str, ...] | None
    shell_form: bool


@dataclass(frozen=True, kw_only=True)
class Run(CommandLine):
    heredocs: tuple[Heredoc, ...] = ()
    network: str = ""
    mounts: tuple[str, ...] = ()  # --mount specs as written; parsed when the step runs


@dataclass(frozen=True, kw_only=True)
class Cmd(CommandLine):
    pass


@dataclass(frozen=True, kw_only=True)
class Entrypoint(CommandLine):
    pass


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    ports: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    signal: str


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    shell: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    expression: str


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    maintainer: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    test: tuple[str, ...]
    interval: int = 0  # nanoseconds, as in the image config
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, kw_only=True)
class FileInstruction(Instruction):
    """COPY and ADD."""

    sources: tuple[str, ...]
    inline: tuple[Heredoc, ...]  # heredoc sources, in order
    dest: str
    chown: str = ""
    chmod: str = ""
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Copy(FileInstruction):
    from_: str = ""


@dataclass(frozen=True, kw_only=True)
class Add(FileInstruction):
    checksum: str = ""  # of a URL's content: "sha256:<hex>"
    unpack: bool | None = None  # None: unpack local archives, not downloaded ones
    keep_git_dir: bool = False


class _Flags:
    """BuildKit's BFlags: ``--name=value`` builder flags of one instruction."""

    def __init__(self, raw: tuple[str, ...], strings: set[str], bools: set[str], lists: set[str]):
        self.values: dict[str, str] = {}
        self.lists: dict[str, list[str]] = {name: [] for name in lists}
        for arg in raw:
            if arg == "--":
                break
            if not arg.startswith("--"):
                raise ValueError(f"arg should start with -- : {arg}")
            flag, has_value, value = arg.partition("=")
            name = flag[2:]
            if name in lists:
                if not has_value:
                    raise ValueError(f"missing a value on flag: {flag}")
                self.lists[name].append(value)
                continue
            if name not in strings and name not in bools:
                raise ValueError(f"unknown flag: {flag}")
            if name in self.values:
                raise ValueError(f"duplicate flag specified: {flag}")
            self.values[name] = self._value(flag, name in bools, has_value == "=", value)

    @staticmethod
    def _value(flag: str, is_bool: bool, has_value: bool, value: str) -> str:
        if not is_bool:
            if not has_value:
                raise ValueError(f"missing a value on flag: {flag}")
            return value
        if has_value and value == "":
            raise ValueError(f"missing a value on flag: {flag}")
        if value.lower() in ("", "true"):
            return "true"
        if value.lower() == "false":
            return "false"
        raise ValueError(f"expecting boolean value for flag {flag}, not: {value}")

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def flag(self, name: str) -> bool:
        return self.values.get(name) == "true"


def parse_instruction(node: Node, filename: str = "") -> Instruction:
    """Type one node; raises DockerfileError naming the line and the problem."""
    parse = _PARSERS.get(node.instruction)
    if parse is None:
        raise DockerfileError(f"unknown instruction: {node.instruction}", node.line, filename)
    try:
        return parse(node)
    except ValueError as e:
        raise DockerfileError(str(e), node.line, filename) from None


def _no_flags(node: Node) -> None:
    _Flags(node.flags, set(), set(), set())


def _exactly_one(node: Node) -> str:
    _no_flags(node)
    if len(node.args) != 1:
        raise ValueError(f"{node.instruction} requires exactly one argument")
    return node.args[0]


def _at_least_one(node: Node) -> tuple[str, ...]:
    _no_flags(node)
    if not node.args:
        raise ValueError(f"{node.instruction} requires at least one argument")
    return node.args


def _pairs(node: Node) -> tuple[tuple[str, str], ...]:
    args = _at_least_one(node)
    if len(args) % 2:
        raise ValueError(f"Bad input to {node.instruction}, too many arguments")
    pairs = tuple((args[i], args[i + 1]) for i in range(0, len(args), 2))
    if any(not key for key, _ in pairs):
        raise ValueError(f"{node.instruction} names can not be blank")
    return pairs


def _cmdline(node: Node, empty_as_none: bool = False) -> tuple[str, ...] | None:
    if node.json:
        args: tuple[str, ...] = node.args
    else:
        args = (" ".join(node.args),) if node.args else ()
    if empty_as_none and not args:
        return None
    return args


def _from(node: Node) -> From:
    flags = _Flags(node.flags, {"platform"}, set(), set())
    args = node.args
    stage = ""
    if len(args) == 3 and args[1].lower() == "as":
        stage = args[2].lower()
        if not _STAGE_NAME.match(stage):
            raise ValueError(
                f'invalid name for build stage: "{args[2]}", '
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise ValueError("FROM requires either one or three arguments")
    return From(
        line=node.line,
        original=node.original,
        base=args[0],
        stage_name=stage,
        platform=flags.get("platform"),
    )


def _arg(node: Node) -> Arg:
    pairs: list[tuple[str, str | None]] = []
    for arg in _at_least_one(node):
        key, eq, value = arg.partition("=")
        if eq and not key:
            raise ValueError("ARG names can not be blank")
        pairs.append((key, value if eq else None))
    return Arg(line=node.line, original=node.original, pairs=tuple(pairs))


def _run(node: Node) -> Run:
    flags = _Flags(node.flags, {"network", "security"}, set(), {"mount"})
    if flags.get("security"):
        raise ValueError("the --security option of RUN is not supported by dockyard")
    for mount in flags.lists["mount"]:
        check_mount_syntax(mount)
    network = flags.get("network")
    if network not in ("", "default", "none", "host"):
        raise ValueError(f"unsupported network mode {network!r} (use default, none or host)")
    return Run(
        line=node.line,
        original=node.original,
        cmdline=_cmdline(node),
        shell_form=not node.json,
        heredocs=node.heredocs,
        network=network,
        mounts=tuple(flags.lists["mount"]),
    )


def _cmd(node: Node) -> Cmd:
    _no_flags(node)
    return Cmd(
        line=node.line, original=node.original, cmdline=_cmdline(node), shell_form=not node.json
    )


def _entrypoint(node: Node) -> Entrypoint:
    _no_flags(node)
    return Entrypoint(
        line=node.line,
        original=node.original,
        cmdline=_cmdline(node, empty_as_none=True),
        shell_form=not node.json,
    )


def _shell(node: Node) -> Shell:
    _no_flags(node)
    if not node.args:
        raise ValueError("SHELL requires at least one argument")
    if not node.json:
        raise ValueError("SHELL requires the arguments to be in JSON form")
    return Shell(line=node.line, original=node.original, shell=node.args)


def _onbuild(node: Node) -> Onbuild:
    _no_flags(node)
    if not node.sub_instruction:
        raise ValueError("ONBUILD requires at least one argument")
    if node.sub_instruction == "ONBUILD":
        raise ValueError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if node.sub_instruction in ("MAINTAINER", "FROM"):
        raise ValueError(f"{node.sub_instruction} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    return Onbuild(line=node.line, original=node.original, expression=expression)


def _healthcheck(node: Node) -> Healthcheck:
    if not node.args:
        raise ValueError("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    if kind == "NONE":
        _no_flags(node)
        if len(node.args) != 1:
            raise ValueError("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(line=node.line, original=node.original, test=("NONE",))
    names = {"interval", "timeout", "start-period", "start-interval", "retries"}
    flags = _Flags(node.flags, names, set(), set())
    if kind != "CMD":
        raise ValueError(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    args = node.args[1:]
    if not args:
        raise ValueError("Missing command after HEALTHCHECK CMD")
    test = ("CMD", *args) if node.json else ("CMD-SHELL", " ".join(args))
    return Healthcheck(
        line=node.line,
        original=node.original,
        test=test,
        interval=_interval(flags, "interval"),
        timeout=_interval(flags, "timeout"),
        start_period=_interval(flags, "start-period"),
        start_interval=_interval(flags, "start-interval"),
        retries=_retries(flags.get("retries")),
    )


def _interval(flags: _Flags, name: str) -> int:
    text = flags.get(name)
    if not text:
        return 0
    nanoseconds = parse_go_duration(text)
    if 0 < nanoseconds < 1_000_000:
        raise ValueError(f'Interval "{name}" cannot be less than 1ms')
    return nanoseconds


def _retries(text: str) -> int:
    if not text:
        return 0
    try:
        retries = int(text)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
    if retries < 0:
        raise ValueError(f"--retries cannot be negative ({retries})")
    return retries


def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` ("1m30s", "500ms") in nanoseconds."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return 0
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * round(total)


def _file_args(node: Node) -> tuple[tuple[str, ...], tuple[Heredoc, ...], str]:
    if len(node.args) < 2:
        raise ValueError(
            f"{node.instruction} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    *sources, dest = node.args
    if heredoc_marker(dest):
        raise ValueError(f"{node.instruction} cannot accept a heredoc as a destination")
    docs = {doc.name: doc for doc in node.heredocs}
    paths = tuple(s for s in sources if not heredoc_marker(s))
    inline = tuple(docs[name] for s in sources if (name := heredoc_marker(s)) and name in docs)
    return paths, inline, dest


def _copy(node: Node) -> Copy:
    flags = _Flags(node.flags, {"chown", "from", "chmod"}, {"link", "parents"}, {"exclude"})
    sources, inline, dest = _file_args(node)
    return Copy(
        line=node.line,
        original=node.original,
        sources=sources,
        inline=inline,
        dest=dest,
        from_=flags.get("from"),
        chown=flags.get("chown"),
        chmod=flags.get("chmod"),
        link=flags.flag("link"),
        parents=flags.flag("parents"),
        excludes=tuple(flags.lists["exclude"]),
    )


def _add(node: Node) -> Add:
    flags = _Flags(
        node.flags,
        {"chown", "chmod", "checksum"},
        {"link", "unpack", "parents", "keep-git-dir"},
        {"exclude"},
    )
    sources, inline, dest = _file_args(node)
    return Add(
        line=node.line,
        original=node.original,
        sources=sources,
        inline=inline,
        dest=dest,
        chown=flags.get("chown"),
        chmod=flags.get("chmod"),
        link=flags.flag("link"),
        parents=flags.flag("parents"),
        excludes=tuple(flags.lists["exclude"]),
        keep_git_dir=flags.flag("keep-git-dir"),
        checksum=flags.get("checksum"),
        unpack=flags.flag("unpack") if "unpack" in flags.values else None,
    )


def _env(node: Node) -> Env:
    return Env(line=node.line, original=node.original, pairs=_pairs(node))


def _label(node: Node) -> Label:
    return Label(line=node.line, original=node.original, pairs=_pairs(node))


def _expose(node: Node) -> Expose:
    return Expose(line=node.line, original=node.original, ports=tuple(sorted(_at_least_one(node))))


def _workdir(node: Node) -> Workdir:
    return Workdir(line=node.line, original=node.original, path=_exactly_one(node))


def _user(node: Node) -> User:
    return User(line=node.line, original=node.original, user=_exactly_one(node))


def _volume(node: Node) -> Volume:
    paths = tuple(p.strip() for p in _at_least_one(node))
    if any(not p for p in paths):
        raise ValueError("VOLUME specified can not be an empty string")
    return Volume(line=node.line, original=node.original, paths=paths)


def _stopsignal(node: Node) -> StopSignal:
    return StopSignal(line=node.line, original=node.original, signal=_exactly_one(node))


def _maintainer(node: Node) -> Maintainer:
    return Maintainer(line=node.line, original=node.original, maintainer=_exactly_one(node))


_PARSERS = {
    "FROM": _from,
    "ARG": _arg,
    "ENV": _env,
    "LABEL": _label,
    "RUN": _run,
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "SHELL": _shell,
    "ONBUILD": _onbuild,
    "HEALTHCHECK": _healthcheck,
    "EXPOSE": _expose,
    "WORKDIR": _workdir,
    "USER": _user,
    "VOLUME": _volume,
    "STOPSIGNAL": _stopsignal,
    "MAINTAINER": _maintainer,
    "COPY": _copy,
    "ADD": _add,
}

INSTRUCTION_NAMES = frozenset(_PARSERS)
