"""`docker top` and `docker stats`: a running container's processes and counters."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from typing import Any

from dockyard.errors import InvalidArgument, SystemError
from dockyard.runtime.cgroups import Cgroup
from dockyard.timefmt import rfc3339_nano


def top(cgroup: Cgroup, ps_args: str) -> dict[str, Any]:
    """Run the host's ps and keep the rows of the container's processes, as Docker does."""
    pids = set(cgroup.pids())
    args = shlex.split(ps_args or "-ef")
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise SystemError("ps is not installed on the host (install procps)") from None
    except subprocess.CalledProcessError as e:
        raise InvalidArgument(f"ps: {e.stderr.strip()}") from None
    lines = out.splitlines()
    titles = lines[0].split()
    try:
        pid_col = titles.index("PID")
    except ValueError:
        raise InvalidArgument("Couldn't find PID field in ps output") from None
    processes = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
            processes.append(fields)
    return {"Titles": titles, "Processes": processes}


def stats(
    cgroup: Cgroup, name: str, cid: str, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One ContainerStatsResponse sample from the cgroup's counters."""
    sample = cgroup.stats()
    ncpu = os.cpu_count() or 1
    return {
        "read": rfc3339_nano(time.time_ns()),
        "preread": (previous or {}).get("read", "0001-01-01T00:00:00Z"),
        "name": "/" + name,
        "id": cid,
        "pids_stats": {"current": sample.pids_current},
        "num_procs": 0,
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": sample.cpu_usage_ns,
                "usage_in_kernelmode": 0,
                "usage_in_usermode": 0,
            },
            "system_cpu_usage": _system_cpu_ns(),
            "online_cpus": ncpu,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "precpu_stats": (previous or {}).get(
            "cpu_stats",
            {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": ncpu},
        ),
        "memory_stats": {
            "usage": sample.memory_usage,
            "limit": sample.memory_limit or _mem_total(),
            "stats": sample.memory_stat,
        },
        "blkio_stats": {},
        "networks": {},
    }


def _system_cpu_ns() -> int:
    """Host CPU time in nanoseconds, from /proc/stat, as Docker computes system_cpu_usage."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    ticks = sum(int(x) for x in fields)
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _mem_total() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
