"""What a rootless engine cannot do without cgroups of its own, refused by name.

A user is delegated no cgroup on cgroup v1 (this engine creates none in
rootless mode), so a resource limit could only be stored and ignored: it is
refused instead, in Podman's words, as are the commands that read or freeze a
container's cgroup.
"""

from __future__ import annotations

from typing import Any

from dockyard import rootless
from dockyard.errors import InvalidArgument, NotSupported

_UNLIMITED: tuple[object, ...] = (None, 0, -1, False, "", [])
# HostConfig fields that only a cgroup enforces, with the docker CLI flag that sets each.
_LIMITS = (
    ("Memory", "--memory"),
    ("MemoryReservation", "--memory-reservation"),
    ("MemorySwap", "--memory-swap"),
    ("MemorySwappiness", "--memory-swappiness"),
    ("KernelMemory", "--kernel-memory"),
    ("NanoCpus", "--cpus"),
    ("CpuShares", "--cpu-shares"),
    ("CpuPeriod", "--cpu-period"),
    ("CpuQuota", "--cpu-quota"),
    ("CpuRealtimePeriod", "--cpu-rt-period"),
    ("CpuRealtimeRuntime", "--cpu-rt-runtime"),
    ("CpusetCpus", "--cpuset-cpus"),
    ("CpusetMems", "--cpuset-mems"),
    ("BlkioWeight", "--blkio-weight"),
    ("BlkioWeightDevice", "--blkio-weight-device"),
    ("BlkioDeviceReadBps", "--device-read-bps"),
    ("BlkioDeviceWriteBps", "--device-write-bps"),
    ("BlkioDeviceReadIOps", "--device-read-iops"),
    ("BlkioDeviceWriteIOps", "--device-write-iops"),
    ("PidsLimit", "--pids-limit"),
    ("OomKillDisable", "--oom-kill-disable"),
    ("CgroupParent", "--cgroup-parent"),
    ("DeviceCgroupRules", "--device-cgroup-rule"),
)


def check_resources(host_config: dict[str, Any]) -> None:
    """InvalidArgument for the first limit ``host_config`` sets, in rootless mode."""
    if not rootless.active():
        return
    for field, flag in _LIMITS:
        if host_config.get(field) not in _UNLIMITED:
            raise InvalidArgument(
                f"{flag}: resource limits are not supported in rootless mode without cgroups v2"
            )


def check_cgroup_command(command: str) -> None:
    """NotSupported for a command that needs the container's cgroup, in rootless mode."""
    if rootless.active():
        raise NotSupported(f"{command} is not supported in rootless mode without cgroups v2")
