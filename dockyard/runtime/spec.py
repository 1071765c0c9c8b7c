"""The OCI runtime config that Docker would write for a container.

``docker_default_spec`` follows moby's ``oci.DefaultLinuxSpec`` and the
``daemon/oci_linux.go`` options applied on top of it (namespaces, mounts,
capabilities, seccomp, sysctls, rlimits, resources, cgroups path, user, process).
The result is plain OCI: runc runs it unchanged.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument
from dockyard.runtime import capabilities, devices, linux, seccomp_profile
from dockyard.runtime.cgroups import swap_limit_supported
from dockyard.runtime.seccomp_default import default_profile

OCI_VERSION = "1.0.2"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
# What a Docker 25+ container gets from containerd's unit (moby#45534): a low soft
# limit that old programs can loop over, a high hard limit for those that need more.
NOFILE_SOFT = 1024
NOFILE_HARD = 524288
CPU_PERIOD = 100_000

_MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
)
DEFAULT_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# Mounts that stay writable under --read-only (moby withMounts).
_WRITABLE_WITH_READONLY_ROOT = ("/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev")
_NETWORK_SYSCTLS = {
    "net.ipv4.ping_group_range": "0 2147483647",
    "net.ipv4.ip_unprivileged_port_start": "0",
}


@dataclass
class SpecOptions:
    """What `docker create` flags decide about the OCI config.

    Namespace modes (``pid``, ``network``, ``ipc``, ``uts``) are "private" (a new
    namespace), "host" (share the engine's) or the path of a namespace file such
    as ``/proc/<pid>/ns/net`` (join it: ``--network container:<id>``).
    ``cgroupns`` is "private" or "host". ``dev_shm`` False leaves out the
    /dev/shm tmpfs (``--ipc none``); a mount in ``mounts`` at /dev/shm replaces it.
    ``devices`` are HostConfig.Devices entries (PathOnHost, PathInContainer,
    CgroupPermissions); ``device_cgroup_rules`` HostConfig.DeviceCgroupRules
    ("c 42:* rmw").
    ``seccomp`` is a seccomp profile in Docker's format (Docker's default unless
    given), resolved against the container's capabilities; None runs the container
    without a filter.
    """

    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    terminal: bool = False
    hostname: str = ""
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    root_path: str = "rootfs"
    readonly_rootfs: bool = False
    pid: str = "private"
    network: str = "private"
    ipc: str = "private"
    uts: str = "private"
    cgroupns: str = "private"
    cgroups_path: str = ""
    mounts: list[dict] = field(default_factory=list)  # OCI mounts: binds, volumes, tmpfs
    privileged: bool = False
    devices: list[dict] = field(default_factory=list)
    device_cgroup_rules: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    no_new_privileges: bool = False
    seccomp: dict | None = field(default_factory=default_profile)
    writable_cgroups: bool | None = None  # None: writable when privileged (moby's default)
    sysctls: dict[str, str] = field(default_factory=dict)
    ulimits: dict[str, tuple[int, int]] = field(default_factory=dict)  # "nofile": (soft, hard)
    oom_score_adj: int = 0
    shm_size: int = DEFAULT_SHM_SIZE
    memory: int = 0
    memory_swap: int = 0  # 0: twice --memory (Docker's default); -1: unlimited
    nano_cpus: int = 0  # --cpus × 1e9
    cpu_period: int = 0
    cpu_quota: int = 0
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int = 0  # 0 or less: unlimited
    dev_shm: bool = True
    memory_reservation: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool = False
    cpu_rt_period: int = 0
    cpu_rt_runtime: int = 0
    block_io: dict = field(default_factory=dict)  # OCI linux.resources.blockIO
    console_size: tuple[int, int] | None = None  # (height, width) of the first terminal
    annotations: dict[str, str] = field(default_factory=dict)
    masked_paths: list[str] | None = None  # None: Docker's
    readonly_paths: list[str] | None = None  # None: Docker's


def docker_default_spec(opts: SpecOptions) -> dict:
    """The OCI config (config.json) for ``opts``, as moby would produce it.

    Privileged, nothing is masked or read-only (moby's withMounts).
    """
    nodes, device_rules = devices.docker_devices(
        opts.privileged, opts.devices, opts.device_cgroup_rules
    )
    process = _process(opts)
    linux = {
        "sysctl": _sysctls(opts),
        "resources": _resources(opts, device_rules),
        "cgroupsPath": opts.cgroups_path,
        "namespaces": _namespaces(opts),
        "devices": nodes,
        "maskedPaths": _masked_paths(opts),
        "readonlyPaths": _readonly_paths(opts),
    }
    if opts.seccomp is not None:
        # moby resolves the profile once the capabilities are final (WithSeccomp after
        # WithCapabilities): rules for CAP_SYS_ADMIN & co follow the bounding set.
        resolved = seccomp_profile.to_oci(opts.seccomp, process["capabilities"]["bounding"])
        if resolved is not None:
            linux["seccomp"] = resolved
    spec = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": opts.root_path, "readonly": opts.readonly_rootfs},
        "hostname": opts.hostname,
        "mounts": _mounts(opts),
        "linux": linux,
    }
    if opts.annotations:
        spec["annotations"] = dict(opts.annotations)
    return spec


def _process(opts: SpecOptions) -> dict:
    caps = (
        capabilities.all_capabilities()
        if opts.privileged
        else capabilities.tweak(opts.cap_add, opts.cap_drop)
    )
    process = {
        "terminal": opts.terminal,
        "user": {"uid": opts.uid, "gid": opts.gid, "additionalGids": list(opts.additional_gids)},
        "args": list(opts.args),
        "env": list(opts.env),
        "cwd": opts.cwd or "/",
        "capabilities": {"bounding": caps, "effective": list(caps), "permitted": list(caps)},
        "rlimits": _rlimits(opts.ulimits),
        "noNewPrivileges": opts.no_new_privileges,
        "oomScoreAdj": opts.oom_score_adj,
    }
    if opts.terminal and opts.console_size:
        process["consoleSize"] = {"height": opts.console_size[0], "width": opts.console_size[1]}
    return process


def _rlimits(ulimits: dict[str, tuple[int, int]]) -> list[dict]:
    """--ulimit values, plus Docker's RLIMIT_NOFILE when none is given.

    The default hard limit is capped at ours: without CAP_SYS_RESOURCE the
    container could not be given a higher one.
    """
    limits = {f"RLIMIT_{name.upper()}": (soft, hard) for name, (soft, hard) in ulimits.items()}
    for name, (soft, hard) in limits.items():
        if not hasattr(resource, name):
            raise InvalidArgument(f"invalid ulimit type: {name[len('RLIMIT_') :].lower()}")
        if soft > hard:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
    if "RLIMIT_NOFILE" not in limits:
        current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard = (
            NOFILE_HARD
            if current_hard == resource.RLIM_INFINITY
            else min(NOFILE_HARD, current_hard)
        )
        limits["RLIMIT_NOFILE"] = (min(NOFILE_SOFT, hard), hard)
    return [{"type": name, "soft": soft, "hard": hard} for name, (soft, hard) in limits.items()]


def _default_mounts(opts: SpecOptions) -> list[dict]:
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={opts.shm_size}"],
        },
    ]


def _mounts(opts: SpecOptions) -> list[dict]:
    """Docker's default mounts, minus those a user mount replaces, then the user mounts.

    User mounts go parents first (fewest path components), so a volume inside
    another volume lands on top of it. Privileged, /sys and the cgroup mount are
    writable, even with a read-only root.
    """
    user_destinations = {os.path.normpath(m["destination"]) for m in opts.mounts}
    user_dev = "/dev" in user_destinations
    mounts = []
    for m in _default_mounts(opts):
        if m["destination"] in user_destinations or (
            user_dev and m["destination"].startswith("/dev/")
        ):
            continue
        if m["destination"] == "/dev/shm" and not opts.dev_shm:
            continue
        if (
            opts.readonly_rootfs
            and m["destination"] not in _WRITABLE_WITH_READONLY_ROOT
            and "ro" not in m["options"]
        ):
            m["options"].append("ro")
        if opts.privileged and m["destination"] == "/sys":
            m["options"] = [o for o in m["options"] if o != "ro"]
        writable_cgroups = (
            opts.privileged if opts.writable_cgroups is None else opts.writable_cgroups
        )
        if writable_cgroups and m["type"] == "cgroup":
            m["options"].remove("ro")  # last, as moby clears it: even under --read-only
        mounts.append(m)
    user = sorted(opts.mounts, key=lambda m: len(os.path.normpath(m["destination"]).split("/")))
    return mounts + [dict(m) for m in user]


def bind_mount(
    source: str, destination: str, readonly: bool = False, propagation: str = "rprivate"
) -> dict:
    """The OCI mount Docker writes for a bind mount or volume (``-v SRC:DST[:ro]``)."""
    options = ["rbind", "ro" if readonly else "rw", propagation]
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def _namespaces(opts: SpecOptions) -> list[dict]:
    modes = (
        ("mount", "private"),
        ("network", opts.network),
        ("uts", opts.uts),
        ("pid", opts.pid),
        ("ipc", opts.ipc),
        ("cgroup", opts.cgroupns),
    )
    namespaces = []
    for kind, mode in modes:
        if mode == "private":
            namespaces.append({"type": kind})
        elif mode.startswith("/") and kind != "cgroup":
            namespaces.append({"type": kind, "path": mode})
        elif mode != "host":
            raise InvalidArgument(f"invalid {kind} namespace mode: {mode}")
    return namespaces


def _sysctls(opts: SpecOptions) -> dict[str, str]:
    sysctls = {}
    if opts.network == "private":
        sysctls = {
            k: v
            for k, v in _NETWORK_SYSCTLS.items()
            if os.path.exists("/proc/sys/" + k.replace(".", "/"))
        }
        # As moby: a user namespace (rootless mode) maps too few groups for the whole range.
        if linux.running_in_user_namespace():
            sysctls.pop("net.ipv4.ping_group_range", None)
    sysctls.update(opts.sysctls)
    return sysctls


def _masked_paths(opts: SpecOptions) -> list[str]:
    """None when privileged, else HostConfig.MaskedPaths when given, else Docker's list."""
    if opts.privileged:
        return []
    if opts.masked_paths is not None:
        return list(opts.masked_paths)
    return default_masked_paths()


def _readonly_paths(opts: SpecOptions) -> list[str]:
    if opts.privileged:
        return []
    return list(DEFAULT_READONLY_PATHS if opts.readonly_paths is None else opts.readonly_paths)


def default_masked_paths() -> list[str]:
    """Docker's list, plus each CPU's thermal_throttle directory (GHSA-6fw5-f8r9-fgfm)."""
    paths = list(_MASKED_PATHS)
    for cpu in range(os.cpu_count() or 1):
        throttle = f"/sys/devices/system/cpu/cpu{cpu}/thermal_throttle"
        if os.path.exists(throttle):
            paths.append(throttle)
    return paths


def _resources(opts: SpecOptions, device_rules: list[dict]) -> dict:
    resources: dict = {"devices": device_rules}
    memory = _memory(opts)
    if memory:
        resources["memory"] = memory
    cpu = _cpu(opts)
    if cpu:
        resources["cpu"] = cpu
    if opts.block_io:
        resources["blockIO"] = dict(opts.block_io)
    if opts.pids_limit > 0:
        resources["pids"] = {"limit": opts.pids_limit}
    return resources


def _memory(opts: SpecOptions) -> dict:
    memory: dict = {}
    if opts.memory_reservation:
        memory["reservation"] = opts.memory_reservation
    if opts.memory_swappiness is not None:
        memory["swappiness"] = opts.memory_swappiness
    if opts.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if not opts.memory:
        return memory
    memory["limit"] = opts.memory
    if opts.memory_swap > 0 and opts.memory_swap < opts.memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if not swap_limit_supported():
        return memory
    if opts.memory_swap == 0:
        memory["swap"] = 2 * opts.memory
    else:
        memory["swap"] = opts.memory_swap
    return memory


def _cpu(opts: SpecOptions) -> dict:
    cpu: dict = {}
    if opts.nano_cpus:
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = opts.nano_cpus * CPU_PERIOD // 1_000_000_000
    if opts.cpu_period:
        cpu["period"] = opts.cpu_period
    if opts.cpu_quota:
        cpu["quota"] = opts.cpu_quota
    if opts.cpu_shares:
        cpu["shares"] = opts.cpu_shares
    if opts.cpu_rt_period:
        cpu["realtimePeriod"] = opts.cpu_rt_period
    if opts.cpu_rt_runtime:
        cpu["realtimeRuntime"] = opts.cpu_rt_runtime
    if opts.cpuset_cpus:
        cpu["cpus"] = opts.cpuset_cpus
    if opts.cpuset_mems:
        cpu["mems"] = opts.cpuset_mems
    return cpu
