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


def make_init_layer(root: Path) -> Path:
    init = root / "init"
    for name in INIT_DIRS:
        (init / name).mkdir(parents=True, exist_ok=True)
    for name in INIT_FILES:
        (init / name).touch()
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


def spec_options(c: Container, network: str, link_env: list[str]) -> oci.SpecOptions:
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
        env=_with_defaults(config.get("Env") or [], config.get("Tty", False), link_env),
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
    c: Container, image: Any, paths: Paths, runtime: str, containers: Any
) -> ShimConfig:
    networks = containers.networks
    network_mode = _network_mode(c.host_config, containers)
    write_etc_files(c, *networks.discovery.etc_files(c))
    spec = oci.docker_default_spec(spec_options(c, network_mode, networks.legacy_links.env(c)))
    log_opts = c.host_config.get("LogConfig", {}).get("Config") or {}
    return ShimConfig(
        id=c.id,
        bundle=c.root,
        exec_dir=paths.exec_root / c.id,
        spec=spec,
        user=c.config.get("User") or "",
        lowerdirs=[make_init_layer(c.root), *image.lowerdirs],
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
