"""``RUN --mount=...``: one mount spec from its CSV text (BuildKit's ``commands_runmount.go``).

The fields are checked for form when the Dockerfile is read (CSV, no variable
in ``from``); the whole spec is parsed when the step runs, its values expanded
against the environment of that moment, with BuildKit's names, defaults and
error messages: ``type`` is bind unless given; bind, secret and ssh mounts are
read-only and cache and tmpfs ones writable unless ``ro``/``rw`` say otherwise.
"""

from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.units import parse_bool, ram_in_bytes

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_KEYS = (
    "type", "from", "source", "target", "readonly", "id", "sharing", "required", "size",
    "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env",
)  # fmt: skip
_VARIABLE = re.compile(r"\$.")
SECRETS_DIR = "/run/secrets"
SSH_AGENT_PREFIX = "/run/buildkit/ssh_agent."


@dataclass(frozen=True)
class MountSpec:
    type: str = "bind"
    from_: str = ""  # a stage (name or index) or an image
    source: str = ""
    target: str = ""
    readonly: bool = True
    required: bool = False
    size: int = 0  # tmpfs, bytes; 0: the kernel's default
    id: str = ""
    sharing: str = "shared"
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    env: str = ""  # secret: also (or only) in this environment variable

    def describe(self) -> str:
        """The spec as canonical text: what the step's cache key takes from it."""
        fields = [
            ("type", self.type),
            ("from", self.from_),
            ("source", self.source),
            ("target", self.target),
            ("ro", str(self.readonly).lower()),
            ("required", str(self.required).lower() if self.required else ""),
            ("size", str(self.size) if self.size else ""),
            ("id", self.id),
            ("sharing", self.sharing if self.type == "cache" else ""),
            ("mode", f"{self.mode:o}" if self.mode is not None else ""),
            ("uid", "" if self.uid is None else str(self.uid)),
            ("gid", "" if self.gid is None else str(self.gid)),
            ("env", self.env),
        ]
        return "--mount=" + ",".join(f"{k}={v}" for k, v in fields if v)

    @property
    def secret_id(self) -> str:
        return self.id or self.source or posixpath.basename(self.target)

    @property
    def ssh_id(self) -> str:
        return self.id or "default"


def check_mount_syntax(text: str) -> None:
    """What BuildKit refuses when it reads the Dockerfile; raises ValueError."""
    for field in _fields(text):
        key, _, value = field.partition("=")
        if key.lower() == "from" and _VARIABLE.search(value):
            raise ValueError(
                "'from' doesn't support variable expansion, define alias stage instead"
            )


def mount_from(text: str) -> str:
    """The ``from=`` of a mount spec as written ("" when none): a stage it depends on."""
    for field in _fields(text):
        key, _, value = field.partition("=")
        if key.lower() == "from":
            return value
    return ""


def parse_mount(text: str, expand: Callable[[str], str]) -> MountSpec:
    """The spec ``text`` with its values expanded; raises InvalidArgument as BuildKit words it."""
    try:
        return _parse(text, expand)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


def _fields(text: str) -> list[str]:
    try:
        rows = list(csv.reader([text], strict=True))
        if text.count('"') % 2:  # Python's reader takes an unterminated quote to the end
            raise csv.Error('extraneous or missing " in quoted-field')
    except csv.Error as e:
        raise ValueError(f"failed to parse csv mounts: {e}") from None
    return rows[0] if rows else []


def _parse(text: str, expand: Callable[[str], str]) -> MountSpec:
    values: dict[str, object] = {}
    kind = "bind"
    readonly: bool | None = None
    for field in _fields(text):
        key, has_value, value = field.partition("=")
        key = key.lower()
        if not has_value:
            if key in ("readonly", "ro", "readwrite", "rw"):
                readonly = key in ("readonly", "ro")
            elif key == "required" and kind in ("secret", "ssh"):
                values["required"] = True
            elif key == "required":
                raise ValueError(f"unexpected key '{key}' for mount type '{kind}'")
            else:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            continue
        value = expand(value)
        if key == "type":
            kind = value.lower()
            if kind not in MOUNT_TYPES:
                raise ValueError(f'unsupported mount type "{value}"')
        elif key in ("readonly", "ro", "readwrite", "rw"):
            flag = _bool(key, value)
            readonly = flag if key in ("readonly", "ro") else not flag
        else:
            name, parsed = _value(key, field, value, kind)
            values[name] = parsed
    return _validated(kind, readonly, values)


def _value(key: str, field: str, value: str, kind: str) -> tuple[str, object]:
    if key == "from":
        return "from_", value
    if key in ("source", "src"):
        return "source", value
    if key in ("target", "dst", "destination"):
        return "target", value
    if key == "id":
        return "id", value
    if key == "sharing":
        if value.lower() not in SHARING_MODES:
            raise ValueError(f'unsupported sharing value "{value}"')
        return "sharing", value.lower()
    if key in ("required", "size", "env"):
        allowed = {"required": ("secret", "ssh"), "size": ("tmpfs",), "env": ("secret",)}[key]
        if kind not in allowed:
            raise ValueError(f"unexpected key '{key}' for mount type '{kind}'")
        if key == "required":
            return "required", _bool(key, value)
        if key == "env":
            return "env", value
        try:
            return "size", ram_in_bytes(value)
        except InvalidArgument:
            raise ValueError(f"invalid value for {key}: {value}") from None
    if key in ("mode", "uid", "gid"):
        return key, _number(key, value, 8 if key == "mode" else 10)
    raise ValueError(f"unexpected key '{key}' in '{field}'")


def _validated(kind: str, readonly: bool | None, values: dict[str, object]) -> MountSpec:
    if kind not in ("secret", "ssh", "cache"):
        for name in ("mode", "uid", "gid"):
            if name in values:
                raise ValueError(f'{name} not allowed for "{kind}" type mounts')
    if readonly is None:
        readonly = kind not in ("cache", "tmpfs")
    if kind == "secret":
        if values.get("from_"):
            raise ValueError("secret mount should not have a from")
        if "sharing" in values:
            raise ValueError("secret mount should not define sharing")
        if not (values.get("source") or values.get("target") or values.get("id")):
            raise ValueError("invalid secret mount. one of source, target required")
        if values.get("source") and values.get("id"):
            raise ValueError("both source and id can't be set")
    if kind == "ssh" and any(name in values for name in ("mode", "uid", "gid")):
        # The agent's own socket is bound in: its owner and mode are the client's.
        raise ValueError("mode, uid and gid of ssh mounts are not supported by dockyard")
    if "sharing" in values and kind != "cache":
        raise ValueError(f"invalid cache sharing set for {kind} mount")
    spec = MountSpec(type=kind, readonly=readonly, **values)  # type: ignore[arg-type]
    if kind in ("bind", "cache", "tmpfs") and not spec.target:
        raise ValueError(f"invalid mount target for {kind} mount: a target is required")
    return spec


def _bool(key: str, value: str) -> bool:
    try:
        return parse_bool(value)
    except InvalidArgument:
        raise ValueError(f"invalid value for {key}: {value}") from None


def _number(key: str, value: str, base: int) -> int:
    digits = "01234567" if base == 8 else "0123456789"
    if not value or any(c not in digits for c in value) or int(value, base) >= 1 << 32:
        raise ValueError(f"invalid value {value} for {key}")
    return int(value, base)
