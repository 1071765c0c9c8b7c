"""The log drivers a container may use: ``json-file`` (the default), ``local`` and ``none``.

moby checks a container's LogConfig twice, and so do we: at create, the option
names (``check``: ValidateLogOpts, an unknown driver or option is refused); at
start, their values (``writer_settings``: each driver's New, whose errors fail
the start). ``json-file`` writes Docker's json-file log at the record's LogPath.
json-file's ``labels``, ``env`` (and their ``-regex``) and ``tag`` options add
``attrs`` to each line. ``local`` writes the same JSON lines (its format on disk is internal to Docker,
and to us) in ``local-logs/container.log``, rotated at 20 MB into 5 files,
gzip-compressed, unless its options say otherwise. ``none`` keeps nothing, and
``docker logs`` cannot read it. Other drivers (syslog, journald, gelf, ...) ship
logs to services this engine does not talk to: they are refused as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dockyard.errors import InvalidArgument
from dockyard.template import Template
from dockyard.units import from_human_size, ram_in_bytes

DRIVERS = ("json-file", "local", "none")
READABLE = ("json-file", "local")
# Options every driver takes (moby's builtInLogOpts and the log cache's), checked here.
_COMMON_OPTS = ("mode", "max-buffer-size", "cache-disabled", "cache-max-file",
                "cache-max-size", "cache-compress")  # fmt: skip
_DRIVER_OPTS = {
    "json-file": (
        "max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag",
    ),
    "local": ("max-file", "max-size", "compress"),
}  # fmt: skip
_LOCAL_MAX_SIZE = 20 * 1024 * 1024
_LOCAL_MAX_FILE = 5
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


@dataclass(frozen=True)
class WriterSettings:
    """How the shim keeps a container's output: ``path`` None keeps nothing."""

    path: Path | None
    max_size: int = 0  # 0: one file that grows
    max_file: int = 1
    compress: bool = False
    attrs: dict[str, str] = field(default_factory=dict)  # json-file's, on every line


def check(log_config: dict[str, Any]) -> None:
    """Create time (moby's ValidateLogOpts): the driver and the option names."""
    driver = log_config.get("Type") or "json-file"
    options: dict[str, str] = log_config.get("Config") or {}
    if driver == "none":
        return
    mode = options.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidArgument(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in options:
        if mode != "non-blocking":
            raise InvalidArgument(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'"
            )
        try:
            ram_in_bytes(options["max-buffer-size"])
        except InvalidArgument as e:
            raise InvalidArgument(f"error parsing option max-buffer-size: {e.message}") from None
    cache_disabled = options.get("cache-disabled", "")
    if cache_disabled and cache_disabled not in _GO_BOOLS:
        raise InvalidArgument(f"invalid value for option cache-disabled: {cache_disabled}")
    if driver not in DRIVERS:
        raise InvalidArgument(
            f'error looking up logging plugin {driver}: plugin "{driver}" not found'
        )
    for key in options:
        if key not in _COMMON_OPTS and key not in _DRIVER_OPTS[driver]:
            if driver == "json-file":
                raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
            raise InvalidArgument(f"unknown log opt '{key}' for log driver {driver}")


def local_log_path(container_root: Path) -> Path:
    return container_root / "local-logs" / "container.log"


def writer_settings(record: dict[str, Any], container_root: Path) -> WriterSettings:
    """Start time (each driver's New): the options' values of the container whose
    inspect document is ``record``, as moby reads them; an InvalidArgument names what
    is wrong."""
    log_config = record["HostConfig"]["LogConfig"]
    driver = log_config.get("Type") or "json-file"
    options: dict[str, str] = log_config.get("Config") or {}
    if driver == "none":
        return WriterSettings(None)
    if driver == "local":
        return _local(options, local_log_path(container_root))
    return _json_file(options, Path(record["LogPath"]), record)


def _json_file(options: dict[str, str], path: Path, record: dict[str, Any]) -> WriterSettings:
    max_size = 0
    if "max-size" in options:
        max_size = from_human_size(options["max-size"])
        if max_size <= 0:
            raise InvalidArgument("max-size must be a positive number")
    max_file = 1
    if "max-file" in options:
        max_file = _go_atoi(options["max-file"])
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    compress = False
    if "compress" in options:
        compress = _go_bool(options["compress"])
        if compress and (max_file == 1 or not max_size):
            raise InvalidArgument(
                "compress cannot be true when max-file is less than 2 or max-size is not set"
            )
    return WriterSettings(path, max_size, max_file, compress, _attributes(options, record))


def _attributes(options: dict[str, str], record: dict[str, Any]) -> dict[str, str]:
    """moby's Info.ExtraAttributes and, with ``tag``, ParseLogTag: what json-file adds
    to each line as ``attrs`` (shown by `docker logs --details`)."""
    config = record["Config"]
    labels: dict[str, str] = config.get("Labels") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    attrs: dict[str, str] = {}
    for option, values in (("labels", labels), ("env", env)):
        for key in filter(None, options.get(option, "").split(",")):
            if key in values:
                attrs[key] = values[key]
        if options.get(f"{option}-regex"):
            try:
                pattern = re.compile(options[f"{option}-regex"])
            except re.error as e:
                raise InvalidArgument(f"error parsing regexp: {e}") from None
            attrs.update({k: v for k, v in values.items() if pattern.search(k)})
    if options.get("tag"):
        try:
            attrs["tag"] = Template(options["tag"]).render(_tag_fields(record))
        except InvalidArgument as e:
            raise InvalidArgument(f"template: log-tag: {e.message}") from None
    return attrs


def _tag_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What a tag template may name (moby's logger.Info and its methods)."""
    cid, image = record["Id"], record["Image"]
    return {
        "ID": cid[:12],
        "FullID": cid,
        "Name": record["Name"].lstrip("/"),
        "ImageID": image[:12],
        "ImageFullID": image,
        "ImageName": record["Config"]["Image"],
        "Command": " ".join([record["Path"], *record["Args"]]),
        "DaemonName": "docker",
        "ContainerID": cid,
        "ContainerName": record["Name"],
        "ContainerImageID": image,
        "ContainerImageName": record["Config"]["Image"],
        "ContainerLabels": record["Config"].get("Labels") or {},
        "ContainerEnv": record["Config"].get("Env") or [],
    }


T = TypeVar("T")


def _local(options: dict[str, str], path: Path) -> WriterSettings:
    max_size = _option(
        options, "max-size", from_human_size, _LOCAL_MAX_SIZE, "invalid value for max-size: {value}"
    )
    max_file = _option(
        options, "max-file", _go_atoi, _LOCAL_MAX_FILE, "invalid value for max-file: {value}"
    )
    compress = _option(options, "compress", _go_bool, True, "error reading compress log option")
    if max_file < 0:
        raise InvalidArgument("max file count cannot be less than 0")
    if compress and max_file <= 1:
        raise InvalidArgument("compression cannot be enabled when max file count is 1")
    return WriterSettings(path, max_size, max(max_file, 1), compress)


def _option(
    options: dict[str, str], name: str, parse: Callable[[str], T], default: T, context: str
) -> T:
    """The option parsed, or ``default``; a bad value refused as ``context: <why>``, in
    the local driver's words (``{value}`` is the value given)."""
    if name not in options:
        return default
    try:
        return parse(options[name])
    except InvalidArgument as e:
        raise InvalidArgument(f"{context.format(value=options[name])}: {e.message}") from None


def _go_atoi(text: str) -> int:
    """strconv.Atoi."""
    if not _GO_INT.fullmatch(text):
        raise InvalidArgument(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise InvalidArgument(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def _go_bool(text: str) -> bool:
    """strconv.ParseBool."""
    try:
        return _GO_BOOLS[text]
    except KeyError:
        raise InvalidArgument(f'strconv.ParseBool: parsing "{text}": invalid syntax') from None
