"""``docker update``: new limits and restart policy for an existing container.

The request's resources are checked as at create, merged into the container's
HostConfig by moby's rules (UpdateContainer: a zero value keeps what was set),
then written to the live cgroup when the container runs.
"""

from __future__ import annotations

from typing import Any

from dockyard.errors import Conflict

# HostConfig resources that ``docker update`` changes when the request gives a non-zero value.
_MERGED = (
    "BlkioWeight",
    "CpuShares",
    "NanoCpus",
    "CpuPeriod",
    "CpuQuota",
    "CpusetCpus",
    "CpusetMems",
    "MemoryReservation",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
)


def merge(hc: dict[str, Any], changes: dict[str, Any]) -> None:
    """Apply ``changes`` to ``hc`` in place, refusing what moby refuses (its UpdateContainer).

    Per-device blkio settings are not updated before API 1.55, as in moby.
    """
    _check_cpu_conflicts(hc, changes)
    for key in _MERGED:
        if changes.get(key):
            hc[key] = changes[key]
    memory = changes.get("Memory") or 0
    swap = changes.get("MemorySwap") or 0
    if memory:
        if memory > (hc.get("MemorySwap") or 0) and not swap:
            raise Conflict(
                "Memory limit should be smaller than already set memoryswap limit, "
                "update the memoryswap at the same time"
            )
        hc["Memory"] = memory
    if swap:
        hc["MemorySwap"] = swap
    if changes.get("PidsLimit") is not None:
        limit = changes["PidsLimit"]
        hc["PidsLimit"] = limit if limit > 0 else None
    policy = changes.get("RestartPolicy") or {}
    if policy.get("Name"):
        if hc.get("AutoRemove") and policy["Name"] != "no":
            raise Conflict(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
        hc["RestartPolicy"] = {
            "Name": policy["Name"],
            "MaximumRetryCount": policy.get("MaximumRetryCount") or 0,
        }


def lifted_limits(changes: dict[str, Any]) -> dict[str, Any]:
    """OCI resources that remove a limit, which the create-time mapping never writes."""
    lifted: dict[str, Any] = {}
    if changes.get("PidsLimit") is not None and changes["PidsLimit"] <= 0:
        lifted["pids"] = {"limit": -1}
    return lifted


def _check_cpu_conflicts(hc: dict[str, Any], changes: dict[str, Any]) -> None:
    pairs = (
        ("NanoCpus", "CpuPeriod", "Nano CPUs cannot be updated as CPU Period has already been set"),
        ("NanoCpus", "CpuQuota", "Nano CPUs cannot be updated as CPU Quota has already been set"),
        ("CpuPeriod", "NanoCpus", "CPU Period cannot be updated as NanoCPUs has already been set"),
        ("CpuQuota", "NanoCpus", "CPU Quota cannot be updated as NanoCPUs has already been set"),
    )
    for new, existing, message in pairs:
        if (changes.get(new) or 0) > 0 and (hc.get(existing) or 0) > 0:
            raise Conflict(f"Conflicting options: {message}")
