"""What each metadata instruction does to an image config.

The one home of these rules, shared by the build (ENV, CMD, ... in a
Dockerfile) and by ``--change`` on import and commit. ``config`` is the
"config" section of an OCI image config (Cmd, Entrypoint, Env, ExposedPorts,
Labels, OnBuild, User, Volumes, WorkingDir, StopSignal and Docker's
Healthcheck and Shell), edited in place. The rules follow moby's
``builder/dockerfile/dispatchers.go``.
"""

from __future__ import annotations

import json
import posixpath
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.build.instructions import (
    Cmd,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Onbuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from dockyard.build.shell import expand
from dockyard.errors import InvalidArgument

DEFAULT_SHELL = ("/bin/sh", "-c")
METADATA_INSTRUCTIONS: tuple[type[Instruction], ...] = (
    Cmd,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Label,
    Onbuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)
_PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass
class ConfigState:
    """An image config being edited, and what the edits need to know."""

    config: dict[str, Any]
    escape: str = "\\"
    build_args: Mapping[str, str] = field(default_factory=dict)  # ARGs in scope, with values
    cmd_set: bool = False  # a CMD ran in this build: ENTRYPOINT keeps it
    used: set[str] = field(default_factory=set)  # variables substitutions looked up

    def env(self) -> dict[str, str]:
        """Variables for expansion: build args, overridden by the config's Env."""
        values = dict(self.build_args)
        for entry in self.config.get("Env") or []:
            key, _, value = entry.partition("=")
            values[key] = value
        return values

    def expander(self) -> Callable[[str], str]:
        """Expands words against the environment as it is now (later edits unseen)."""
        env = self.env()

        def expand_one(word: str) -> str:
            result = expand(word, env, self.escape)
            self.used |= result.used
            return result.text

        return expand_one

    def expand_raw(self, text: str) -> str:
        """A heredoc body: variables expanded, quotes left alone."""
        result = expand(text, self.env(), "\\", quotes=False)
        self.used |= result.used
        return result.text

    def expand_words(self, word: str) -> list[str]:
        result = expand(word, self.env(), self.escape)
        self.used |= result.used
        return result.words

    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)


def apply_metadata(state: ConfigState, instruction: Instruction) -> str:
    """Apply one metadata instruction; returns its history comment ("ENV A=1")."""
    apply = _APPLIERS.get(type(instruction))
    if apply is None:
        raise InvalidArgument(f"{instruction.name} does not change the image config")
    return apply(state, instruction)


def _env(state: ConfigState, instruction: Env) -> str:
    expand = state.expander()  # every pair sees the environment from before the line
    entries = list(state.config.get("Env") or [])
    added = []
    for raw_key, raw_value in instruction.pairs:
        key, value = expand(raw_key), expand(raw_value)
        entry = f"{key}={value}"
        added.append(entry)
        index = next((i for i, e in enumerate(entries) if e.partition("=")[0] == key), None)
        if index is None:
            entries.append(entry)
        else:
            entries[index] = entry
    state.config["Env"] = entries
    return "ENV " + " ".join(added)


def _label(state: ConfigState, instruction: Label) -> str:
    expand = (lambda word: word) if instruction.literal else state.expander()
    labels = dict(state.config.get("Labels") or {})
    added = []
    for raw_key, raw_value in instruction.pairs:
        key, value = expand(raw_key), expand(raw_value)
        labels[key] = value
        added.append(f"{json.dumps(key)}={json.dumps(value)}")
    state.config["Labels"] = labels
    return "LABEL " + " ".join(added)


def resolve_cmdline(
    state: ConfigState, cmdline: tuple[str, ...] | None, shell_form: bool
) -> list[str] | None:
    """A shell-form command line runs under the config's SHELL."""
    if cmdline is None:
        return None
    if shell_form:
        return [*state.shell(), *cmdline]
    return list(cmdline)


def _cmd(state: ConfigState, instruction: Cmd) -> str:
    cmd = resolve_cmdline(state, instruction.cmdline, instruction.shell_form)
    state.config["Cmd"] = cmd
    if instruction.cmdline:
        state.cmd_set = True
    return f"CMD {go_quote_list(cmd or [])}"


def _entrypoint(state: ConfigState, instruction: Entrypoint) -> str:
    entrypoint = resolve_cmdline(state, instruction.cmdline, instruction.shell_form)
    state.config["Entrypoint"] = entrypoint
    if not state.cmd_set:
        # An inherited CMD was written for the old entrypoint: drop it.
        state.config["Cmd"] = None
    return f"ENTRYPOINT {go_quote_list(entrypoint or [])}"


def _expose(state: ConfigState, instruction: Expose) -> str:
    ports = [p for raw in instruction.ports for p in state.expand_words(raw)]
    exposed = dict(state.config.get("ExposedPorts") or {})
    for spec in ports:
        for port in parse_port_spec(spec):
            exposed[port] = {}
    state.config["ExposedPorts"] = exposed
    return "EXPOSE " + " ".join(ports)


def parse_port_spec(spec: str) -> list[str]:
    """``[ip:][host:]port[-end][/proto]`` → the exposed "port/proto" keys."""
    container = spec.rsplit(":", 1)[-1]
    port, _, proto = container.partition("/")
    if not port:
        raise InvalidArgument(f"no port specified: {spec}<empty>")
    proto = (proto or "tcp").lower()
    if proto not in _PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    start, end = _port_range(port)
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def _port_range(text: str) -> tuple[int, int]:
    low, sep, high = text.partition("-")
    try:
        start, end = int(low), int(high) if sep else int(low)
    except ValueError:
        raise InvalidArgument(f"invalid containerPort: {text}") from None
    if not (0 <= start <= end <= 65535):
        raise InvalidArgument(f"invalid containerPort: {text}")
    return start, end


def _user(state: ConfigState, instruction: User) -> str:
    state.config["User"] = state.expander()(instruction.user)
    return f"USER {state.config['User']}"


def _volume(state: ConfigState, instruction: Volume) -> str:
    expand = state.expander()
    paths = [expand(p) for p in instruction.paths]
    if any(not p for p in paths):
        raise InvalidArgument("VOLUME specified can not be an empty string")
    volumes = dict(state.config.get("Volumes") or {})
    volumes.update({p: {} for p in paths})
    state.config["Volumes"] = volumes
    return f"VOLUME [{' '.join(paths)}]"


def _workdir(state: ConfigState, instruction: Workdir) -> str:
    requested = state.expander()(instruction.path)
    if not requested:
        raise InvalidArgument("cannot normalize nothing")
    current = state.config.get("WorkingDir") or "/"
    state.config["WorkingDir"] = posixpath.normpath(posixpath.join("/", current, requested))
    return f"WORKDIR {state.config['WorkingDir']}"


def _stopsignal(state: ConfigState, instruction: StopSignal) -> str:
    value = state.expander()(instruction.signal)
    parse_signal(value)
    state.config["StopSignal"] = value
    return f"STOPSIGNAL {value}"


def parse_signal(text: str) -> int:
    """A signal number or name, with or without SIG (moby's signal.ParseSignal)."""
    if text.isdigit():
        if int(text) == 0:
            raise InvalidArgument(f"Invalid signal: {text}")
        return int(text)
    name = text.upper().removeprefix("SIG")
    for base, sign in (("RTMIN", 1), ("RTMAX", -1)):
        if name == base:
            return int(getattr(signal, "SIG" + base))
        offset = name.removeprefix(base + ("+" if sign > 0 else "-"))
        if offset != name and offset.isdigit() and 1 <= int(offset) <= 15:
            return int(getattr(signal, "SIG" + base)) + sign * int(offset)
    member = signal.Signals.__members__.get("SIG" + name)
    if member is None:
        raise InvalidArgument(f"Invalid signal: {text}")
    return int(member)


def _healthcheck(state: ConfigState, instruction: Healthcheck) -> str:
    health: dict[str, Any] = {"Test": list(instruction.test)}
    for key, value in (
        ("Interval", instruction.interval),
        ("Timeout", instruction.timeout),
        ("StartPeriod", instruction.start_period),
        ("StartInterval", instruction.start_interval),
        ("Retries", instruction.retries),
    ):
        if value:
            health[key] = value
    state.config["Healthcheck"] = health
    return f"HEALTHCHECK {go_quote_list(health['Test'])}"


def _onbuild(state: ConfigState, instruction: Onbuild) -> str:
    state.config["OnBuild"] = [*(state.config.get("OnBuild") or []), instruction.expression]
    return f"ONBUILD {instruction.expression}"


def _shell(state: ConfigState, instruction: Shell) -> str:
    state.config["Shell"] = list(instruction.shell)
    return f"SHELL [{' '.join(instruction.shell)}]"


def go_quote_list(items: list[str]) -> str:
    """Go's ``%q`` of a []string, as Docker writes CMD and ENTRYPOINT in history."""
    return "[" + " ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


_APPLIERS: dict[type[Instruction], Callable[[ConfigState, Any], str]] = {
    Cmd: _cmd,
    Entrypoint: _entrypoint,
    Env: _env,
    Expose: _expose,
    Healthcheck: _healthcheck,
    Label: _label,
    Onbuild: _onbuild,
    Shell: _shell,
    StopSignal: _stopsignal,
    User: _user,
    Volume: _volume,
    Workdir: _workdir,
}
