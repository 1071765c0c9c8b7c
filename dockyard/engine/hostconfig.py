"""What create does with a HostConfig before it is stored, as moby does.

``verify`` refuses what Docker refuses at create (InvalidArgument with moby's
message: runconfig's decode checks, verifyContainerSettings), drops with
moby's warning what this host's cgroups cannot limit (verifyPlatform-
ContainerResources), and turns the names of the containers whose namespaces
are joined into their ids (adaptSharedNamespaceContainer). The warnings go
back in the create response, as Docker's do.
"""

from __future__ import annotations

import os
from typing import Any

from dockyard.engine import security
from dockyard.engine.namespaces import ContainerLookup
from dockyard.errors import InvalidArgument
from dockyard.rootless import limits
from dockyard.runtime.cgroups import Support

MIN_MEMORY = 6 * 1024 * 1024
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
IPC_MODES = ("", "none", "private", "host", "shareable")
MAX_CPUSET = 8192  # moby's cap on a cpuset list (CVE-2018-20699)
ENDPOINT_SYSCTLS = "com.docker.network.endpoint.sysctls"
_NO_QUOTA = "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"


def verify(
    hc: dict[str, Any],
    config: dict[str, Any],
    containers: ContainerLookup,
    support: Support | None = None,
) -> list[str]:
    """Check and adjust ``hc`` in place; return the warnings for the create response.

    ``support`` is what the host's cgroups can do (read from them when not given).
    """
    support = support or Support()
    limits.check_resources(hc)
    _check_decoded(hc, config, support)
    _check_restart_policy(hc)
    warnings = _verify_resources(hc, support)
    _check_modes(hc)
    _check_storage_opt(hc.get("StorageOpt") or {})
    security.parse(hc.get("SecurityOpt"))
    if (hc.get("ShmSize") or 0) < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    adjust = hc.get("OomScoreAdj") or 0
    if not -1000 <= adjust <= 1000:
        raise InvalidArgument(f"Invalid value {adjust}, range for oom score adj is [-1000, 1000]")
    if "" in (hc.get("Annotations") or {}):
        raise InvalidArgument(
            "invalid Annotations: the empty string is not permitted as an annotation key"
        )
    if hc.get("NetworkMode") == "host" and hc.get("PortBindings"):
        warnings.append("Published ports are discarded when using host network mode")
    _name_shared_namespaces(hc, containers)
    return warnings


def _check_decoded(hc: dict[str, Any], config: dict[str, Any], support: Support) -> None:
    """The API's checks while decoding the request (runconfig, the create route)."""
    if hc.get("UTSMode") == "host" and config.get("Hostname"):
        raise InvalidArgument("conflicting options: hostname and the UTS mode")
    isolation = hc.get("Isolation") or ""
    if isolation.lower() not in ("", "default"):
        raise InvalidArgument(f"invalid isolation ({isolation}): linux only supports 'default'")
    if hc.get("IOMaximumBandwidth"):
        raise InvalidArgument(
            "invalid option: QoS maximum bandwidth configuration is not supported on linux"
        )
    if hc.get("IOMaximumIOps"):
        raise InvalidArgument(
            "invalid option: QoS maximum IOPs configuration is not supported on linux"
        )
    period, runtime = hc.get("CpuRealtimePeriod") or 0, hc.get("CpuRealtimeRuntime") or 0
    if (period or runtime) and not support.cpu_realtime:
        raise InvalidArgument("kernel does not support CPU real-time scheduler")
    if period and runtime and runtime > period:
        raise InvalidArgument("cpu real-time runtime cannot be higher than cpu real-time period")
    if (hc.get("CpuShares") or 0) < 0:
        raise InvalidArgument(
            f"invalid CPU shares ({hc['CpuShares']}): value must be a positive integer"
        )
    if hc.get("PidsLimit") is not None and hc["PidsLimit"] <= 0:
        hc["PidsLimit"] = None  # 0 and -1 both mean unlimited
    hc.pop("KernelMemory", None)  # dropped by moby since API 1.42
    private_network = (hc.get("NetworkMode") or "") != "host" and not (
        hc.get("NetworkMode") or ""
    ).startswith("container:")
    for key in hc.get("Sysctls") or {}:
        parts = key.split(".", 4)
        if private_network and len(parts) == 5 and parts[0] == "net" and parts[3][:3] == "eth":
            raise InvalidArgument(
                f'interface specific sysctl setting "{key}" must be supplied using '
                f"driver option '{ENDPOINT_SYSCTLS}'"
            )


def _check_restart_policy(hc: dict[str, Any]) -> None:
    policy = hc.get("RestartPolicy") or {}
    if policy.get("Name", "no") not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy: unknown policy '{policy.get('Name')}'")
    if policy.get("Name") != "on-failure" and policy.get("MaximumRetryCount"):
        raise InvalidArgument(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if hc.get("AutoRemove") and policy.get("Name") not in ("no", None, ""):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


def verify_update(changes: dict[str, Any], support: Support | None = None) -> list[str]:
    """The checks of ``docker update``'s request: moby's verifyContainerSettings(update=true)."""
    limits.check_resources(changes)
    policy = changes.get("RestartPolicy") or {}
    if policy.get("Name"):  # the docker CLI sends an empty policy when --restart is not given
        _check_restart_policy({"RestartPolicy": policy})
    return _verify_resources(changes, support or Support(), update=True)


def _verify_resources(hc: dict[str, Any], support: Support, update: bool = False) -> list[str]:
    """moby's verifyPlatformContainerResources, check for check and warning for warning."""
    warnings = _verify_memory(hc, support, update)
    warnings += _verify_cpu(hc, support)
    warnings += _verify_cpuset(hc, support)
    warnings += _verify_blkio(hc, support)
    return warnings


def _verify_memory(hc: dict[str, Any], support: Support, update: bool) -> list[str]:
    warnings = []
    if hc.get("MemorySwappiness") == -1:
        hc["MemorySwappiness"] = None
    memory, swap = hc.get("Memory") or 0, hc.get("MemorySwap") or 0
    if memory and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and not support.memory:
        warnings.append(
            "Your kernel does not support memory limit capabilities or the cgroup is not "
            "mounted. Limitation discarded."
        )
        hc["Memory"], hc["MemorySwap"] = memory, swap = 0, -1
    if memory > 0 and swap != -1 and not support.swap:
        warnings.append(
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
            "Memory limited without swap."
        )
        hc["MemorySwap"] = swap = -1
    if memory > 0 and 0 < swap < memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if memory == 0 and swap > 0 and not update:
        raise InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    if hc.get("MemorySwappiness") is not None and not support.memory_swappiness:
        warnings.append(
            "Your kernel does not support memory swappiness capabilities or the cgroup is not "
            "mounted. Memory swappiness discarded."
        )
        hc["MemorySwappiness"] = None
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and not 0 <= swappiness <= 100:
        raise InvalidArgument(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100"
        )
    reservation = hc.get("MemoryReservation") or 0
    if reservation > 0 and not support.memory_reservation:
        warnings.append(
            "Your kernel does not support memory soft limit capabilities or the cgroup is not "
            "mounted. Limitation discarded."
        )
        hc["MemoryReservation"] = reservation = 0
    if 0 < reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    if hc.get("OomKillDisable") is not None and not support.oom_kill_disable:
        if hc["OomKillDisable"]:
            warnings.append(
                "Your kernel does not support OomKillDisable. OomKillDisable discarded."
            )
        hc["OomKillDisable"] = None
    if hc.get("OomKillDisable") and memory == 0:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, this can "
            "result in the system running out of resources."
        )
    if hc.get("OomKillDisable") is None and not update:
        hc["OomKillDisable"] = False  # moby's adaptContainerSettings
    if hc.get("PidsLimit") is not None and not support.pids:
        if hc["PidsLimit"] > 0:
            warnings.append(
                "Your kernel does not support PIDs limit capabilities or the cgroup is not "
                "mounted. PIDs limit discarded."
            )
        hc["PidsLimit"] = None
    return warnings


def _verify_cpu(hc: dict[str, Any], support: Support) -> list[str]:
    warnings = []
    nano, period, quota = hc.get("NanoCpus") or 0, hc.get("CpuPeriod") or 0, hc.get("CpuQuota") or 0
    if nano > 0 and period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano > 0 and not support.cpu_cfs:
        raise InvalidArgument(
            "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the "
            "cgroup is not mounted"
        )
    cpus = len(os.sched_getaffinity(0))
    if nano and not 0 < nano <= cpus * 1_000_000_000:
        raise InvalidArgument(
            f"range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )
    if (hc.get("CpuShares") or 0) > 0 and not support.cpu_shares:
        warnings.append(
            "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded."
        )
        hc["CpuShares"] = 0
    if (period or quota) and not support.cpu_cfs:
        warnings.append(
            "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded."
        )
        hc["CpuPeriod"] = hc["CpuQuota"] = period = quota = 0
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if (hc.get("CpuPercent") or 0) > 0:
        warnings.append("linux does not support CPU percent. Percent discarded.")
        hc["CpuPercent"] = 0
    return warnings


def _verify_cpuset(hc: dict[str, Any], support: Support) -> list[str]:
    warnings = []
    if (hc.get("CpusetCpus") or hc.get("CpusetMems")) and not support.cpuset:
        warnings.append(
            "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."
        )
        hc["CpusetCpus"] = hc["CpusetMems"] = ""
    for key, what, available, unavailable in (
        ("CpusetCpus", "cpus", support.cpus, "CPUs"),
        ("CpusetMems", "mems", support.mems, "memory nodes"),
    ):
        requested = hc.get(key) or ""
        allowed = parse_uint_list(available)
        try:
            wanted = parse_uint_list(requested, max(MAX_CPUSET, *allowed, 0))
        except ValueError as exc:
            raise InvalidArgument(f"Invalid value {requested} for cpuset {what}: {exc}") from None
        if not wanted <= allowed:
            raise InvalidArgument(
                f"Requested {unavailable} are not available - requested {requested}, "
                f"available: {available}"
            )
    return warnings


def parse_uint_list(text: str, maximum: int = 0) -> set[int]:
    """A cpuset list such as "0-2,4" (moby's parsers.ParseUintList); ValueError with its text."""
    if not text:
        return set()
    numbers: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise ValueError(f"invalid format: {text}") from None
        if last < first:
            raise ValueError(f"invalid format: {text}")
        if maximum and last > maximum:
            raise ValueError(f"value of out range, maximum is {maximum}")
        numbers.update(range(first, last + 1))
    return numbers


def _verify_blkio(hc: dict[str, Any], support: Support) -> list[str]:
    warnings = []
    weight = hc.get("BlkioWeight") or 0
    if weight > 0 and not support.blkio_weight:
        warnings.append(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. "
            "Weight discarded."
        )
        hc["BlkioWeight"] = weight = 0
    if weight > 0 and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    if hc.get("BlkioWeightDevice") and not support.blkio_weight_device:
        warnings.append(
            "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. "
            "Weight-device discarded."
        )
        hc["BlkioWeightDevice"] = []
    for key, what, short in (
        ("BlkioDeviceReadBps", "BPS Block I/O read limit", "BPS read limit"),
        ("BlkioDeviceWriteBps", "BPS Block I/O write limit", "BPS write limit"),
        ("BlkioDeviceReadIOps", "IOPS Block read limit", "IOPS read limit"),
        ("BlkioDeviceWriteIOps", "IOPS Block write limit", "IOPS write limit"),
    ):
        if hc.get(key) and not support.blkio_throttle:
            warnings.append(
                f"Your kernel does not support {what} or the cgroup is not mounted. "
                f"Block I/O {short} discarded."
            )
            hc[key] = []
    return warnings


def _check_modes(hc: dict[str, Any]) -> None:
    """The namespace modes moby accepts (IpcMode, PidMode, UTSMode, CgroupnsMode .Valid())."""
    ipc = hc.get("IpcMode") or ""
    if ipc not in IPC_MODES and not ipc.startswith("container:"):
        raise InvalidArgument(f"invalid IPC mode: {ipc}")
    pid = hc.get("PidMode") or ""
    if pid not in ("", "host") and not (pid.startswith("container:") and pid != "container:"):
        raise InvalidArgument(f"invalid PID mode: {pid}")
    uts = hc.get("UTSMode") or ""
    if uts not in ("", "host"):
        raise InvalidArgument(f"invalid UTS mode: {uts}")
    cgroupns = hc.get("CgroupnsMode") or ""
    if cgroupns not in ("", "private", "host"):
        raise InvalidArgument(f"invalid cgroup namespace mode: {cgroupns}")


def _check_storage_opt(options: dict[str, str]) -> None:
    """overlay2's options: "size" needs xfs project quotas, which this engine lacks."""
    names = [key.lower() for key in options]
    if "size" in names:
        raise InvalidArgument(_NO_QUOTA)
    if names:
        raise InvalidArgument(f"Unknown option {names[0]}")


def _name_shared_namespaces(hc: dict[str, Any], containers: ContainerLookup) -> None:
    """container:<name> → container:<id> for --pid and --ipc, so a rename keeps the link.

    A container that does not exist is refused here, as moby's create does.
    """
    for key in ("PidMode", "IpcMode"):
        mode = hc.get(key) or ""
        if mode.startswith("container:"):
            hc[key] = "container:" + containers.get(mode.split(":", 1)[1]).id
