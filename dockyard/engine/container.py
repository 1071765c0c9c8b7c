"""A container's record: Docker's inspect document, kept in SQLite as JSON.

`build_record` turns a create request (Config + HostConfig) and the image's
config into the record `docker inspect` shows; `Container` wraps a record with
the few derived views the engine needs (state, summary for `ps`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.runtime import cgroups, spec
from dockyard.timefmt import parse_rfc3339, rfc3339_nano
from dockyard.units import human_duration

ZERO_TIME = "0001-01-01T00:00:00Z"
_MIN_HEALTH_DURATION_NS = 1_000_000  # moby: a healthcheck duration is 0 (default) or >= 1ms


def _as_list(value: list[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def merge_env(image_env: list[str], env: list[str]) -> list[str]:
    merged: dict[str, str] = {}
    for item in [*image_env, *env]:
        merged[item.split("=", 1)[0]] = item
    return list(merged.values())


def build_config(config: dict[str, Any], image_config: dict[str, Any], image_name: str) -> dict:
    """The container's Config: the request's fields over the image's defaults."""
    entrypoint = _as_list(config.get("Entrypoint"))
    cmd = _as_list(config.get("Cmd"))
    if entrypoint is None:
        entrypoint = image_config.get("Entrypoint")
        if not cmd:
            cmd = image_config.get("Cmd")
    elif entrypoint == [""]:  # --entrypoint "" resets the image's entrypoint
        entrypoint = None
        cmd = cmd or None
    labels = {**(image_config.get("Labels") or {}), **(config.get("Labels") or {})}
    exposed = {**(image_config.get("ExposedPorts") or {}), **(config.get("ExposedPorts") or {})}
    return {
        "Hostname": config.get("Hostname") or "",
        "Domainname": config.get("Domainname") or "",
        "User": config.get("User") or image_config.get("User") or "",
        "AttachStdin": bool(config.get("AttachStdin")),
        "AttachStdout": bool(config.get("AttachStdout")),
        "AttachStderr": bool(config.get("AttachStderr")),
        "ExposedPorts": exposed or None,
        "Tty": bool(config.get("Tty")),
        "OpenStdin": bool(config.get("OpenStdin")),
        "StdinOnce": bool(config.get("StdinOnce")),
        "Env": merge_env(image_config.get("Env") or [], config.get("Env") or []) or None,
        "Cmd": cmd,
        "Image": image_name,
        "Volumes": {**(image_config.get("Volumes") or {}), **(config.get("Volumes") or {})} or None,
        "WorkingDir": config.get("WorkingDir") or image_config.get("WorkingDir") or "",
        "Entrypoint": entrypoint,
        "OnBuild": image_config.get("OnBuild"),
        "Labels": labels,
        "StopSignal": config.get("StopSignal") or image_config.get("StopSignal") or "SIGTERM",
        **({"StopTimeout": config["StopTimeout"]} if config.get("StopTimeout") is not None else {}),
        **_healthcheck(config.get("Healthcheck"), image_config.get("Healthcheck")),
    }


def _healthcheck(user: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any]:
    """``{"Healthcheck": ...}``: the request's fields, the image's for those it leaves unset
    (moby's Merge); nothing when neither has one."""
    if user is None or image is None:
        merged = user if user is not None else image
    else:
        merged = dict(user)
        if not merged.get("Test"):
            merged["Test"] = image.get("Test")
        for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
            if not merged.get(key):
                merged[key] = image.get(key) or 0
    if merged is None:
        return {}
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        if 0 < (merged.get(key) or 0) < _MIN_HEALTH_DURATION_NS:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if (merged.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    return {"Healthcheck": merged}


def build_host_config(
    host_config: dict[str, Any],
    log_driver: str = "json-file",
    log_opts: dict[str, str] | None = None,
) -> dict:
    """HostConfig with Docker's defaults filled in, as inspect shows it.

    ``log_driver`` and ``log_opts`` are the daemon's default log configuration: a
    container that names no driver gets it, and one that names the same driver gets
    the default options it does not set itself (moby's mergeAndVerifyLogConfig).
    """
    defaults: dict[str, Any] = {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {},
        "NetworkMode": "bridge",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67108864,
        "Runtime": "runc",  # Docker's default runtime name: here, the built-in runtime
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": None,
        "OomKillDisable": False,
        "PidsLimit": None,
        "Ulimits": None,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "Init": None,
        "Mounts": None,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    }
    merged = {**defaults, **{k: v for k, v in host_config.items() if v is not None}}
    # Empty is "the daemon's default" (moby's adaptContainerSettings).
    merged["IpcMode"] = merged["IpcMode"] or "private"
    merged["CgroupnsMode"] = merged["CgroupnsMode"] or default_cgroupns_mode()
    if not merged["NetworkMode"] or merged["NetworkMode"] == "default":
        merged["NetworkMode"] = "bridge"
    if not merged["RestartPolicy"].get("Name"):
        merged["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    driver = (merged.get("LogConfig") or {}).get("Type") or log_driver
    options = dict((merged.get("LogConfig") or {}).get("Config") or {})
    if driver == log_driver:
        options = {**(log_opts or {}), **options}
    merged["LogConfig"] = {"Type": driver, "Config": options}
    # The paths the container will have masked and read-only, shown as moby fills them
    # in at create: its defaults, unless privileged (which has none) or given.
    if not merged["Privileged"]:
        if merged["MaskedPaths"] is None:
            merged["MaskedPaths"] = spec.default_masked_paths()
        if merged["ReadonlyPaths"] is None:
            merged["ReadonlyPaths"] = list(spec.DEFAULT_READONLY_PATHS)
    return merged


def default_cgroupns_mode() -> str:
    """moby's default: a private cgroup namespace on cgroup v2, the host's on v1."""
    return "private" if cgroups.unified() else "host"


def new_state() -> dict:
    return {
        "Status": "created",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
    }


@dataclass
class Container:
    """One container's record and where its files live."""

    record: dict[str, Any]
    root: Path  # containers/<id>

    @property
    def id(self) -> str:
        return str(self.record["Id"])

    @property
    def name(self) -> str:
        return str(self.record["Name"]).lstrip("/")

    @property
    def state(self) -> dict[str, Any]:
        return self.record["State"]  # type: ignore[no-any-return]

    @property
    def config(self) -> dict[str, Any]:
        return self.record["Config"]  # type: ignore[no-any-return]

    @property
    def host_config(self) -> dict[str, Any]:
        return self.record["HostConfig"]  # type: ignore[no-any-return]

    @property
    def running(self) -> bool:
        return bool(self.state["Running"])

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def lowerdirs(self) -> list[Path]:
        """Its image's layers, topmost first, as they were at create (the image may be gone)."""
        lower = (self.record["GraphDriver"].get("Data") or {}).get("LowerDir") or ""
        return [Path(p) for p in lower.split(":") if p]

    @property
    def command(self) -> list[str]:
        return [self.record["Path"], *self.record["Args"]] if self.record["Path"] else []

    @property
    def state_string(self) -> str:
        """The State column of `docker ps` (moby's StateString)."""
        if self.state["Paused"]:
            return "paused"
        if self.state["Restarting"]:
            return "restarting"
        return str(self.state["Status"])

    def status_text(self, now: float | None = None) -> str:
        """The STATUS column of `docker ps`."""
        state = self.state
        now = now or time.time()
        if state["Running"]:
            since = human_duration(now - parse_rfc3339(state["StartedAt"]))
            if state["Paused"]:
                return f"Up {since} (Paused)"
            health = (state.get("Health") or {}).get("Status")
            if health:
                shown = "health: starting" if health == "starting" else health
                return f"Up {since} ({shown})"
            return f"Up {since}"
        if state["Status"] == "created":
            return "Created"
        if state["Status"] == "removing":
            return "Removal In Progress"
        if state["Status"] == "dead":
            return "Dead"
        return f"Exited ({state['ExitCode']}) {human_duration(now - parse_rfc3339(state['FinishedAt']))} ago"


def now_rfc3339() -> str:
    return rfc3339_nano(time.time_ns())
