"""Port specs of -p/--publish and --expose, converted like go-connections' nat package.

``[ip:][hostPort:]containerPort[/proto]`` (ranges allowed) and the long form
``published=8080,target=80,protocol=udp`` become the create body's
``ExposedPorts`` ({"80/tcp": {}}) and ``HostConfig.PortBindings``
({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}).
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")
PortBindings = dict[str, list[dict[str, str]]]


def parse_port(text: str) -> int:
    """strconv.ParseUint(text, 10, 16)."""
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(text)
    return int(text)


def parse_port_range(text: str) -> tuple[int, int]:
    if not text:
        raise ValueError("empty string specified for ports")
    if "-" not in text:
        port = parse_port(text)
        return port, port
    first, second = text.split("-")[:2]
    start, end = parse_port(first), parse_port(second)
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def split_proto_port(raw: str) -> tuple[str, str]:
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def to_standard_notation(spec: str) -> str:
    """``published=8080,target=80`` → ``8080:80/tcp``; other specs unchanged."""
    if "=" not in spec:
        return spec
    params = {"protocol": "tcp"}
    for param in spec.split(","):
        key, sep, value = param.partition("=")
        if not sep or not key:
            raise InvalidArgument(
                f"invalid publish opts format (should be name=value but got '{param}')"
            )
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def parse_port_spec(raw: str) -> list[tuple[str, dict[str, str]]]:
    """One publish spec → [(\"80/tcp\", {\"HostIp\": ..., \"HostPort\": ...}), ...]."""
    ip, host_port, container_port = split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip:
        import ipaddress  # 6 ms to import: only for the rare spec that names an address

        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidArgument(f"invalid IP address: {ip}") from None
    if not container_port:
        raise InvalidArgument(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except ValueError:
        raise InvalidArgument(f"invalid containerPort: {container_port}") from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except ValueError:
            raise InvalidArgument(f"invalid hostPort: {host_port}") from None
    if host_port and end - start != host_end - host_start and end != start:
        raise InvalidArgument(
            f"invalid ranges specified for container and host Ports: {container_port} and {host_port}"
        )
    if proto.lower() not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    mappings = []
    for offset in range(end - start + 1):
        binding_port = str(host_start + offset) if host_port else ""
        if start == end and host_start != host_end:
            binding_port = f"{host_start}-{host_end}"
        key = f"{start + offset}/{proto.lower()}"
        mappings.append((key, {"HostIp": ip, "HostPort": binding_port}))
    return mappings


def parse_publish(specs: list[str]) -> tuple[dict[str, dict[str, object]], PortBindings]:
    """All -p values → (ExposedPorts, PortBindings)."""
    exposed: dict[str, dict[str, object]] = {}
    bindings: PortBindings = {}
    for spec in specs:
        for key, binding in parse_port_spec(to_standard_notation(spec)):
            exposed.setdefault(key, {})
            bindings.setdefault(key, []).append(binding)
    return exposed, bindings


def parse_expose(specs: list[str], exposed: dict[str, dict[str, object]]) -> None:
    """Add --expose ports (``80``, ``8000-8010/udp``) to ExposedPorts."""
    for spec in specs:
        if ":" in spec:
            raise InvalidArgument(f"invalid port format for --expose: {spec}")
        proto, port = split_proto_port(spec)
        try:
            start, end = parse_port_range(port)
        except ValueError as err:
            raise InvalidArgument(
                f"invalid range format for --expose: {spec}, error: {err}"
            ) from None
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto}", {})
