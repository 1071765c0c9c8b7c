"""`docker top` and `docker stats`: a running container's processes and counters."""

from __future__ import annotations

import asyncio
import copy
import os
import shlex
import time
from typing import Any

from dockyard.errors import InvalidArgument, SystemError
from dockyard.runtime.cgroups import BLKIO_KEYS, Cgroup, CgroupStats
from dockyard.timefmt import rfc3339_nano


async def top(cgroup: Cgroup, ps_args: str) -> dict[str, Any]:
    """Run the host's ps and keep the rows of the container's processes, as Docker does."""
    pids = set(cgroup.pids())
    args = shlex.split(ps_args or "-ef")
    try:
        ps = await asyncio.create_subprocess_exec(
            "ps", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except FileNotFoundError:
        raise SystemError("ps is not installed on the host (install procps)") from None
    stdout, stderr = await ps.communicate()  # the loop serves others meanwhile
    if ps.returncode:
        raise InvalidArgument(f"ps: {stderr.decode(errors='replace').strip()}")
    out = stdout.decode(errors="replace")
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


# The memory.stat counters moby reports, for each cgroup version (stats_unix.go).
MEMORY_STAT_KEYS = {
    1: (
        "cache rss rss_huge mapped_file dirty writeback pgpgin pgpgout pgfault pgmajfault "
        "inactive_anon active_anon inactive_file active_file unevictable "
        "hierarchical_memory_limit hierarchical_memsw_limit total_cache total_rss "
        "total_rss_huge total_mapped_file total_dirty total_writeback total_pgpgin "
        "total_pgpgout total_pgfault total_pgmajfault total_inactive_anon total_active_anon "
        "total_inactive_file total_active_file total_unevictable"
    ).split(),
    2: (
        "anon file kernel_stack slab sock shmem file_mapped file_dirty file_writeback "
        "anon_thp inactive_anon active_anon inactive_file active_file unevictable "
        "slab_reclaimable slab_unreclaimable pgfault pgmajfault workingset_refault "
        "workingset_activate workingset_nodereclaim pgrefill pgscan pgsteal pgactivate "
        "pgdeactivate pglazyfree pglazyfreed thp_fault_alloc thp_collapse_alloc"
    ).split(),
}
_NET_DEV_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped")
_TX_FIELDS = ("tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
ZERO_TIME = "0001-01-01T00:00:00Z"


def stats(
    cgroup: Cgroup,
    name: str,
    cid: str,
    previous: dict[str, Any] | None = None,
    net_pid: int = 0,
) -> dict[str, Any]:
    """One ContainerStatsResponse sample, shaped as moby shapes it for the cgroup's
    version. ``net_pid``: a process in the container's network namespace (0: none of
    its own, as with ``--network host``)."""
    sample = cgroup.stats()
    result = empty_stats(name, cid)
    result.update(
        read=rfc3339_nano(time.time_ns()),
        pids_stats=_without_zeros(current=sample.pids_current, limit=sample.pids_limit),
        blkio_stats=_blkio(sample),
        cpu_stats=_cpu(sample),
        memory_stats=_memory(sample),
    )
    if previous:
        result.update(preread=previous["read"], precpu_stats=previous["cpu_stats"])
    networks = _networks(net_pid) if net_pid else {}
    if networks:
        result["networks"] = networks
    return result


def empty_stats(name: str, cid: str) -> dict[str, Any]:
    """The sample of a container that does not run: moby's zero StatsResponse."""
    cpu = {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    return {
        "name": "/" + name,
        "id": cid,
        "read": ZERO_TIME,
        "preread": ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": dict.fromkeys(BLKIO_KEYS),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu,
        "precpu_stats": copy.deepcopy(cpu),
        "memory_stats": {},
    }


def _cpu(sample: CgroupStats) -> dict[str, Any]:
    usage: dict[str, Any] = {"total_usage": sample.cpu_usage_ns}
    if sample.cpu_percpu_ns:
        usage["percpu_usage"] = sample.cpu_percpu_ns
    usage.update(usage_in_kernelmode=sample.cpu_kernel_ns, usage_in_usermode=sample.cpu_user_ns)
    periods, throttled, throttled_ns = sample.cpu_throttling
    return {
        "cpu_usage": usage,
        "system_cpu_usage": _system_cpu_ns(),
        "online_cpus": _online_cpus(),
        "throttling_data": {
            "periods": periods,
            "throttled_periods": throttled,
            "throttled_time": throttled_ns,
        },
    }


def _memory(sample: CgroupStats) -> dict[str, Any]:
    raw = sample.memory_stat
    machine = _mem_total()
    limit = min(sample.memory_limit, machine) if sample.memory_limit else machine
    return _without_zeros(
        usage=sample.memory_usage,
        max_usage=sample.memory_max_usage,  # cgroup v1 only, as in moby
        stats={key: raw.get(key, 0) for key in MEMORY_STAT_KEYS[sample.version]},
        failcnt=sample.memory_failcnt,
        limit=limit,
    )


def _blkio(sample: CgroupStats) -> dict[str, Any]:
    """v1 lists every counter it read, even with no entry; v2 only bytes, null without."""
    stats: dict[str, Any] = dict.fromkeys(BLKIO_KEYS)
    for key, entries in sample.blkio.items():
        if entries or sample.version == 1:
            stats[key] = [
                {"major": major, "minor": minor, "op": op, "value": value}
                for major, minor, op, value in entries
            ]
    return stats


def _networks(pid: int) -> dict[str, dict[str, int]]:
    """Counters of the container's interfaces, from its network namespace (not ``lo``)."""
    networks = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:  # the container is gone meanwhile
        return {}
    for line in lines:
        name, _, counters = line.partition(":")
        name = name.strip()
        if name == "lo":
            continue
        values = [int(v) for v in counters.split()]
        networks[name] = {
            **dict(zip(_NET_DEV_FIELDS, values[0:4], strict=True)),
            **dict(zip(_TX_FIELDS, values[8:12], strict=True)),
        }
    return networks


def _without_zeros(**values: Any) -> dict[str, Any]:
    """Go's ``omitempty``: zero counters and empty maps are left out."""
    return {key: value for key, value in values.items() if value}


def _system_cpu_ns() -> int:
    """Host CPU time in nanoseconds, from /proc/stat, as Docker computes system_cpu_usage."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    ticks = sum(int(x) for x in fields)
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _online_cpus() -> int:
    """CPUs online on the host, counted in /proc/stat as moby does."""
    with open("/proc/stat") as f:
        return sum(1 for line in f if line.startswith("cpu") and line[3:4].isdigit())


def _mem_total() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
