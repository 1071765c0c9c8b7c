"""The container flags of ``create`` and ``run``, and the create body they make.

``add_container_flags`` declares docker's flags (names, shorthands, defaults);
``create_body`` converts the parsed values into the Engine API's
ContainerCreateRequest exactly as docker's cli/command/container/opts.go does.
"""

from __future__ import annotations

import argparse
import json

from dockyard.cli import devices, envfile, mounts, ports
from dockyard.cli.parser import CommandParser, flag_type, integer, parse_int
from dockyard.errors import InvalidArgument
from dockyard.network.ipam import canonical_mac
from dockyard.network.linkspec import is_user_defined, validate_link
from dockyard.units import memory_swap_bytes, parse_duration, ram_in_bytes

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

ATTACHABLE = ("stdin", "stdout", "stderr")
RESTART_MODES = ("", "no", "always", "on-failure", "unless-stopped")


def parse_attach(value: str) -> str:
    stream = value.lower()
    if stream not in ATTACHABLE:
        raise InvalidArgument("valid streams are STDIN, STDOUT and STDERR")
    return stream


def parse_cpus(value: str) -> int:
    """--cpus 1.5 → NanoCPUs."""
    try:
        return int(round(float(value) * 1e9))
    except ValueError:
        raise InvalidArgument(f"failed to parse {value} as a rational number") from None


def parse_mount_flag(value: str) -> dict[str, Any]:
    return mounts.parse_mount(value)


def parse_extra_host(value: str) -> str:
    """--add-host name:ip (or name=ip); docker sends ``name:ip``."""
    name, separator, address = value.partition("=")
    if not separator:
        name, separator, address = value.partition(":")
    if not separator or not name or not address:
        raise InvalidArgument(f"bad format for add-host: {value!r}")
    if address != "host-gateway":
        import ipaddress

        try:
            ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            raise InvalidArgument(f"invalid IP address in add-host: {address!r}") from None
    return f"{name}:{address.strip('[]')}"


ULIMIT_NAMES = (
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
)


def parse_ulimit(value: str) -> dict[str, Any]:
    """``name=soft[:hard]`` (go-units ParseUlimit); -1 is unlimited."""
    name, separator, limits = value.partition("=")
    if not separator:
        raise InvalidArgument(f"invalid ulimit argument: {value}")
    if name not in ULIMIT_NAMES:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    values = limits.split(":")
    if len(values) > 2:
        raise InvalidArgument(
            f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        )
    soft = parse_int(values[0])
    hard = parse_int(values[1]) if len(values) == 2 else soft
    if hard != -1 and soft == -1:
        raise InvalidArgument(
            "ulimit soft limit must be less than or equal to hard limit: "
            f"soft: -1 (unlimited), hard: {hard}"
        )
    if hard != -1 and soft > hard:
        raise InvalidArgument(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return {"Name": name, "Soft": soft, "Hard": hard}


def parse_sysctl(value: str) -> str:
    """``--sysctl name=value`` for a namespaced sysctl only (docker's opts.ValidateSysctl)."""
    from dockyard.runtime.sysctls import IPC_SYSCTLS

    name, separator, _ = value.partition("=")
    if separator and name and (name in IPC_SYSCTLS or name.startswith(("net.", "fs.mqueue."))):
        return value
    raise InvalidArgument(f"sysctl '{value}' is not allowed")


def parse_uint16(value: str) -> int:
    """A Go Uint16Var value."""
    if not value.isdigit():
        raise InvalidArgument(f'strconv.ParseUint: parsing "{value}": invalid syntax')
    if int(value) > 0xFFFF:
        raise InvalidArgument(f'strconv.ParseUint: parsing "{value}": value out of range')
    return int(value)


def _device_and_value(value: str) -> tuple[str, str]:
    path, separator, rest = value.partition(":")
    if not separator or not path:
        raise InvalidArgument(f"bad format: {value}")
    if not path.startswith("/dev/"):
        raise InvalidArgument(f"bad format for device path: {value}")
    return path, rest


def parse_weight_device(value: str) -> dict[str, Any]:
    """--blkio-weight-device /dev/sda:300 (docker's ValidateWeightDevice)."""
    path, weight = _device_and_value(value)
    if not weight.isdigit() or 0 < int(weight) < 10 or int(weight) > 1000:
        raise InvalidArgument(f"invalid weight for device: {value}")
    return {"Path": path, "Weight": int(weight)}


def parse_bps_device(value: str) -> dict[str, Any]:
    """--device-read-bps /dev/sda:1mb (docker's ValidateThrottleBpsDevice)."""
    path, rate = _device_and_value(value)
    try:
        return {"Path": path, "Rate": ram_in_bytes(rate)}
    except InvalidArgument:
        raise InvalidArgument(
            f"invalid rate for device: {value}. The correct format is "
            "<device-path>:<number>[<unit>]. Number must be a positive integer. "
            "Unit is optional and can be kb, mb, or gb"
        ) from None


def parse_iops_device(value: str) -> dict[str, Any]:
    """--device-read-iops /dev/sda:100 (docker's ValidateThrottleIOpsDevice)."""
    path, rate = _device_and_value(value)
    if not rate.isdigit():
        raise InvalidArgument(
            f"invalid rate for device: {value}. The correct format is <device-path>:<number>. "
            "Number must be a positive integer"
        )
    return {"Path": path, "Rate": int(rate)}


def parse_restart_policy(policy: str) -> dict[str, Any]:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``."""
    if not policy:
        return {"Name": "", "MaximumRetryCount": 0}
    name, colon, count = policy.partition(":")
    if colon and not name:
        raise InvalidArgument("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError:
            raise InvalidArgument(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from None
    return {"Name": name, "MaximumRetryCount": retries}


def security_opts(options: list[str]) -> list[str]:
    """docker's parseSecurityOpts: every option but no-new-privileges needs a value, and
    ``seccomp=FILE`` is sent as the file's JSON (the daemon cannot read our files)."""
    sent = []
    for opt in options:
        key, eq, value = opt.partition("=")
        if not eq and key != "no-new-privileges":
            key, eq, value = opt.partition(":")
        if (not eq or not value) and key != "no-new-privileges":
            raise InvalidArgument(f"Invalid --security-opt: {json.dumps(opt)}")
        if key == "seccomp" and value not in ("builtin", "unconfined"):
            opt = "seccomp=" + _compact_json_file(value)
        sent.append(opt)
    return sent


def _compact_json_file(path: str) -> str:
    try:
        with open(path, "rb") as f:
            profile = json.load(f)
    except OSError as exc:
        reason = (exc.strerror or "")[:1].lower() + (exc.strerror or "")[1:]
        raise InvalidArgument(
            f"opening seccomp profile ({path}) failed: open {path}: {reason}"
        ) from None
    except ValueError as exc:
        raise InvalidArgument(
            f"compacting json for seccomp profile ({path}) failed: {exc}"
        ) from None
    return json.dumps(profile, separators=(",", ":"), ensure_ascii=False)


def parse_go_duration_ns(value: str) -> int:
    return int(parse_duration(value) * 1e9)


def add_container_flags(parser: CommandParser) -> None:
    """The flags create and run share (docker's addFlags)."""
    add = parser.add_argument
    many: dict[str, Any] = {"action": "append", "default": []}
    add("-a", "--attach", type=flag_type(parse_attach), **many)
    add("-e", "--env", **many)
    add("--env-file", **many)
    add("--entrypoint", default=None)
    add("-h", "--hostname", default="")
    add("--domainname", default="")
    add("-i", "--interactive", action="store_true")
    add("-l", "--label", **many)
    add("--label-file", **many)
    add("--read-only", action="store_true")
    add("--restart", default="no")
    add("--stop-signal", default="")
    add("--stop-timeout", type=integer, default=None)
    add("-t", "--tty", action="store_true")
    add("-u", "--user", default="")
    add("-w", "--workdir", default="")
    add("--rm", action="store_true")
    add("--init", action="store_true", default=None)
    add("--runtime", default="")
    add("--privileged", action="store_true")
    add("--device", **many)
    add("--device-cgroup-rule", type=flag_type(devices.parse_device_cgroup_rule), **many)
    add("--cap-add", **many)
    add("--cap-drop", **many)
    add("--security-opt", **many)
    add("--group-add", **many)
    add("--add-host", type=flag_type(parse_extra_host), **many)
    add("--dns", **many)
    add("--dns-search", **many)
    add("--dns-option", "--dns-opt", **many)
    add("--expose", **many)
    add("-p", "--publish", **many)
    add("-P", "--publish-all", action="store_true")
    add("--network", "--net", **many)
    add("--network-alias", "--net-alias", **many)
    add("--link", type=flag_type(validate_link), **many)
    add("--ip", default="")
    add("--ip6", default="")
    add("--mac-address", default="")
    add("--log-driver", default="")
    add("--log-opt", **many)
    add("--tmpfs", **many)
    add("-v", "--volume", **many)
    add("--mount", type=flag_type(parse_mount_flag), **many)
    add("--volumes-from", **many)
    add("--volume-driver", default="")
    add("--shm-size", type=flag_type(ram_in_bytes), default=0)
    add("-m", "--memory", type=flag_type(ram_in_bytes), default=0)
    add("--memory-reservation", type=flag_type(ram_in_bytes), default=0)
    add("--memory-swap", type=flag_type(memory_swap_bytes), default=0)
    add("--memory-swappiness", type=integer, default=-1)
    add("--oom-kill-disable", action="store_true")
    add("--oom-score-adj", type=integer, default=0)
    add("--cpus", type=flag_type(parse_cpus), default=0)
    add("-c", "--cpu-shares", type=integer, default=0)
    add("--cpu-period", type=integer, default=0)
    add("--cpu-quota", type=integer, default=0)
    add("--cpuset-cpus", default="")
    add("--cpuset-mems", default="")
    add("--cpu-rt-period", type=integer, default=0)
    add("--cpu-rt-runtime", type=integer, default=0)
    add("--kernel-memory", type=flag_type(ram_in_bytes), default=0)
    add("--blkio-weight", type=flag_type(parse_uint16), default=0)
    add("--blkio-weight-device", type=flag_type(parse_weight_device), **many)
    add("--device-read-bps", type=flag_type(parse_bps_device), **many)
    add("--device-write-bps", type=flag_type(parse_bps_device), **many)
    add("--device-read-iops", type=flag_type(parse_iops_device), **many)
    add("--device-write-iops", type=flag_type(parse_iops_device), **many)
    add("--storage-opt", **many)
    add("--isolation", default="")
    add("--pids-limit", type=integer, default=0)
    add("--ulimit", type=flag_type(parse_ulimit), **many)
    add("--sysctl", type=flag_type(parse_sysctl), **many)
    add("--ipc", default="")
    add("--pid", default="")
    add("--uts", default="")
    add("--userns", default="")
    add("--cgroupns", default="")
    add("--cgroup-parent", default="")
    add("--cidfile", default="")
    add("--health-cmd", default="")
    add("--health-interval", type=flag_type(parse_go_duration_ns), default=0)
    add("--health-timeout", type=flag_type(parse_go_duration_ns), default=0)
    add("--health-start-period", type=flag_type(parse_go_duration_ns), default=0)
    add("--health-start-interval", type=flag_type(parse_go_duration_ns), default=0)
    add("--health-retries", type=integer, default=0)
    add("--no-healthcheck", action="store_true")
    add("--annotation", **many)
    # create/run options (docker's createOptions)
    add("--name", default="")
    add("--platform", default="")
    add("--pull", default="missing", choices=("always", "missing", "never"))
    add("-q", "--quiet", action="store_true")


def add_update_flags(parser: CommandParser) -> None:
    """docker update's flags: the limits it can change, and the restart policy."""
    add = parser.add_argument
    add("--blkio-weight", type=flag_type(parse_uint16), default=0)
    add("--cpu-period", type=integer, default=0)
    add("--cpu-quota", type=integer, default=0)
    add("--cpu-rt-period", type=integer, default=0)
    add("--cpu-rt-runtime", type=integer, default=0)
    add("-c", "--cpu-shares", type=integer, default=0)
    add("--cpus", type=flag_type(parse_cpus), default=0)
    add("--cpuset-cpus", default="")
    add("--cpuset-mems", default="")
    add("-m", "--memory", type=flag_type(ram_in_bytes), default=0)
    add("--memory-reservation", type=flag_type(ram_in_bytes), default=0)
    add("--memory-swap", type=flag_type(memory_swap_bytes), default=0)
    add("--pids-limit", type=integer, default=None)
    add("--restart", default="")


def update_body(ns: argparse.Namespace) -> dict[str, Any]:
    """UpdateConfig from the flags; docker refuses an update that changes nothing."""
    body: dict[str, Any] = {
        "BlkioWeight": ns.blkio_weight,
        "CpuPeriod": ns.cpu_period,
        "CpuQuota": ns.cpu_quota,
        "CpuRealtimePeriod": ns.cpu_rt_period,
        "CpuRealtimeRuntime": ns.cpu_rt_runtime,
        "CpuShares": ns.cpu_shares,
        "NanoCpus": ns.cpus,
        "CpusetCpus": ns.cpuset_cpus,
        "CpusetMems": ns.cpuset_mems,
        "Memory": ns.memory,
        "MemoryReservation": ns.memory_reservation,
        "MemorySwap": ns.memory_swap,
    }
    if ns.pids_limit is not None:
        body["PidsLimit"] = ns.pids_limit
    if ns.restart:
        body["RestartPolicy"] = parse_restart_policy(ns.restart)
    if not any(body.values()) and "PidsLimit" not in body:
        raise InvalidArgument("you must provide one or more flags when using this command")
    return body


def create_body(ns: argparse.Namespace, image: str, command: list[str]) -> dict[str, Any]:
    """The ContainerCreateRequest for the parsed flags (docker's parse())."""
    attach = set(ns.attach)
    if ns.memory_swappiness != -1 and not 0 <= ns.memory_swappiness <= 100:
        raise InvalidArgument(
            f"invalid value: {ns.memory_swappiness}. Valid memory swappiness range is 0-100"
        )
    check_namespace_modes(ns)
    if ns.mac_address:
        check_mac_address(ns.mac_address)
    binds, anonymous_volumes = mounts.parse_volumes(ns.volume)
    exposed, bindings = ports.parse_publish(ns.publish)
    ports.parse_expose(ns.expose, exposed)
    restart = parse_restart_policy(ns.restart)
    if ns.rm and restart["Name"] not in ("", "no"):
        raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
    if ns.log_driver == "none" and ns.log_opt:
        raise InvalidArgument(f"invalid logging opts for driver {ns.log_driver}")
    config: dict[str, Any] = {
        "Hostname": ns.hostname,
        "Domainname": ns.domainname,
        "User": ns.user,
        "AttachStdin": ns.interactive or "stdin" in attach,
        "AttachStdout": not attach or "stdout" in attach,
        "AttachStderr": not attach or "stderr" in attach,
        "ExposedPorts": exposed,
        "Tty": ns.tty,
        "OpenStdin": ns.interactive,
        "StdinOnce": False,
        "Env": envfile.read_env(ns.env_file, ns.env),
        "Cmd": command or None,
        "Image": image,
        "Volumes": anonymous_volumes,
        "WorkingDir": ns.workdir,
        "Entrypoint": entrypoint(ns.entrypoint),
        "Labels": envfile.read_labels(ns.label_file, ns.label),
        "StopSignal": ns.stop_signal,
    }
    config["StdinOnce"] = config["OpenStdin"] and config["AttachStdin"]
    if ns.stop_timeout is not None:
        config["StopTimeout"] = ns.stop_timeout
    health = healthcheck(ns)
    if health is not None:
        config["Healthcheck"] = health
    return {
        **config,
        "HostConfig": host_config(ns, binds, bindings, restart),
        "NetworkingConfig": networking_config(ns),
    }


def check_namespace_modes(ns: argparse.Namespace) -> None:
    """--pid, --uts, --userns and --cgroupns take only the modes moby knows (docker's parse)."""
    if ns.pid not in ("", "host") and not (
        ns.pid.startswith("container:") and ns.pid != "container:"
    ):
        raise InvalidArgument("--pid: invalid PID mode")
    if ns.uts not in ("", "host"):
        raise InvalidArgument("--uts: invalid UTS mode")
    if ns.userns not in ("", "host"):
        raise InvalidArgument("--userns: invalid USER mode")
    if ns.cgroupns not in ("", "private", "host"):
        raise InvalidArgument("--cgroupns: invalid CGROUP mode")


def entrypoint(value: str | None) -> list[str] | None:
    """``--entrypoint=""`` resets the image's entrypoint; not given keeps it."""
    if value is None:
        return None
    return [value]


def healthcheck(ns: argparse.Namespace) -> dict[str, Any] | None:
    durations = (
        ns.health_interval,
        ns.health_timeout,
        ns.health_start_period,
        ns.health_start_interval,
    )
    configured = bool(ns.health_cmd) or any(durations) or ns.health_retries != 0
    if ns.no_healthcheck:
        if configured:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not configured:
        return None
    for flag, value in (
        ("interval", ns.health_interval),
        ("timeout", ns.health_timeout),
        ("retries", ns.health_retries),
        ("start-period", ns.health_start_period),
        ("start-interval", ns.health_start_interval),
    ):
        if value < 0:
            raise InvalidArgument(f"--health-{flag} cannot be negative")
    return {
        "Test": ["CMD-SHELL", ns.health_cmd] if ns.health_cmd else None,
        "Interval": ns.health_interval,
        "Timeout": ns.health_timeout,
        "StartPeriod": ns.health_start_period,
        "StartInterval": ns.health_start_interval,
        "Retries": ns.health_retries,
    }


def host_config(
    ns: argparse.Namespace,
    binds: list[str],
    bindings: ports.PortBindings,
    restart: dict[str, Any],
) -> dict[str, Any]:
    networks = ns.network
    config: dict[str, Any] = {
        "Binds": binds or None,
        "ContainerIDFile": ns.cidfile,
        "LogConfig": {"Type": ns.log_driver, "Config": key_values(ns.log_opt)},
        "NetworkMode": networks[0] if networks else "default",
        "PortBindings": bindings,
        "RestartPolicy": restart,
        "AutoRemove": ns.rm,
        "VolumeDriver": ns.volume_driver,
        "VolumesFrom": ns.volumes_from or None,
        "CapAdd": ns.cap_add or None,
        "CapDrop": ns.cap_drop or None,
        "CgroupnsMode": ns.cgroupns,
        "Dns": ns.dns,
        "DnsOptions": ns.dns_option,
        "DnsSearch": ns.dns_search,
        "ExtraHosts": ns.add_host or None,
        "GroupAdd": ns.group_add or None,
        "IpcMode": ns.ipc,
        "Links": ns.link or None,
        "OomScoreAdj": ns.oom_score_adj,
        "PidMode": ns.pid,
        "Privileged": ns.privileged,
        "PublishAllPorts": ns.publish_all,
        "ReadonlyRootfs": ns.read_only,
        "SecurityOpt": security_opts(ns.security_opt) or None,
        "Tmpfs": dict(entry.partition(":")[::2] for entry in ns.tmpfs) or None,
        "UTSMode": ns.uts,
        "UsernsMode": ns.userns,
        "ShmSize": ns.shm_size,
        "Sysctls": key_values(ns.sysctl) or None,
        "StorageOpt": storage_options(ns.storage_opt),
        "Isolation": ns.isolation,
        "Runtime": ns.runtime,
        "Mounts": ns.mount or None,
        "Annotations": key_values(ns.annotation) or None,
        **resources(ns),
    }
    if ns.init is not None:
        config["Init"] = ns.init
    return config


def resources(ns: argparse.Namespace) -> dict[str, Any]:
    return {
        "CgroupParent": ns.cgroup_parent,
        "CpuShares": ns.cpu_shares,
        "Memory": ns.memory,
        "NanoCpus": ns.cpus,
        "CpuPeriod": ns.cpu_period,
        "CpuQuota": ns.cpu_quota,
        "CpusetCpus": ns.cpuset_cpus,
        "CpusetMems": ns.cpuset_mems,
        "CpuRealtimePeriod": ns.cpu_rt_period,
        "CpuRealtimeRuntime": ns.cpu_rt_runtime,
        "KernelMemory": ns.kernel_memory,
        "BlkioWeight": ns.blkio_weight,
        "BlkioWeightDevice": ns.blkio_weight_device,
        "BlkioDeviceReadBps": ns.device_read_bps,
        "BlkioDeviceWriteBps": ns.device_write_bps,
        "BlkioDeviceReadIOps": ns.device_read_iops,
        "BlkioDeviceWriteIOps": ns.device_write_iops,
        "DeviceCgroupRules": ns.device_cgroup_rule or None,
        "Devices": [devices.parse_device(device) for device in ns.device],
        "MemoryReservation": ns.memory_reservation,
        "MemorySwap": ns.memory_swap,
        "MemorySwappiness": ns.memory_swappiness,
        "OomKillDisable": ns.oom_kill_disable,
        "PidsLimit": ns.pids_limit,
        "Ulimits": ns.ulimit or None,
    }


def check_mac_address(text: str) -> None:
    try:
        canonical_mac(text)
    except ValueError:
        raise InvalidArgument(f"{text} is not a valid mac address") from None


def networking_config(ns: argparse.Namespace) -> dict[str, Any]:
    """One endpoint for the first --network, with the aliases and addresses given."""
    network = ns.network[0] if ns.network else "default"
    endpoint: dict[str, Any] = {}
    if ns.network_alias:
        endpoint["Aliases"] = ns.network_alias
    # On a user-defined network --link is an alias of the endpoint; else a legacy link.
    if ns.link and is_user_defined(network):
        endpoint["Links"] = ns.link
    if ns.ip or ns.ip6:
        endpoint["IPAMConfig"] = {"IPv4Address": ns.ip, "IPv6Address": ns.ip6}
    if ns.mac_address:
        endpoint["MacAddress"] = ns.mac_address
    return {"EndpointsConfig": {network: endpoint} if endpoint else {}}


def storage_options(entries: list[str]) -> dict[str, str] | None:
    """--storage-opt key=value (docker's parseStorageOpts)."""
    options = {}
    for entry in entries:
        key, separator, value = entry.partition("=")
        if not separator:
            raise InvalidArgument("invalid storage option")
        options[key] = value
    return options or None


def key_values(entries: list[str]) -> dict[str, str]:
    result = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        result[key] = value
    return result
