"""dockyardd's configuration file, as dockerd's ``/etc/docker/daemon.json``.

The file is one JSON object whose keys are dockerd's, where dockyard has the
feature. A key given both as a flag and in the file, a key dockerd does not
know (or dockyard cannot honour) and a value of the wrong type stop the start
with dockerd's messages. ``SIGHUP`` reads the file again and applies what
dockerd reloads (:data:`RELOADABLE`); the rest waits for the next start.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dockyard.errors import InvalidArgument
from dockyard.network import ipam

DEFAULT_CONFIG_FILE = "/etc/dockyard/daemon.json"

# Each key the file may hold, with the JSON type dockerd's Config struct gives it
# (Go's name for it, as json.Unmarshal says it in its errors).
_STRING, _BOOL, _INT, _LIST, _MAP = "string", "bool", "int", "[]string", "map[string]string"
_ULIMITS = "map[string]*units.Ulimit"
_POOLS = "[]*ipamutils.NetworkToSplit"
KEYS: dict[str, str] = {
    "data-root": _STRING,
    "exec-root": _STRING,
    "hosts": _LIST,
    "debug": _BOOL,
    "labels": _LIST,
    "registry-mirrors": _LIST,
    "insecure-registries": _LIST,
    "log-driver": _STRING,
    "log-opts": _MAP,
    "tls": _BOOL,
    "tlsverify": _BOOL,
    "tlscacert": _STRING,
    "tlscert": _STRING,
    "tlskey": _STRING,
    "dns": _LIST,
    "dns-search": _LIST,
    "dns-opts": _LIST,
    "default-ulimits": _ULIMITS,
    "default-runtime": _STRING,
    "seccomp-profile": _STRING,
    "bip": _STRING,
    "default-address-pools": _POOLS,
    "storage-driver": _STRING,
    "max-concurrent-downloads": _INT,
    "max-concurrent-uploads": _INT,
}
# What SIGHUP applies, of the keys above (dockerd's Daemon.Reload).
RELOADABLE = (
    "debug",
    "labels",
    "registry-mirrors",
    "insecure-registries",
    "default-runtime",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
)
# dockerd's keys for features dockyard does not have: refused rather than ignored.
UNSUPPORTED = ("userns-remap",)
_GO_TYPES = {str: "string", bool: "bool", list: "array", dict: "object"}  # else "number"


class ConfigError(Exception):
    """The file cannot configure the daemon; the message says why, on one line."""


@dataclass(frozen=True)
class RegistrySettings:
    """Where images come from: Docker Hub's mirrors and the registries spoken to without TLS checks."""

    mirrors: tuple[str, ...] = ()  # each "scheme://host[:port][/path]/"
    insecure: tuple[str, ...] = ()  # "host[:port]" or a CIDR


@dataclass(frozen=True)
class TransferSettings:
    """How many layers of one pull (push) move at a time: dockerd's defaults."""

    downloads: int = 3
    uploads: int = 5


@dataclass(frozen=True)
class DnsSettings:
    """The resolv.conf overrides of containers that give none of their own (dockerd's --dns...)."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddressSettings:
    """Where bridge networks given no subnet get theirs."""

    bip: str = ""  # the default bridge's "gateway/prefix" ("": a free subnet of the pools)
    pools: tuple[tuple[str, int], ...] = ipam.DEFAULT_POOLS  # (base, size)


@dataclass(frozen=True)
class EngineSettings:
    """What of the configuration the engine itself reads (the rest is the daemon's)."""

    registries: RegistrySettings = field(default_factory=RegistrySettings)
    transfers: TransferSettings = field(default_factory=TransferSettings)
    labels: tuple[str, ...] = ()
    debug: bool = False
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    dns: DnsSettings = field(default_factory=DnsSettings)
    ulimits: dict[str, tuple[int, int]] = field(default_factory=dict)  # "nofile": (soft, hard)
    default_runtime: str = "runc"
    seccomp_profile: str = "builtin"  # "builtin", "unconfined" or a profile file's path
    seccomp: str = "builtin"  # what a container without its own gets: or the file's JSON text
    addresses: AddressSettings = field(default_factory=AddressSettings)
    # The driver that mounts overlays: as given, until the daemon's start chose the one used.
    storage_driver: str = "overlay2"


def read_file(path: str, required: bool) -> dict[str, Any]:
    """The file's directives, checked; ``{}`` for a default path that does not exist."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        if not required:
            return {}
        raise ConfigError(f"open {path}: no such file or directory") from None
    except OSError as e:
        raise ConfigError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    try:
        directives = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if not isinstance(directives, dict):
        kind = _GO_TYPES.get(type(directives), "value")
        raise ConfigError(f"json: cannot unmarshal {kind} into Go value of type map[string]any")
    # JSON null leaves a setting unset, as Go's decoder does.
    directives = {key: value for key, value in directives.items() if value is not None}
    _check_keys(directives)
    for key, value in directives.items():
        _check_type(key, value)
    check_values(directives)
    return directives


def merge(directives: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The file's directives and the flags given (those not None), as dockerd merges them.

    A directive given both ways is an error, whatever the values: dockerd does not
    guess which one was meant.
    """
    given = {key: value for key, value in flags.items() if value not in (None, [])}
    # In the order of the flags' names, as pflag visits them.
    both = sorted(key for key in given if key in directives)
    if both:
        conflicts = ", ".join(
            f"{key}: (from flag: {_go_flag(key, given[key])}, from file: {_go(directives[key])})"
            for key in both
        )
        raise ConfigError(
            "the following directives are specified both as a flag and in the "
            f"configuration file: {conflicts}"
        )
    return {**directives, **given}


def engine_settings(options: dict[str, Any]) -> EngineSettings:
    """The engine's part of merged options (keys as in the file)."""
    return EngineSettings(
        registries=RegistrySettings(
            mirrors=tuple(_mirror(m) for m in options.get("registry-mirrors") or []),
            insecure=tuple(_insecure(r) for r in options.get("insecure-registries") or []),
        ),
        transfers=TransferSettings(
            downloads=_concurrency(options, "downloads", TransferSettings.downloads),
            uploads=_concurrency(options, "uploads", TransferSettings.uploads),
        ),
        labels=tuple(options.get("labels") or []),
        debug=bool(options.get("debug")),
        log_driver=options.get("log-driver") or "json-file",
        log_opts=dict(options.get("log-opts") or {}),
        dns=DnsSettings(
            nameservers=tuple(_ip_address(a) for a in options.get("dns") or []),
            search=tuple(_dns_search(domain) for domain in options.get("dns-search") or []),
            options=tuple(options.get("dns-opts") or []),
        ),
        ulimits=_default_ulimits(options.get("default-ulimits") or {}),
        default_runtime=options.get("default-runtime") or "runc",
        seccomp_profile=options.get("seccomp-profile") or "builtin",
        seccomp=_seccomp(options.get("seccomp-profile") or "builtin"),
        addresses=AddressSettings(
            bip=_bip(options.get("bip") or ""),
            pools=_pools(options.get("default-address-pools")),
        ),
        storage_driver=options.get("storage-driver") or "overlay2",
    )


def _check_keys(directives: dict[str, Any]) -> None:
    unknown = [key for key in directives if key not in KEYS and key not in UNSUPPORTED]
    if unknown:
        raise ConfigError(
            "the following directives don't match any configuration option: " + ", ".join(unknown)
        )
    unsupported = [key for key in directives if key in UNSUPPORTED]
    if unsupported:
        raise ConfigError(
            "the following directives are not supported by dockyard: " + ", ".join(unsupported)
        )


def _check_type(key: str, value: Any) -> None:
    """Go's json.Unmarshal into dockerd's Config: the JSON type of each value and item."""
    want = KEYS[key]
    if want == _ULIMITS:
        _check_ulimits_type(key, value)
        return
    if want == _POOLS:
        _check_pools_type(key, value)
        return
    if want == _INT:
        if not _is_int(value):
            raise _unmarshal(value, key, want)
        return
    python_type: type = {_STRING: str, _BOOL: bool, _LIST: list, _MAP: dict}[want]
    if not isinstance(value, python_type):
        raise _unmarshal(value, key, want)
    items: list[Any] = list(value.values()) if isinstance(value, dict) else []
    if isinstance(value, list):
        items = value
    for item in items:
        if not isinstance(item, str):
            raise _unmarshal(item, key, _STRING)


def _check_ulimits_type(key: str, value: Any) -> None:
    """An object of go-units' Ulimits: ``{"nofile": {"Name": "nofile", "Soft": 1, "Hard": 2}}``."""
    if not isinstance(value, dict):
        raise _unmarshal(value, key, _ULIMITS)
    for ulimit in value.values():
        if not isinstance(ulimit, dict):
            raise _unmarshal(ulimit, key, "units.Ulimit")
        for name, item in ulimit.items():
            wrong = not isinstance(item, str) if name == "Name" else not _is_int(item)
            if wrong:
                kind = "string" if name == "Name" else "int64"
                raise _unmarshal(item, f"{key}.{name}", kind, struct="Ulimit")


def _check_pools_type(key: str, value: Any) -> None:
    """A list of moby's NetworkToSplit: ``[{"base": "10.201.0.0/16", "size": 24}]``."""
    if not isinstance(value, list):
        raise _unmarshal(value, key, _POOLS)
    for pool in value:
        if not isinstance(pool, dict):
            raise _unmarshal(pool, key, "ipamutils.NetworkToSplit")
        if not isinstance(pool.get("base", ""), str):
            raise _unmarshal(pool["base"], f"{key}.base", "string", struct="NetworkToSplit")
        if not _is_int(pool.get("size", 0)):
            raise _unmarshal(pool["size"], f"{key}.size", "int", struct="NetworkToSplit")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unmarshal(value: Any, key: str, want: str, struct: str = "Config") -> ConfigError:
    kind = _GO_TYPES.get(type(value), "number")
    return ConfigError(
        f"json: cannot unmarshal {kind} into Go struct field {struct}.{key} of type {want}"
    )


def check_values(directives: dict[str, Any]) -> None:
    """Values dockerd refuses at start, from the file or a flag: one home for their checks."""
    try:
        engine_settings(directives)
    except InvalidArgument as e:
        raise ConfigError(e.message) from None
    runtime = directives.get("default-runtime")
    if runtime:
        from dockyard.engine.runtimes import known_runtimes

        if runtime not in known_runtimes():
            raise ConfigError(f"specified default runtime '{runtime}' does not exist")
    _check_labels(directives.get("labels") or [])
    if "log-driver" in directives or "log-opts" in directives:
        from dockyard.engine import logdrivers

        config = {"Type": directives.get("log-driver"), "Config": directives.get("log-opts")}
        try:
            logdrivers.check(config)
        except InvalidArgument as e:
            raise ConfigError(e.message) from None


def _concurrency(options: dict[str, Any], what: str, default: int) -> int:
    """max-concurrent-downloads (uploads): 0 or unset is dockerd's default, as its reload
    reads it; a negative number is refused with dockerd's message."""
    value = int(options.get(f"max-concurrent-{what}") or 0)
    if value < 0:
        raise InvalidArgument(f"invalid max concurrent {what}: {value}")
    return value or default


def _check_labels(labels: list[str]) -> None:
    """Each label key=value, and no key given two values (moby's GetConflictFreeLabels)."""
    seen: dict[str, str] = {}
    for label in labels:
        key, separator, value = label.partition("=")
        if not separator:
            raise ConfigError(f"failed to validate labels: bad attribute format: {label}")
        if seen.get(key, value) != value:
            raise ConfigError(f"conflict labels for {key}={value} and {key}={seen[key]}")
        seen[key] = value


def _mirror(value: str) -> str:
    """A mirror's URL with one trailing slash (moby's ValidateMirror)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise InvalidArgument(f'invalid mirror: unsupported scheme "{parts.scheme}" in "{value}"')
    if parts.query or parts.fragment:
        raise InvalidArgument(f'invalid mirror: query or fragment at end of the URI "{value}"')
    if parts.username is not None:
        raise InvalidArgument(f'invalid mirror: username/password not allowed in URI "{value}"')
    if not parts.hostname:
        raise InvalidArgument(f'invalid mirror: "{value}" is not a valid URI')
    return value.rstrip("/") + "/"


def _insecure(value: str) -> str:
    """An insecure registry: ``host[:port]`` or a CIDR (moby's LoadInsecureRegistries)."""
    scheme, sep, rest = value.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            raise InvalidArgument(f"insecure registry {value} should not contain '://'")
        value = rest
    if "/" in value:
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise InvalidArgument(f"insecure registry {value} is not valid") from None
    parts = urlsplit(f"//{value}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or (port is not None and not 0 < port < 65536):
        raise InvalidArgument(f"insecure registry {value} is not valid")
    return value


def _default_ulimits(value: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """The default-ulimits as name → (soft, hard); a limit without its Name is named by its key."""
    from dockyard.cli.runopts import ULIMIT_NAMES  # go-units' names, the same for --ulimit

    ulimits: dict[str, tuple[int, int]] = {}
    for key, ulimit in value.items():
        name = ulimit.get("Name") or key
        if name not in ULIMIT_NAMES:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        soft, hard = ulimit.get("Soft", 0), ulimit.get("Hard", 0)
        if soft > hard:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
        ulimits[name] = (soft, hard)
    return ulimits


def _seccomp(profile: str) -> str:
    """The daemon's seccomp profile: "builtin", "unconfined" or a file's JSON text, checked."""
    if profile in ("builtin", "unconfined"):
        return profile
    from dockyard.runtime import seccomp_profile

    try:
        with open(profile) as f:
            text = f.read()
    except OSError as e:
        reason = (e.strerror or str(e)).lower()
        raise InvalidArgument(f"opening seccomp profile ({profile}) failed: {reason}") from None
    seccomp_profile.parse(text)
    return text


def _bip(value: str) -> str:
    """The default bridge's address and prefix (dockerd's --bip): a host address in its subnet."""
    if not value:
        return ""
    try:
        interface = ipaddress.IPv4Interface(value)
    except ValueError:
        raise InvalidArgument(f"invalid bip {value}: invalid CIDR address: {value}") from None
    if interface.ip in (interface.network.network_address, interface.network.broadcast_address):
        raise InvalidArgument(f"invalid bip {value}: not a host address of its subnet")
    ipam.parse_subnet(str(interface.network))  # small enough to hold endpoints
    return str(interface)


def _pools(value: list[dict[str, Any]] | None) -> tuple[tuple[str, int], ...]:
    """default-address-pools, in place of Docker's (none given: Docker's)."""
    if not value:
        return ipam.DEFAULT_POOLS
    pools = []
    for pool in value:
        base, size = pool.get("base") or "", pool.get("size") or 0
        try:
            network = ipaddress.IPv4Network(base)
        except ValueError:
            raise InvalidArgument(f"invalid base pool {base!r}: invalid CIDR address") from None
        if not network.prefixlen <= size <= ipam.MAX_PREFIX[4]:
            raise InvalidArgument(f"invalid pools size: {size} for base pool {base}")
        pools.append((str(network), size))
    return tuple(pools)


def _ip_address(value: str) -> str:
    """A nameserver's address (moby's ValidateIPAddress)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise InvalidArgument(f"IP address is not correctly formatted: {value}") from None


# moby's domainRegexp, ":?" slips and all.
_DOMAIN = re.compile(
    r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
    r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)


def _dns_search(value: str) -> str:
    """A search domain (moby's ValidateDNSSearch): "." or a domain name."""
    domain = value.strip(" ")
    if domain == ".":
        return domain
    match = _DOMAIN.match(domain) if re.search("[a-zA-Z]", domain) else None
    if match is None or len(match.group(1)) >= 255:
        raise InvalidArgument(f"{domain} is not a valid domain")
    return value


def _go_flag(key: str, value: Any) -> str:
    """A flag's value as dockerd prints it: its pflag Value's String()."""
    if KEYS.get(key) == _ULIMITS:  # UlimitOpt: [name=soft:hard ...]
        limits = (f"{u['Name']}={u['Soft']}:{u['Hard']}" for _, u in sorted(value.items()))
        return "[" + " ".join(limits) + "]"
    if KEYS.get(key) == _POOLS:  # PoolsOpt: "base size, base size"
        return ", ".join(f"{pool.get('base', '')} {pool.get('size', 0)}" for pool in value)
    return _go(value)


def _go(value: Any) -> str:
    """A value decoded from JSON as Go's %v prints it: ``[a b]``, ``map[k:v]``, ``1e+06``."""
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 1_000_000:
        return _go_exponent(value)
    return str(value)


def _go_exponent(number: int) -> str:
    """A large JSON integer, a Go float64 to %v: shortest %g, ``1048576`` → ``1.048576e+06``."""
    digits = str(abs(number))
    significant = digits.rstrip("0")
    mantissa = significant[0] + ("." + significant[1:] if len(significant) > 1 else "")
    sign = "-" if number < 0 else ""
    return f"{sign}{mantissa}e+{len(digits) - 1:02d}"
