"""From a container's record to what its shim needs: the OCI spec and the files it mounts."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from dockyard.config import Paths
from dockyard.engine import volumes
from dockyard.engine.container import Container
from dockyard.errors import InvalidArgument
from dockyard.runtime import spec as oci
from dockyard.runtime.shim import ShimConfig
from dockyard.units import ram_in_bytes

MIN_MEMORY = 6 * 1024 * 1024
RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")
HOSTS_BASE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def cgroup_path(cid: str) -> str:
    return f"/dockyard/{cid}"


def validate(host_config: dict[str, Any]) -> None:
    """Refuse what Docker refuses at create time, with Docker's messages."""
    memory = host_config.get("Memory") or 0
    if 0 < memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    swap = host_config.get("MemorySwap") or 0
    if memory and 0 < swap < memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if (host_config.get("NanoCpus") or 0) < 0:
        raise InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available")
    policy = host_config.get("RestartPolicy") or {}
    if policy.get("Name", "no") not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy: unknown policy '{policy.get('Name')}'")
    if policy.get("Name") != "on-failure" and policy.get("MaximumRetryCount"):
        raise InvalidArgument(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if host_config.get("AutoRemove") and policy.get("Name") not in ("no", None, ""):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


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


def write_etc_files(c: Container) -> None:
    """The container's own /etc/hostname, /etc/hosts and /etc/resolv.conf."""
    hc = c.host_config
    hostname = c.config["Hostname"]
    host_mode = hc.get("NetworkMode") == "host"
    hosts = Path("/etc/hosts").read_text() if host_mode else HOSTS_BASE
    for entry in hc.get("ExtraHosts") or []:
        name, _, address = entry.partition(":")
        hosts += f"{address}\t{name}\n"
    _write(c.root / "hostname", hostname + "\n")
    _write(c.root / "hosts", hosts)
    _write(c.root / "resolv.conf", _resolv_conf(hc, host_mode))


def _resolv_conf(hc: dict[str, Any], host_mode: bool) -> str:
    try:
        lines = Path("/etc/resolv.conf").read_text().splitlines()
    except FileNotFoundError:
        lines = []
    if not host_mode:
        # A loopback resolver of the host means nothing inside the container's namespace.
        lines = [
            line
            for line in lines
            if not (
                line.startswith("nameserver")
                and line.split()[1:2] in (["127.0.0.1"], ["127.0.0.53"], ["::1"])
            )
        ]
    if hc.get("Dns"):
        lines = [line for line in lines if not line.startswith("nameserver")]
        lines += [f"nameserver {server}" for server in hc["Dns"]]
    if hc.get("DnsSearch"):
        lines = [line for line in lines if not line.startswith("search")]
        lines.append("search " + " ".join(hc["DnsSearch"]))
    if hc.get("DnsOptions"):
        lines.append("options " + " ".join(hc["DnsOptions"]))
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.rename(tmp, path)


def _network_mode(hc: dict[str, Any], containers: Any) -> str:
    mode = hc.get("NetworkMode") or "bridge"
    if mode == "host":
        return "host"
    if mode.startswith("container:"):
        other = containers.get(mode.split(":", 1)[1])
        if not other.running:
            raise InvalidArgument(f"cannot join network of a non running container: {other.id}")
        return f"/proc/{other.state['Pid']}/ns/net"
    return "private"


def spec_options(c: Container, network: str) -> oci.SpecOptions:
    hc, config = c.host_config, c.config
    mounts = [
        oci.bind_mount(str(c.root / "resolv.conf"), "/etc/resolv.conf"),
        oci.bind_mount(str(c.root / "hostname"), "/etc/hostname"),
        oci.bind_mount(str(c.root / "hosts"), "/etc/hosts"),
        *volumes.oci_mounts(c),
    ]
    args = c.command
    if hc.get("Init"):
        # Docker's --init: a tiny init as PID 1 that reaps zombies and forwards signals.
        if not os.path.exists(TINI):
            raise InvalidArgument(f"--init needs {TINI} (apt-get install tini)")
        mounts.append(oci.bind_mount(TINI, "/sbin/docker-init", readonly=True))
        args = ["/sbin/docker-init", "--", *args]
    return oci.SpecOptions(
        args=args,
        env=_with_defaults(config.get("Env") or [], config.get("Tty", False)),
        cwd=config.get("WorkingDir") or "/",
        terminal=bool(config.get("Tty")),
        hostname=config["Hostname"],
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        network=network,
        uts="host" if network == "host" else "private",
        cgroups_path=cgroup_path(c.id),
        mounts=mounts,
        cap_add=hc.get("CapAdd") or [],
        cap_drop=hc.get("CapDrop") or [],
        shm_size=hc.get("ShmSize") or oci.DEFAULT_SHM_SIZE,
        memory=hc.get("Memory") or 0,
        memory_swap=hc.get("MemorySwap") or 0,
        nano_cpus=hc.get("NanoCpus") or 0,
        cpu_period=hc.get("CpuPeriod") or 0,
        cpu_quota=hc.get("CpuQuota") or 0,
        cpu_shares=hc.get("CpuShares") or 0,
        pids_limit=hc.get("PidsLimit") or 0,
        sysctls=hc.get("Sysctls") or {},
        oom_score_adj=hc.get("OomScoreAdj") or 0,
    )


def _with_defaults(env: list[str], tty: bool) -> list[str]:
    """Docker adds PATH when the image has none, and TERM=xterm with a TTY."""
    names = {item.split("=", 1)[0] for item in env}
    extra = []
    if "PATH" not in names:
        extra.append("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if tty and "TERM" not in names:
        extra.append("TERM=xterm")
    return [*extra, *env]


def shim_config(c: Container, paths: Paths, runtime: str, containers: Any) -> ShimConfig:
    write_etc_files(c)
    spec = oci.docker_default_spec(spec_options(c, _network_mode(c.host_config, containers)))
    log_opts = c.host_config.get("LogConfig", {}).get("Config") or {}
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
        log_path=Path(c.record["LogPath"]),
        log_max_size=parse_size(log_opts.get("max-size", "0")),
        log_max_file=int(log_opts.get("max-file", "1")),
        runtime=runtime,
        runtime_root=paths.exec_root / "runc" if runtime != "builtin" else None,
    )


def parse_size(text: str) -> int:
    """A log-opt size like "10m" (go-units RAMInBytes: 1024-based)."""
    try:
        return ram_in_bytes(text.strip() or "0")
    except InvalidArgument:
        raise InvalidArgument(f"invalid max-size: {text}") from None
