"""From a container's record to what its shim needs: the OCI spec and the files it mounts."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dockyard import rootless
from dockyard.config import Paths
from dockyard.engine import namespaces, security, volumes
from dockyard.engine.container import Container
from dockyard.engine.logdrivers import WriterSettings
from dockyard.errors import InvalidArgument, SystemError
from dockyard.runtime import spec as oci
from dockyard.runtime.overlay import OVERLAY2
from dockyard.runtime.shim import ShimConfig

if TYPE_CHECKING:
    from dockyard.engine.discovery import Discovery
    from dockyard.engine.legacylinks import LegacyLinks


class SpecNetworks(Protocol):
    """The network service as a container's spec needs it (engine/networks.py): its
    /etc files and its links' variables."""

    @property
    def discovery(self) -> Discovery: ...
    @property
    def legacy_links(self) -> LegacyLinks: ...


def cgroup_path(cid: str, parent: str = "") -> str:
    """moby's cgroupfs path: the id under --cgroup-parent (relative: under ours), or /dockyard.

    None in rootless mode: cgroup v1 delegates nothing to a user (docs/rootless.md).
    """
    if rootless.active():
        return ""
    return os.path.normpath(os.path.join(parent or "/dockyard", cid))


def container_cgroup_path(c: Container) -> str:
    return cgroup_path(c.id, c.host_config.get("CgroupParent") or "")


def default_hostname(cid: str, host_config: dict[str, Any]) -> str:
    if host_config.get("NetworkMode") == "host":
        return socket.gethostname()
    return cid[:12]


def port_list(c: Container) -> list[dict]:
    """The Ports of a `ps` summary: exposed ports, with host bindings once published."""
    ports = []
    published = c.record["NetworkSettings"].get("Ports") or {}
    for spec in sorted(c.config.get("ExposedPorts") or {}):
        number, _, proto = spec.partition("/")
        bindings = published.get(spec) or []
        if not bindings:
            ports.append({"PrivatePort": int(number), "Type": proto or "tcp"})
        for b in bindings:
            ports.append(
                {
                    "IP": b.get("HostIp") or "0.0.0.0",
                    "PrivatePort": int(number),
                    "PublicPort": int(b["HostPort"]),
                    "Type": proto or "tcp",
                }
            )
    return ports


# The init layer: mount points the runtime needs, so that mounting over them writes
# nothing into the container's own layer (what `diff`, `commit` and builds see).
INIT_DIRS = ("proc", "sys", "dev", "dev/pts", "dev/shm", "dev/mqueue", "etc")
INIT_FILES = (".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "dev/console")
TINI = "/usr/bin/tini-static"


INIT_LINKS = (("etc/mtab", "/proc/mounts"),)  # moby's initlayer: tools read mounts from /etc/mtab


def make_init_layer(root: Path) -> Path:
    init = root / "init"
    for name in INIT_DIRS:
        (init / name).mkdir(parents=True, exist_ok=True)
    for name in INIT_FILES:
        (init / name).touch()
    for name, target in INIT_LINKS:
        if not (init / name).is_symlink():
            (init / name).symlink_to(target)
    return init


def write_etc_files(c: Container, hosts: str, resolv_conf: str) -> None:
    """The container's own /etc/hostname, /etc/hosts and /etc/resolv.conf."""
    _write(c.root / "hostname", c.config["Hostname"] + "\n")
    _write(c.root / "hosts", hosts)
    _write(c.root / "resolv.conf", resolv_conf)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.rename(tmp, path)


def _ulimits(hc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {u["Name"]: (u.get("Soft", 0), u.get("Hard", 0)) for u in hc.get("Ulimits") or []}


def _block_io(hc: dict[str, Any]) -> dict:
    """The blkio settings as OCI blockIO, device paths turned into major:minor (moby's getBlkio*)."""
    block_io: dict[str, Any] = {}
    if hc.get("BlkioWeight"):
        block_io["weight"] = hc["BlkioWeight"]
    if hc.get("BlkioWeightDevice"):
        block_io["weightDevice"] = [
            {**_device_numbers(d["Path"]), "weight": d["Weight"]} for d in hc["BlkioWeightDevice"]
        ]
    for field_name, key in (
        ("BlkioDeviceReadBps", "throttleReadBpsDevice"),
        ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
        ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
        ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice"),
    ):
        if hc.get(field_name):
            block_io[key] = [
                {**_device_numbers(d["Path"]), "rate": d["Rate"]} for d in hc[field_name]
            ]
    return block_io


def _device_numbers(path: str) -> dict[str, int]:
    try:
        rdev = os.stat(path).st_rdev
    except OSError as exc:
        raise SystemError(f"stat {path}: {os.strerror(exc.errno or 0).lower()}") from None
    return {"major": os.major(rdev), "minor": os.minor(rdev)}


def _refuse_device_requests(hc: dict[str, Any]) -> None:
    """--gpus: this engine has no device drivers (moby's handleDevice finds none)."""
    for request in hc.get("DeviceRequests") or []:
        capabilities = " ".join(
            "[" + " ".join(group) + "]" for group in request.get("Capabilities") or []
        )
        raise InvalidArgument(
            f'could not select device driver "{request.get("Driver") or ""}" '
            f"with capabilities: [{capabilities}]"
        )


@dataclass(frozen=True)
class ContainerDefaults:
    """What the daemon's configuration (daemon.json) gives a container naming none of its own."""

    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    ulimits: dict[str, tuple[int, int]] = field(default_factory=dict)  # per name: soft, hard
    runtime: str = ""  # "": the built-in default
    seccomp: str = security.SECCOMP_DEFAULT  # "builtin", "unconfined" or a profile's JSON
    storage_driver: str = OVERLAY2  # what mounts its root (runtime/storagedriver.py)


def spec_options(
    c: Container,
    network: str,
    containers: namespaces.ContainerLookup,
    link_env: list[str],
    defaults: ContainerDefaults,
) -> oci.SpecOptions:
    hc, config = c.host_config, c.config
    _refuse_device_requests(hc)
    privileged = bool(hc.get("Privileged"))
    securities = security.parse(hc.get("SecurityOpt"))
    mounts = [
        oci.bind_mount(str(c.root / "resolv.conf"), "/etc/resolv.conf"),
        oci.bind_mount(str(c.root / "hostname"), "/etc/hostname"),
        oci.bind_mount(str(c.root / "hosts"), "/etc/hosts"),
        *volumes.oci_mounts(c),
    ]
    ipc, shm = namespaces.ipc_mode(c, containers)
    if shm and not any(m["destination"] == "/dev/shm" for m in mounts):
        mounts.append(oci.bind_mount(shm, "/dev/shm"))
    args = c.command
    if hc.get("Init"):
        # Docker's --init: a tiny init as PID 1 that reaps zombies and forwards signals.
        if not os.path.exists(TINI):
            raise InvalidArgument(f"--init needs {TINI} (apt-get install tini)")
        mounts.append(oci.bind_mount(TINI, "/sbin/docker-init", readonly=True))
        args = ["/sbin/docker-init", "--", *args]
    uts = "host" if hc.get("UTSMode") == "host" else "private"
    sysctls = dict(hc.get("Sysctls") or {})
    if config.get("Domainname"):
        sysctls["kernel.domainname"] = config["Domainname"]  # no OCI field for it (moby)
    console = hc.get("ConsoleSize") or [0, 0]
    return oci.SpecOptions(
        args=args,
        env=_with_defaults(config.get("Env") or [], config.get("Tty", False), link_env),
        cwd=config.get("WorkingDir") or "/",
        terminal=bool(config.get("Tty")),
        hostname="" if uts == "host" else config["Hostname"],
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        pid=namespaces.pid_mode(hc, containers),
        network=network,
        ipc=ipc,
        uts=uts,
        cgroupns=hc.get("CgroupnsMode") or "private",
        cgroups_path=container_cgroup_path(c),
        mounts=mounts,
        dev_shm=hc.get("IpcMode") != "none",
        privileged=bool(hc.get("Privileged")),
        devices=hc.get("Devices") or [],
        device_cgroup_rules=hc.get("DeviceCgroupRules") or [],
        cap_add=hc.get("CapAdd") or [],
        cap_drop=hc.get("CapDrop") or [],
        sysctls=sysctls,
        ulimits={**defaults.ulimits, **_ulimits(hc)},
        oom_score_adj=hc.get("OomScoreAdj") or 0,
        shm_size=hc.get("ShmSize") or oci.DEFAULT_SHM_SIZE,
        **_resource_options(hc),
        console_size=(console[0], console[1]) if any(console) else None,
        annotations=hc.get("Annotations") or {},
        masked_paths=hc.get("MaskedPaths"),
        readonly_paths=hc.get("ReadonlyPaths"),
        no_new_privileges=securities.no_new_privileges,
        seccomp=security.seccomp(securities, privileged, defaults.seccomp),
        writable_cgroups=securities.writable_cgroups,
    )


def _resource_options(hc: dict[str, Any]) -> dict[str, Any]:
    """The SpecOptions that are cgroup limits: what create and ``docker update`` share."""
    return {
        "memory": hc.get("Memory") or 0,
        "memory_swap": hc.get("MemorySwap") or 0,
        "memory_reservation": hc.get("MemoryReservation") or 0,
        "memory_swappiness": hc.get("MemorySwappiness"),
        "oom_kill_disable": bool(hc.get("OomKillDisable")),
        "nano_cpus": hc.get("NanoCpus") or 0,
        "cpu_period": hc.get("CpuPeriod") or 0,
        "cpu_quota": hc.get("CpuQuota") or 0,
        "cpu_shares": hc.get("CpuShares") or 0,
        "cpu_rt_period": hc.get("CpuRealtimePeriod") or 0,
        "cpu_rt_runtime": hc.get("CpuRealtimeRuntime") or 0,
        "cpuset_cpus": hc.get("CpusetCpus") or "",
        "cpuset_mems": hc.get("CpusetMems") or "",
        "block_io": _block_io(hc),
        "pids_limit": hc.get("PidsLimit") or 0,
    }


def cgroup_resources(hc: dict[str, Any]) -> dict:
    """OCI ``linux.resources`` for ``hc``'s limits, without device rules (``docker update``)."""
    spec = oci.docker_default_spec(oci.SpecOptions(args=[], **_resource_options(hc)))
    resources: dict = spec["linux"]["resources"]
    resources.pop("devices", None)
    return resources


def _with_defaults(env: list[str], tty: bool, link_env: list[str]) -> list[str]:
    """Docker adds PATH when the image has none, TERM=xterm with a TTY, and the variables
    of the legacy links, all of which the container's own environment overrides."""
    names = {item.split("=", 1)[0] for item in env}
    extra = []
    if "PATH" not in names:
        extra.append("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if tty and "TERM" not in names:
        extra.append("TERM=xterm")
    extra += [item for item in link_env if item.split("=", 1)[0] not in names]
    return [*extra, *env]


def shim_config(
    c: Container,
    paths: Paths,
    runtime: str,
    containers: namespaces.ContainerLookup,
    networks: SpecNetworks,
    log: WriterSettings,
    defaults: ContainerDefaults,
) -> ShimConfig:
    network_mode = namespaces.network_mode(c.host_config, containers)
    write_etc_files(c, *networks.discovery.etc_files(c))
    spec = oci.docker_default_spec(
        spec_options(c, network_mode, containers, networks.legacy_links.env(c), defaults)
    )
    return ShimConfig(
        id=c.id,
        bundle=c.root,
        exec_dir=paths.exec_root / c.id,
        spec=spec,
        user=c.config.get("User") or "",
        lowerdirs=[make_init_layer(c.root), *c.lowerdirs],
        upper=c.root / "upper",
        work=c.root / "work",
        tty=bool(c.config.get("Tty")),
        open_stdin=bool(c.config.get("OpenStdin")),
        stdin_once=bool(c.config.get("StdinOnce")),
        log_path=log.path,
        log_max_size=log.max_size,
        log_max_file=log.max_file,
        log_compress=log.compress,
        log_attrs=log.attrs,
        runtime=runtime,
        runtime_root=paths.exec_root / "runc" if runtime != "builtin" else None,
        group_add=c.host_config.get("GroupAdd") or [],
        storage_driver=defaults.storage_driver,
        shm_size=(
            c.host_config.get("ShmSize") or oci.DEFAULT_SHM_SIZE
            if c.host_config.get("IpcMode") == "shareable"
            else 0
        ),
    )
