"""System commands: version, info, events, system df, system prune, system check."""

from __future__ import annotations

import argparse
import platform
import sys
import time

from dockyard.cli.containers import confirm
from dockyard.cli.filters import filters_query
from dockyard.cli.format import render_each, render_rows
from dockyard.cli.parser import add_positionals, command, flag_type
from dockyard.client import APIError, Client
from dockyard.client.client import CLIENT_API_VERSION
from dockyard.template import Template
from dockyard.timefmt import get_timestamp
from dockyard.units import binary_size, human_size

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}


def register(subparsers: Any) -> None:
    version = command(
        subparsers,
        "version",
        run_version,
        usage="%(prog)s [OPTIONS]",
        description="Show the Docker version information",
        max_args=0,
    )
    version.add_argument("-f", "--format", default="")
    add_positionals(version)

    info = command(
        subparsers,
        "info",
        run_info,
        usage="%(prog)s [OPTIONS]",
        description="Display system-wide information",
        max_args=0,
    )
    info.add_argument("-f", "--format", default="")
    add_positionals(info)

    events = command(
        subparsers,
        "events",
        run_events,
        usage="%(prog)s [OPTIONS]",
        description="Get real time events from the server",
        max_args=0,
    )
    events.add_argument("-f", "--filter", action="append", default=[])
    events.add_argument("--format", default="")
    events.add_argument("--since", type=flag_type(get_timestamp), default=None)
    events.add_argument("--until", type=flag_type(get_timestamp), default=None)
    add_positionals(events)

    df = command(
        subparsers,
        "system-df",
        run_df,
        usage="%(prog)s [OPTIONS]",
        description="Show docker disk usage",
        max_args=0,
    )
    df.add_argument("--format", default="")
    df.add_argument("-v", "--verbose", action="store_true")
    add_positionals(df)

    check = command(
        subparsers,
        "system-check",
        run_check,
        usage="%(prog)s [OPTIONS]",
        description=(
            "Check the engine's records against what is on disk and in the kernel: "
            "left-over directories, mounts, processes, cgroups, network links and rules, "
            "blobs and layers. With --repair, repair what can be repaired safely"
        ),
        max_args=0,
    )
    check.add_argument("-r", "--repair", action="store_true")
    add_positionals(check)

    prune = command(
        subparsers,
        "system-prune",
        run_prune,
        usage="%(prog)s [OPTIONS]",
        description="Remove unused data",
        max_args=0,
    )
    prune.add_argument("-a", "--all", action="store_true")
    prune.add_argument("-f", "--force", action="store_true")
    prune.add_argument("--filter", action="append", default=[])
    add_positionals(prune)


# -- version and info ----------------------------------------------------------


def client_version() -> dict[str, Any]:
    from dockyard.config import ENGINE_VERSION

    return {
        "Platform": {"Name": ""},
        "Version": ENGINE_VERSION,
        "ApiVersion": CLIENT_API_VERSION,
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": machine_arch(),
    }


def machine_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def run_version(client: Client, ns: argparse.Namespace) -> int:
    local = client_version()
    local["ApiVersion"] = client.api_version
    try:
        server: dict[str, Any] | None = client.request("GET", "/version").json()
    except APIError:
        server = None
    if ns.format:
        print(Template(ns.format).render({"Client": local, "Server": server}))
        return 0
    lines = [
        "Client:",
        f" Version:           {local['Version']}",
        f" API version:       {local['ApiVersion']}",
        f" Go version:        {local['GoVersion']}",
        f" OS/Arch:           {local['Os']}/{local['Arch']}",
    ]
    if server is not None:
        lines += [
            "",
            f"Server: {(server.get('Platform') or {}).get('Name') or 'Dockyard Engine'}",
            " Engine:",
            f"  Version:          {server.get('Version', '')}",
            f"  API version:      {server.get('ApiVersion', '')} (minimum version {server.get('MinAPIVersion', '')})",
            f"  Go version:       {server.get('GoVersion', '')}",
            f"  Git commit:       {server.get('GitCommit', '')}",
            f"  Built:            {server.get('BuildTime', '')}",
            f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}",
            f"  Experimental:     {str(server.get('Experimental', '')).lower()}",
        ]
    print("\n".join(lines))
    return 0


INFO_FIELDS = (
    ("Containers", "Containers"),
    (" Running", "ContainersRunning"),
    (" Paused", "ContainersPaused"),
    (" Stopped", "ContainersStopped"),
    ("Images", "Images"),
    ("Server Version", "ServerVersion"),
    ("Storage Driver", "Driver"),
    ("Logging Driver", "LoggingDriver"),
    ("Cgroup Driver", "CgroupDriver"),
    ("Cgroup Version", "CgroupVersion"),
    ("Default Runtime", "DefaultRuntime"),
    ("Kernel Version", "KernelVersion"),
    ("Operating System", "OperatingSystem"),
    ("OSType", "OSType"),
    ("Architecture", "Architecture"),
    ("CPUs", "NCPU"),
    ("Total Memory", "MemTotal"),
    ("Name", "Name"),
    ("ID", "ID"),
    ("Docker Root Dir", "DockerRootDir"),
    ("Debug Mode", "Debug"),
)


def run_info(client: Client, ns: argparse.Namespace) -> int:
    info = client.request("GET", "/info").json()
    if ns.format:
        sys.stdout.write("".join(render_each([info], ns.format)))
        return 0
    lines = ["Server:"]
    for label, key in INFO_FIELDS:
        if key not in info:
            continue
        value = info[key]
        if key == "MemTotal":
            value = binary_size(int(value))
        elif isinstance(value, bool):
            value = str(value).lower()
        lines.append(f" {label}: {value}")
    runtimes = info.get("Runtimes") or {}
    if runtimes:
        lines.append(f" Runtimes: {' '.join(sorted(runtimes))}")
    lines += security_option_lines(info.get("SecurityOptions") or [])
    print("\n".join(lines))
    return 0


def security_option_lines(options: list[str]) -> list[str]:
    """docker info's "Security Options": "name=seccomp,profile=builtin" reads
    "  seccomp" then "   Profile: builtin"."""
    if not options:
        return []
    lines = [" Security Options:"]
    for option in options:
        fields = dict(field.partition("=")[::2] for field in option.split(","))
        lines.append(f"  {fields.pop('name', '')}")
        lines += [f"   {key.capitalize()}: {value}" for key, value in fields.items()]
    return lines


# -- events --------------------------------------------------------------------


def run_events(client: Client, ns: argparse.Namespace) -> int:
    query = {"since": ns.since, "until": ns.until, "filters": filters_query(ns.filter)}
    response = client.request("GET", "/events", query)
    template = Template("{{json .}}" if ns.format == "json" else ns.format) if ns.format else None
    for event in response.iter_json():
        line = template.render(event) if template else event_line(event)
        print(line, flush=True)
    return 0


def event_line(event: dict[str, Any]) -> str:
    """``2024-05-01T10:00:00.123456789+02:00 container start ID (image=busybox, name=x)``."""
    nanos = int(event.get("timeNano") or int(event.get("time", 0)) * 1_000_000_000)
    seconds, fraction = divmod(nanos, 1_000_000_000)
    local = time.localtime(seconds)
    offset = time.strftime("%z", local)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{fraction:09d}{offset[:3]}:{offset[3:]}"
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    details = ", ".join(f"{key}={attributes[key]}" for key in sorted(attributes))
    line = f"{stamp} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    return f"{line} ({details})" if details else line


# -- disk usage and prune ------------------------------------------------------


def run_df(client: Client, ns: argparse.Namespace) -> int:
    usage = client.request("GET", "/system/df").json()
    rows = [images_usage(usage), containers_usage(usage), volumes_usage(usage), cache_usage(usage)]
    sys.stdout.write(render_rows(rows, ns.format, DF_TABLE, DF_HEADERS))
    return 0


def reclaimable(part: float, total: float) -> str:
    percent = f" ({int(part * 100 / total)}%)" if total > 0 else ""
    return f"{human_size(part)}{percent}"


def images_usage(usage: dict[str, Any]) -> dict[str, str]:
    images = usage.get("Images") or []
    total = float(usage.get("LayersSize") or sum(i.get("Size", 0) for i in images))
    active = [i for i in images if i.get("Containers", 0) > 0]
    unused = sum(
        float(i.get("Size", 0)) - max(float(i.get("SharedSize", 0)), 0)
        for i in images
        if i.get("Containers", 0) <= 0
    )
    return {
        "Type": "Images",
        "TotalCount": str(len(images)),
        "Active": str(len(active)),
        "Size": human_size(total),
        "Reclaimable": reclaimable(max(unused, 0), total),
    }


def containers_usage(usage: dict[str, Any]) -> dict[str, str]:
    containers = usage.get("Containers") or []
    total = float(sum(c.get("SizeRw", 0) for c in containers))
    running = [c for c in containers if c.get("State") in ("running", "paused", "restarting")]
    stopped = float(sum(c.get("SizeRw", 0) for c in containers if c not in running))
    return {
        "Type": "Containers",
        "TotalCount": str(len(containers)),
        "Active": str(len(running)),
        "Size": human_size(total),
        "Reclaimable": reclaimable(stopped, total),
    }


def volumes_usage(usage: dict[str, Any]) -> dict[str, str]:
    volumes = usage.get("Volumes") or []
    sizes = [float((v.get("UsageData") or {}).get("Size", 0)) for v in volumes]
    active = [v for v in volumes if (v.get("UsageData") or {}).get("RefCount", 0) > 0]
    unused = sum(size for v, size in zip(volumes, sizes, strict=True) if v not in active)
    return {
        "Type": "Local Volumes",
        "TotalCount": str(len(volumes)),
        "Active": str(len(active)),
        "Size": human_size(sum(sizes)),
        "Reclaimable": reclaimable(unused, sum(sizes)),
    }


def cache_usage(usage: dict[str, Any]) -> dict[str, str]:
    records = usage.get("BuildCache") or []
    total = float(sum(r.get("Size", 0) for r in records))
    active = [r for r in records if r.get("InUse")]
    unused = float(sum(r.get("Size", 0) for r in records if not r.get("InUse")))
    return {
        "Type": "Build Cache",
        "TotalCount": str(len(records)),
        "Active": str(len(active)),
        "Size": human_size(total),
        "Reclaimable": human_size(unused),
    }


def run_check(client: Client, ns: argparse.Namespace) -> int:
    """One line per finding; exits 1 while any is left unrepaired."""
    findings = client.request("POST" if ns.repair else "GET", "/dockyard/check").json()["Findings"]
    for finding in findings:
        if finding["Repaired"]:
            outcome = "repaired"
        elif finding["Repairable"]:
            outcome = "repairable with --repair"
        else:
            outcome = "cannot be repaired"
        print(f"{finding['Kind']}\t{finding['Object']}\t{finding['Problem']} ({outcome})")
    left = [f for f in findings if not f["Repaired"]]
    found = f"{len(findings)} problem{'' if len(findings) == 1 else 's'} found"
    if not findings:
        print("no problems found")
    elif not left:
        print(f"{found}, all repaired")
    else:
        print(f"{found}, {len(left)} left", file=sys.stderr)
    return 1 if left else 0


def run_prune(client: Client, ns: argparse.Namespace) -> int:
    images = (
        "all images without at least one container associated to them"
        if ns.all
        else "all dangling images"
    )
    warning = f"WARNING! This will remove:\n  - all stopped containers\n  - {images}\n"
    if not ns.force and not confirm(warning):
        return 0
    containers = client.request(
        "POST", "/containers/prune", {"filters": filters_query(ns.filter)}
    ).json()
    image_filters = [*ns.filter, f"dangling={'false' if ns.all else 'true'}"]
    images_result = client.request(
        "POST", "/images/prune", {"filters": filters_query(image_filters)}
    ).json()
    deleted_containers = containers.get("ContainersDeleted") or []
    if deleted_containers:
        print("Deleted Containers:\n" + "\n".join(deleted_containers) + "\n")
    from dockyard.cli.images import deletion_lines

    deleted_images = deletion_lines(images_result.get("ImagesDeleted") or [])
    if deleted_images:
        print(
            "Deleted Images:\n"
            + "\n".join(line[0].lower() + line[1:] for line in deleted_images)
            + "\n"
        )
    total = float(containers.get("SpaceReclaimed") or 0) + float(
        images_result.get("SpaceReclaimed") or 0
    )
    print(f"Total reclaimed space: {human_size(total)}")
    return 0
