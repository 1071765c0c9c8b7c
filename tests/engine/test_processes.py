"""`docker stats` samples shaped as moby shapes them, from cgroup v1 and cgroup v2 counters.

The cgroups here are directories of files written like the kernel's, so both
versions are checked on any machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.engine import processes
from dockyard.runtime.cgroups import BLKIO_KEYS, CgroupV1, CgroupV2

MACHINE_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _files(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def _v1(tmp_path: Path) -> CgroupV1:
    group = CgroupV1.__new__(CgroupV1)  # its directories are ours, not /sys/fs/cgroup's
    group.dirs = {c: str(tmp_path / c) for c in ("memory", "cpu", "cpuacct", "blkio", "pids")}
    _files(
        tmp_path / "memory",
        {
            "memory.usage_in_bytes": "4096\n",
            "memory.max_usage_in_bytes": "8192\n",
            "memory.limit_in_bytes": "9223372036854771712\n",
            "memory.failcnt": "2\n",
            "memory.stat": "cache 100\nrss 200\nshmem 7\ntotal_cache 100\n",
        },
    )
    _files(tmp_path / "cpu", {"cpu.stat": "nr_periods 5\nnr_throttled 1\nthrottled_time 300\n"})
    _files(
        tmp_path / "cpuacct",
        {
            "cpuacct.usage": "3000\n",
            "cpuacct.usage_percpu": "1000 2000 \n",
            "cpuacct.stat": "user 3\nsystem 2\n",
        },
    )
    _files(
        tmp_path / "blkio",
        {
            "blkio.throttle.io_service_bytes_recursive": "8:0 Read 512\n8:0 Write 0\nTotal 512\n",
            "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
        },
    )
    _files(tmp_path / "pids", {"pids.current": "3\n", "pids.max": "max\n"})
    return group


def _v2(tmp_path: Path) -> CgroupV2:
    group = CgroupV2.__new__(CgroupV2)
    group.dir = str(tmp_path)
    _files(
        tmp_path,
        {
            "memory.current": "4096\n",
            "memory.max": "1048576\n",
            "memory.stat": "anon 300\nfile 100\nsock 0\nzswap 9\n",
            "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
            "cpu.stat": (
                "usage_usec 30\nuser_usec 20\nsystem_usec 10\n"
                "nr_periods 4\nnr_throttled 2\nthrottled_usec 7\n"
            ),
            "io.stat": "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n",
            "pids.current": "2\n",
            "pids.max": "100\n",
        },
    )
    return group


def test_cgroup_v1_counters(tmp_path: Path) -> None:
    sample = processes.stats(_v1(tmp_path), "web", "c" * 64)
    assert list(sample) == [
        "name", "id", "read", "preread", "pids_stats", "blkio_stats", "num_procs",
        "storage_stats", "cpu_stats", "precpu_stats", "memory_stats",
    ]  # fmt: skip
    assert sample["pids_stats"] == {"current": 3}  # no limit: left out, as Go's omitempty
    cpu = sample["cpu_stats"]
    assert cpu["cpu_usage"] == {
        "total_usage": 3000,
        "percpu_usage": [1000, 2000],
        "usage_in_kernelmode": 2 * NS_PER_TICK,
        "usage_in_usermode": 3 * NS_PER_TICK,
    }
    assert cpu["throttling_data"] == {"periods": 5, "throttled_periods": 1, "throttled_time": 300}
    memory = sample["memory_stats"]
    assert (memory["usage"], memory["max_usage"], memory["failcnt"]) == (4096, 8192, 2)
    assert memory["limit"] == MACHINE_MEMORY  # unlimited: the machine's memory
    assert list(memory["stats"]) == processes.MEMORY_STAT_KEYS[1]  # shmem is not moby's
    assert (memory["stats"]["cache"], memory["stats"]["total_rss"]) == (100, 0)
    blkio = sample["blkio_stats"]
    assert blkio["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 512},
        {"major": 8, "minor": 0, "op": "Write", "value": 0},
    ]
    assert blkio["io_serviced_recursive"][0] == {"major": 8, "minor": 0, "op": "Read", "value": 1}
    # No CFQ counters on this kernel: empty lists, not null, for v1
    throttle_keys = ("io_service_bytes_recursive", "io_serviced_recursive")
    assert [blkio[key] for key in BLKIO_KEYS if key not in throttle_keys] == [[]] * 6


def test_cgroup_v2_counters(tmp_path: Path) -> None:
    sample = processes.stats(_v2(tmp_path), "web", "c" * 64)
    assert sample["pids_stats"] == {"current": 2, "limit": 100}
    assert sample["cpu_stats"]["cpu_usage"] == {  # no per-CPU usage in v2
        "total_usage": 30_000,
        "usage_in_kernelmode": 10_000,
        "usage_in_usermode": 20_000,
    }
    assert sample["cpu_stats"]["throttling_data"] == {
        "periods": 4,
        "throttled_periods": 2,
        "throttled_time": 7_000,
    }
    memory = sample["memory_stats"]
    assert "max_usage" not in memory  # v2 keeps no high-water mark: moby has none either
    assert (memory["usage"], memory["limit"], memory["failcnt"]) == (4096, 1048576, 1)
    assert list(memory["stats"]) == processes.MEMORY_STAT_KEYS[2]
    assert (memory["stats"]["anon"], memory["stats"]["slab"]) == (300, 0)
    assert sample["blkio_stats"] == {
        **dict.fromkeys(BLKIO_KEYS),
        "io_service_bytes_recursive": [
            {"major": 8, "minor": 0, "op": "read", "value": 512},
            {"major": 8, "minor": 0, "op": "write", "value": 1024},
        ],
    }


def test_network_counters_come_from_the_namespace_of_the_pid(tmp_path: Path) -> None:
    sample = processes.stats(_v2(tmp_path), "web", "c" * 64, net_pid=os.getpid())
    with open("/proc/self/net/dev") as f:
        ours = {line.split(":")[0].strip() for line in f.read().splitlines()[2:]}
    assert set(sample["networks"]) == ours - {"lo"}
    for counters in sample["networks"].values():
        assert list(counters) == [
            "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
            "tx_bytes", "tx_packets", "tx_errors", "tx_dropped",
        ]  # fmt: skip


def test_a_container_that_does_not_run_has_moby_s_zero_sample() -> None:
    zero_cpu = {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    assert processes.empty_stats("web", "c" * 64) == {
        "name": "/web",
        "id": "c" * 64,
        "read": "0001-01-01T00:00:00Z",
        "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {},
        "blkio_stats": dict.fromkeys(BLKIO_KEYS),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": zero_cpu,
        "precpu_stats": zero_cpu,
        "memory_stats": {},
    }
