"""Legacy links (``--link name:alias``): the link syntax and the environment a link gives.

Shared by the CLI (which checks the flag) and the engine; no heavy imports.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument


def is_user_defined(network_mode: str) -> bool:
    """moby's NetworkMode.IsUserDefined: a network of the user's, where --link is an alias
    of the container's endpoint rather than a legacy link."""
    return network_mode not in ("", "default", "bridge", "host", "none") and not (
        network_mode.startswith("container:")
    )


def parse_link(value: str) -> tuple[str, str]:
    """``name:alias`` or ``name`` → (name, alias), as moby's opts.ParseLink.

    The ``/name:/parent/alias`` form of a created container's HostConfig.Links is
    accepted too.
    """
    if not value:
        raise InvalidArgument("empty string specified for links")
    parts = value.split(":")
    if len(parts) > 2:
        raise InvalidArgument(f"bad format for links: {value}")
    if len(parts) == 1:
        return value, value
    name, alias = parts
    if name.startswith("/"):
        return name[1:], alias.rsplit("/", 1)[-1]
    return name, alias


def validate_link(value: str) -> str:
    """A --link flag's value, checked (docker's opts.ValidateLink)."""
    parse_link(value)
    return value


def env_vars(alias: str, address: str, env: list[str], exposed: list[str]) -> list[str]:
    """The variables a link to a container at ``address`` gives (moby's links.ToEnv).

    ``alias`` is the link's full name (``/parent/alias``), ``env`` the linked
    container's environment, ``exposed`` its exposed ports (``80/tcp``).
    """
    prefix = alias.rsplit("/", 1)[-1].upper().replace("-", "_")
    ports = sorted((_port(spec) for spec in exposed), key=_tcp_first)
    result = []
    start = end = ports[0] if ports else (0, "")
    for index, (number, proto) in enumerate(ports):
        if index == 0:
            result.append(f"{prefix}_PORT={proto}://{address}:{number}")
        name = f"{prefix}_PORT_{number}_{proto.upper()}"
        result += [
            f"{name}={proto}://{address}:{number}",
            f"{name}_ADDR={address}",
            f"{name}_PORT={number}",
            f"{name}_PROTO={proto}",
        ]
        # A run of consecutive ports of one protocol is also described as a range.
        if number == end[0] + 1 and proto.lower() == start[1].lower():
            end = (number, proto)
            if index < len(ports) - 1:
                continue
        if end != start:
            first = f"{prefix}_PORT_{start[0]}_{start[1].upper()}"
            result += [
                f"{first}_START={start[1]}://{address}:{start[0]}",
                f"{first}_PORT_START={start[0]}",
                f"{first}_END={end[1]}://{address}:{end[0]}",
                f"{first}_PORT_END={end[0]}",
            ]
        start = end = (number, proto)
    result.append(f"{prefix}_NAME={alias}")
    for item in env:
        key, separator, value = item.partition("=")
        if separator and key not in ("HOME", "PATH"):
            result.append(f"{prefix}_ENV_{key}={value}")
    return result


def _port(spec: str) -> tuple[int, str]:
    number, _, proto = spec.partition("/")
    return int(number), proto or "tcp"


def _tcp_first(port: tuple[int, str]) -> tuple[bool, str, int]:
    number, proto = port
    return (proto.lower() != "tcp", proto.lower(), number)
