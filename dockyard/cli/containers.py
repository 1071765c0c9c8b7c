"""Container commands that ask once and print: ps, stop, kill, restart, rm, wait, top,
rename, pause, unpause, port, stats, container prune.

Commands over several containers do each in turn, print the name of each one
done, print the daemon's error for each one that failed, and exit 1 if any did.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from dockyard.cli.filters import filters_query
from dockyard.cli.format import (
    CONTAINER_HEADERS,
    container_row,
    render_rows,
    tabwrite,
)
from dockyard.cli.parser import (
    CommandParser,
    StatusError,
    add_positionals,
    command,
    error_text,
    integer,
)
from dockyard.client import Client
from dockyard.errors import DockyardError
from dockyard.units import binary_size, human_size

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

PS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
MANY = "%(prog)s [OPTIONS] CONTAINER [CONTAINER...]"


def register(subparsers: Any) -> None:
    ps = command(
        subparsers,
        "ps",
        run_ps,
        usage="%(prog)s [OPTIONS]",
        description="List containers",
        max_args=0,
    )
    ps.add_argument("-a", "--all", action="store_true")
    ps.add_argument("-q", "--quiet", action="store_true")
    ps.add_argument("-n", "--last", type=integer, default=-1)
    ps.add_argument("-l", "--latest", action="store_true")
    ps.add_argument("-s", "--size", action="store_true")
    ps.add_argument("--no-trunc", action="store_true")
    ps.add_argument("-f", "--filter", action="append", default=[])
    ps.add_argument("--format", default="")
    add_positionals(ps)

    stop = many(subparsers, "stop", run_stop, "Stop one or more running containers")
    stop.add_argument("-s", "--signal", default="")
    stop.add_argument("-t", "--timeout", "--time", type=integer, default=None)

    restart = many(subparsers, "restart", run_restart, "Restart one or more containers")
    restart.add_argument("-s", "--signal", default="")
    restart.add_argument("-t", "--timeout", "--time", type=integer, default=None)

    kill = many(subparsers, "kill", run_kill, "Kill one or more running containers")
    kill.add_argument("-s", "--signal", default="")

    rm = many(subparsers, "rm", run_rm, "Remove one or more containers")
    rm.add_argument("-f", "--force", action="store_true")
    rm.add_argument("-v", "--volumes", action="store_true")
    rm.add_argument("-l", "--link", action="store_true")

    many(
        subparsers,
        "wait",
        run_wait,
        "Block until one or more containers stop, then print their exit codes",
    )
    many(subparsers, "pause", run_pause, "Pause all processes within one or more containers")
    update = command(
        subparsers,
        "update",
        run_update,
        usage="%(prog)s [OPTIONS] CONTAINER [CONTAINER...]",
        description="Update configuration of one or more containers",
        min_args=1,
        declare=_declare_update_flags,
    )
    add_positionals(update)
    many(subparsers, "unpause", run_unpause, "Unpause all processes within one or more containers")

    top = command(
        subparsers,
        "top",
        run_top,
        usage="%(prog)s CONTAINER [ps OPTIONS]",
        description="Display the running processes of a container",
        min_args=1,
        intermixed=False,
    )
    add_positionals(top)

    diff = command(
        subparsers,
        "diff",
        run_diff,
        usage="%(prog)s CONTAINER",
        description="Inspect changes to files or directories on a container's filesystem",
        min_args=1,
        max_args=1,
    )
    add_positionals(diff)

    rename = command(
        subparsers,
        "rename",
        run_rename,
        usage="%(prog)s CONTAINER NEW_NAME",
        description="Rename a container",
        min_args=2,
        max_args=2,
    )
    add_positionals(rename)

    port = command(
        subparsers,
        "port",
        run_port,
        usage="%(prog)s CONTAINER [PRIVATE_PORT[/PROTO]]",
        description="List port mappings or a specific mapping for the container",
        min_args=1,
        max_args=2,
    )
    add_positionals(port)

    stats = command(
        subparsers,
        "stats",
        run_stats,
        usage="%(prog)s [OPTIONS] [CONTAINER...]",
        description="Display a live stream of container(s) resource usage statistics",
    )
    stats.add_argument("-a", "--all", action="store_true")
    stats.add_argument("--no-stream", action="store_true")
    stats.add_argument("--no-trunc", action="store_true")
    stats.add_argument("--format", default="")
    add_positionals(stats)

    prune = command(
        subparsers,
        "container-prune",
        run_prune,
        usage="%(prog)s [OPTIONS]",
        description="Remove all stopped containers",
        max_args=0,
    )
    prune.add_argument("-f", "--force", action="store_true")
    prune.add_argument("--filter", action="append", default=[])
    add_positionals(prune)


def many(
    subparsers: Any, name: str, handler: Callable[..., int | None], description: str
) -> CommandParser:
    parser = command(subparsers, name, handler, usage=MANY, description=description, min_args=1)
    add_positionals(parser)
    return parser


def for_each(names: list[str], action: Callable[[str], str | None]) -> int:
    """Run ``action`` per name; print what it returns (or the name) or the error; 1 if any failed."""
    failed = False
    for name in names:
        try:
            shown = action(name)
        except DockyardError as err:
            print(error_text(err), file=sys.stderr)
            failed = True
            continue
        print(name if shown is None else shown, flush=True)
    return 1 if failed else 0


# -- ps ------------------------------------------------------------------------


def run_ps(client: Client, ns: argparse.Namespace) -> int:
    limit = 1 if ns.latest else ns.last
    query = {
        "all": ns.all or limit > 0 or None,
        "limit": limit if limit > 0 else None,
        "size": ns.size or None,
        "filters": filters_query(ns.filter),
    }
    containers = client.request("GET", "/containers/json", query).json()
    if ns.quiet and not ns.format:
        sys.stdout.write(
            "".join((c["Id"] if ns.no_trunc else c["Id"][:12]) + "\n" for c in containers)
        )
        return 0
    now = time.time()
    rows = [container_row(c, not ns.no_trunc, now) for c in containers]
    table = PS_TABLE + ("\t{{.Size}}" if ns.size else "")
    sys.stdout.write(render_rows(rows, ns.format, table, CONTAINER_HEADERS))
    return 0


# -- lifecycle -----------------------------------------------------------------


def run_stop(client: Client, ns: argparse.Namespace) -> int:
    query = {"signal": ns.signal or None, "t": ns.timeout}
    return for_each(ns.args, lambda name: post(client, f"/containers/{name}/stop", query))


def run_restart(client: Client, ns: argparse.Namespace) -> int:
    query = {"signal": ns.signal or None, "t": ns.timeout}
    return for_each(ns.args, lambda name: post(client, f"/containers/{name}/restart", query))


def run_kill(client: Client, ns: argparse.Namespace) -> int:
    query = {"signal": ns.signal or None}
    return for_each(ns.args, lambda name: post(client, f"/containers/{name}/kill", query))


def run_rm(client: Client, ns: argparse.Namespace) -> int:
    query = {"force": ns.force or None, "v": ns.volumes or None, "link": ns.link or None}

    def remove(name: str) -> None:
        client.request("DELETE", f"/containers/{name}", query).read()

    return for_each(ns.args, remove)


def _declare_update_flags(parser: CommandParser) -> None:
    from dockyard.cli.runopts import add_update_flags  # only when `update` is parsed

    add_update_flags(parser)


def run_update(client: Client, ns: argparse.Namespace) -> int:
    from dockyard.cli.runopts import update_body

    body = update_body(ns)

    def update(name: str) -> None:
        answer = client.request("POST", f"/containers/{name}/update", body=body).json()
        for warning in answer.get("Warnings") or []:
            print(f"WARNING: {warning}", file=sys.stderr)

    return for_each(ns.args, update)


def run_pause(client: Client, ns: argparse.Namespace) -> int:
    return for_each(ns.args, lambda name: post(client, f"/containers/{name}/pause"))


def run_unpause(client: Client, ns: argparse.Namespace) -> int:
    return for_each(ns.args, lambda name: post(client, f"/containers/{name}/unpause"))


def run_wait(client: Client, ns: argparse.Namespace) -> int:
    def wait(name: str) -> str:
        result = client.request("POST", f"/containers/{name}/wait").json()
        return str(result.get("StatusCode"))

    return for_each(ns.args, wait)


def post(client: Client, path: str, query: dict[str, Any] | None = None) -> None:
    client.request("POST", path, query).read()


def run_diff(client: Client, ns: argparse.Namespace) -> int:
    for change in client.request("GET", f"/containers/{ns.args[0]}/changes").json() or []:
        print(f"{'CAD'[change['Kind']]} {change['Path']}")
    return 0


def run_rename(client: Client, ns: argparse.Namespace) -> int:
    old, new = ns.args
    if not new.strip():
        raise StatusError(1, "Error: neither old nor new names may be empty")
    client.request("POST", f"/containers/{old}/rename", {"name": new}).read()
    return 0


# -- inspection ----------------------------------------------------------------


def run_top(client: Client, ns: argparse.Namespace) -> int:
    name, ps_args = ns.args[0], ns.args[1:]
    query = {"ps_args": " ".join(ps_args) or None}
    result = client.request("GET", f"/containers/{name}/top", query).json()
    lines = ["\t".join(result.get("Titles") or [])]
    lines += ["\t".join(process) for process in result.get("Processes") or []]
    sys.stdout.write(tabwrite(lines, min_width=20))
    return 0


def run_port(client: Client, ns: argparse.Namespace) -> int:
    name = ns.args[0]
    info = client.request("GET", f"/containers/{name}/json").json()
    published = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if len(ns.args) == 2:
        lines = port_lookup(published, ns.args[1], name)
    else:
        lines = [
            f"{private} -> {join_host_port(binding)}"
            for private, bindings in published.items()
            for binding in bindings or []
        ]
    if lines:
        print("\n".join(sorted(lines, key=natural_key)))
    return 0


def port_lookup(published: dict[str, Any], spec: str, name: str) -> list[str]:
    port, _, proto = spec.partition("/")
    if not port.isdigit() or int(port) > 65535:
        raise StatusError(
            1, f'Error: invalid port ({port}): strconv.ParseUint: parsing "{port}": invalid syntax'
        )
    bindings = published.get(f"{port}/{proto or 'tcp'}")
    if not bindings:
        raise StatusError(1, f"Error: No public port '{spec}' published for {name}")
    return [join_host_port(binding) for binding in bindings]


def join_host_port(binding: dict[str, str]) -> str:
    host = binding.get("HostIp", "")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{binding.get('HostPort', '')}"


def natural_key(text: str) -> list[Any]:
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def run_stats(client: Client, ns: argparse.Namespace) -> int:
    """One table with --no-stream; otherwise the table redrawn until Ctrl-C.

    Each sample takes the daemon a second (two readings, for the CPU share), which
    paces the redraws as docker's are paced.
    """
    if ns.no_stream:
        sys.stdout.write(stats_table(client, ns))
        return 0
    try:
        while True:
            table = stats_table(client, ns)
            sys.stdout.write("\033[2J\033[H" + table)  # clear the screen, as docker does
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0


def stats_table(client: Client, ns: argparse.Namespace) -> str:
    names = ns.args or [
        c["Id"] for c in client.request("GET", "/containers/json", {"all": ns.all or None}).json()
    ]
    from concurrent.futures import ThreadPoolExecutor  # only here: stats is off the hot path

    def sample(name: str) -> dict[str, str]:
        # Each thread takes its own connection from the client's pool.
        reading = client.request("GET", f"/containers/{name}/stats", {"stream": False})
        return stats_row(name, reading.json(), ns.no_trunc)

    with ThreadPoolExecutor(max(1, len(names))) as pool:
        rows = list(pool.map(sample, names))
    table = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
    headers = {
        "ID": "CONTAINER ID",
        "Container": "CONTAINER",
        "Name": "NAME",
        "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT",
        "MemPerc": "MEM %",
        "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O",
        "PIDs": "PIDS",
    }
    return render_rows(rows, ns.format, table, headers)


def stats_row(name: str, sample: dict[str, Any], no_trunc: bool) -> dict[str, str]:
    """docker's stats formatter fields from one StatsResponse."""
    cpu, pre = sample.get("cpu_stats") or {}, sample.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or 1
    cpu_percent = (
        cpu_delta / system_delta * cpus * 100 if system_delta > 0 and cpu_delta > 0 else 0.0
    )
    memory = sample.get("memory_stats") or {}
    mem_stats = memory.get("stats") or {}
    usage = memory.get("usage", 0) - mem_stats.get(
        "inactive_file", mem_stats.get("total_inactive_file", 0)
    )
    limit = memory.get("limit", 0)
    networks = (sample.get("networks") or {}).values()
    received = sum(n.get("rx_bytes", 0) for n in networks)
    sent = sum(n.get("tx_bytes", 0) for n in networks)
    blkio = (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    read = sum(e.get("value", 0) for e in blkio if e.get("op", "").lower() == "read")
    written = sum(e.get("value", 0) for e in blkio if e.get("op", "").lower() == "write")
    identifier = sample.get("id", name)
    return {
        "ID": identifier if no_trunc else identifier[:12],
        "Container": name,
        "Name": sample.get("name", "").lstrip("/") or "--",
        "CPUPerc": f"{cpu_percent:.2f}%",
        "MemUsage": f"{binary_size(usage)} / {binary_size(limit)}",
        "MemPerc": f"{usage / limit * 100 if limit else 0:.2f}%",
        "NetIO": f"{human_size(received)} / {human_size(sent)}",
        "BlockIO": f"{human_size(read)} / {human_size(written)}",
        "PIDs": str((sample.get("pids_stats") or {}).get("current", 0)),
    }


def run_prune(client: Client, ns: argparse.Namespace) -> int:
    if not ns.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    result = client.request(
        "POST", "/containers/prune", {"filters": filters_query(ns.filter)}
    ).json()
    deleted = result.get("ContainersDeleted") or []
    if deleted:
        print("Deleted Containers:")
        print("\n".join(deleted))
        print()
    print(f"Total reclaimed space: {human_size(float(result.get('SpaceReclaimed') or 0))}")
    return 0


def confirm(warning: str) -> bool:
    """docker's prompt before a prune; anything but y/yes (or no terminal) says no."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")
