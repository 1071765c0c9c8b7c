"""The whole engine, usable in-process: stores and services wired together."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
import platform
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard import config as defaults
from dockyard import rootless
from dockyard.buildinfo import build_info
from dockyard.config import Paths
from dockyard.daemonconfig import EngineSettings
from dockyard.distribution import endpoints
from dockyard.engine import logdrivers
from dockyard.engine.builds import BuildService
from dockyard.engine.check import SystemCheck, recover_tmp
from dockyard.engine.container import default_cgroupns_mode
from dockyard.engine.containers import ContainerService
from dockyard.engine.containers.lifecycle import ShimSpawner
from dockyard.engine.containers.store import ContainerStore
from dockyard.engine.events import EventBus
from dockyard.engine.execs import ExecService
from dockyard.engine.health import HealthMonitor
from dockyard.engine.images import ImageService
from dockyard.engine.networks import NetworkService
from dockyard.engine.runtimes import BUILTIN_RUNTIMES, installed_runtimes
from dockyard.engine.specgen import ContainerDefaults
from dockyard.engine.transfers import TransferService
from dockyard.engine.volumes import VolumeService
from dockyard.runtime import cgroups, shim
from dockyard.runtime.overlay import OVERLAY2
from dockyard.store.blobs import BlobStore
from dockyard.store.layers import LayerStore
from dockyard.store.metadata import Metadata
from dockyard.timefmt import rfc3339_nano

log = logging.getLogger(__name__)


def _reload_attributes(settings: EngineSettings) -> dict[str, str]:
    """What moby's reload event says of the configuration it applied (lists as JSON)."""
    as_json = functools.partial(json.dumps, separators=(",", ":"))
    return {
        "debug": str(settings.debug).lower(),
        "default-runtime": settings.default_runtime,
        "insecure-registries": as_json(list(settings.registries.insecure)),
        "labels": as_json(list(settings.labels)),
        "max-concurrent-downloads": str(settings.transfers.downloads),
        "max-concurrent-uploads": str(settings.transfers.uploads),
        "name": socket.gethostname(),
        "registry-mirrors": as_json(list(settings.registries.mirrors)),
    }


class Engine:
    """Open with the two roots; ``await start()`` on the event loop before serving."""

    def __init__(
        self,
        paths: Paths,
        spawn_shim: ShimSpawner | None = None,
        spawn_exec: Callable[..., Any] | None = None,
        settings: EngineSettings | None = None,
    ) -> None:
        """``spawn_shim`` and ``spawn_exec`` replace forking the shims of containers and of
        execs from this process (the daemon's zygote); ``settings`` are the daemon's
        configuration (Docker's defaults without one)."""
        self.paths = paths
        self.settings = settings or EngineSettings()
        paths.prepare()
        # What a crash left staged: only an engine opens the store, so none of it is in use.
        self._recovered = recover_tmp(paths)
        self.started = time.time()
        self.closed = False
        self.metadata = Metadata(paths.database)
        self.blobs = BlobStore(paths.data_root)
        self.layers = LayerStore(paths.data_root, self.metadata, self.blobs)
        self.events = EventBus()
        self.runtimes = installed_runtimes()
        driver = self.settings.storage_driver
        self.volumes = VolumeService(paths, self.metadata, self.events, driver)
        self.container_store = ContainerStore(paths, self.metadata, self.layers)
        self.images = ImageService(
            self.metadata,
            self.blobs,
            self.layers,
            self.events,
            self.container_store.users_of_image,
            driver,
        )
        self.networks = NetworkService(
            paths, self.metadata, self.events, self.container_store, self.settings.addresses
        )
        self.networks.discovery.dns_defaults = self.settings.dns
        self.containers = ContainerService(
            paths,
            self.container_store,
            self.events,
            self.images,
            self.layers,
            self.networks,
            self.volumes,
            self.runtimes,
            spawn_shim or shim.spawn,
            ContainerDefaults(
                self.settings.log_driver,
                self.settings.log_opts,
                self.settings.ulimits,
                self.settings.default_runtime,
                self.settings.seccomp,
                driver,
            ),
        )
        self.execs = ExecService(self.container_store, self.events, paths.exec_root)
        self.containers.lifecycle.on_removed.append(self.execs.forget)
        if spawn_exec is not None:
            self.execs.spawn_exec = spawn_exec
        self.health = HealthMonitor(self.container_store, self.events, self.execs)
        self.containers.supervisor.on_state_change.append(self.health.update)
        self.builds = BuildService(
            paths, self.metadata, self.images, self.layers, self.networks, driver
        )
        if spawn_exec is not None:
            self.builds.spawn_step = spawn_exec
        self.images.building = self.builds.uses
        self.transfers = TransferService(
            self.images,
            self.settings.registries,
            self.settings.transfers.downloads,
            self.settings.transfers.uploads,
        )
        self.builds.pull = self.transfers.pull
        self.builds.open_registry = self.transfers.open_registry
        self.builds.push = self.transfers.push
        self.check = SystemCheck(self)

    async def start(self) -> None:
        """Take over from however the last engine ended: watch the containers that kept
        running, settle those that ended, repair what a crash left (the system check)."""
        await self.containers.supervisor.recover()
        for finding in self._recovered + await self.check.run(repair=True):
            log.warning(
                "start-up check: %s %s: %s%s",
                finding.kind,
                finding.subject,
                finding.problem,
                "" if finding.repaired else " (not repaired)",
            )
        self.networks.recover(asyncio.get_running_loop(), self.container_store.all())
        self.builds.loop = asyncio.get_running_loop()
        await self.containers.restarts.restart_always()

    def reload(self, settings: EngineSettings) -> None:
        """Apply what a configuration reload changes (dockerd's Reload): the rest waits
        for the next start."""
        self.settings = dataclasses.replace(
            self.settings,
            registries=settings.registries,
            transfers=settings.transfers,
            labels=settings.labels,
            debug=settings.debug,
            default_runtime=settings.default_runtime,
        )
        self.transfers.registries = settings.registries
        self.transfers.max_concurrent_downloads = settings.transfers.downloads
        self.transfers.max_concurrent_uploads = settings.transfers.uploads
        lifecycle = self.containers.lifecycle
        lifecycle.defaults = dataclasses.replace(
            lifecycle.defaults, runtime=settings.default_runtime
        )
        self.events.publish(
            "daemon", "reload", _engine_id(self.paths), _reload_attributes(settings)
        )

    def close(self) -> None:
        """Let go of the store; running containers go on without us."""
        if self.closed:
            return
        self.closed = True
        self.health.close()
        self.containers.supervisor.close()
        self.networks.close()
        self.metadata.close()

    # ------------------------------------------------------------------ system
    def df(self) -> dict[str, Any]:
        """`docker system df`: what images, containers and the build cache hold on disk."""
        images = self.images.list(all=True)
        for image in images:
            image["Containers"] = len(self.container_store.users_of_image(image["Id"]))
        layers_size = self.metadata.query("SELECT COALESCE(SUM(size), 0) AS total FROM layers")[0][
            "total"
        ]
        return {
            "LayersSize": layers_size,
            "Images": images,
            "Containers": self.containers.list(all=True, size=True),
            "Volumes": self.volumes.disk_usage(),
            "BuildCache": self.builds.disk_usage(),
        }

    def version(self) -> dict[str, Any]:
        build = build_info()
        return {
            "Platform": {"Name": "dockyard"},
            "Components": [
                {
                    "Name": "Engine",
                    "Version": defaults.ENGINE_VERSION,
                    "Details": {
                        "ApiVersion": defaults.API_VERSION,
                        "MinAPIVersion": defaults.MIN_API_VERSION,
                        "Os": "linux",
                        "Arch": _arch(),
                        "KernelVersion": platform.release(),
                        "GoVersion": "python" + platform.python_version(),
                        "GitCommit": build.commit,
                        "BuildTime": build.time,
                        "Experimental": "false",
                    },
                },
            ],
            "Version": defaults.ENGINE_VERSION,
            "ApiVersion": defaults.API_VERSION,
            "MinAPIVersion": defaults.MIN_API_VERSION,
            "GitCommit": build.commit,
            "GoVersion": "python" + platform.python_version(),
            "Os": "linux",
            "Arch": _arch(),
            "KernelVersion": platform.release(),
            "BuildTime": build.time,
        }

    def info(self) -> dict[str, Any]:
        containers = self.container_store.all()
        running = sum(1 for c in containers if c.running and not c.state["Paused"])
        paused = sum(1 for c in containers if c.state["Paused"])
        support = cgroups.Support()
        # A rootless engine has no cgroups (docs/rootless.md): it limits nothing, as moby's says.
        limits = not rootless.active()
        return {
            "ID": _engine_id(self.paths),
            "Containers": len(containers),
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": len(containers) - running - paused,
            "Images": len(self.images.list()),
            "Driver": self.settings.storage_driver,
            "DriverStatus": _driver_status(self.settings.storage_driver),
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "none"],
                "Log": [d for d in logdrivers.DRIVERS if d != "none"],  # moby lists no "none"
            },
            "MemoryLimit": limits and support.memory,
            "SwapLimit": limits and support.swap,
            "CpuCfsPeriod": limits and support.cpu_cfs,
            "CpuCfsQuota": limits and support.cpu_cfs,
            "CPUShares": limits and support.cpu_shares,
            "CPUSet": limits and support.cpuset,
            "PidsLimit": limits and support.pids,
            "OomKillDisable": limits and support.oom_kill_disable,
            "IPv4Forwarding": True,
            "Debug": self.settings.debug,
            "NFd": len(os.listdir("/proc/self/fd")),
            "NGoroutines": 0,
            "SystemTime": rfc3339_nano(time.time_ns()),
            "LoggingDriver": self.settings.log_driver,
            "CgroupDriver": "cgroupfs" if limits else "none",
            "CgroupVersion": "2" if cgroups.unified() else "1",
            "NEventsListener": 0,
            "KernelVersion": platform.release(),
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": platform.machine(),
            "NCPU": os.cpu_count() or 1,
            "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "GenericResources": None,
            "RegistryConfig": _registry_config(self.settings),
            "DockerRootDir": str(self.paths.data_root),
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": socket.gethostname(),
            "Labels": list(self.settings.labels),
            "ExperimentalBuild": False,
            "ServerVersion": defaults.ENGINE_VERSION,
            "Runtimes": {
                **{name: {"path": "built-in"} for name in BUILTIN_RUNTIMES},
                **{name: {"path": path} for name, path in self.runtimes.items()},
            },
            "DefaultRuntime": self.settings.default_runtime,
            "Swarm": {
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "NodeID": "",
                "NodeAddr": "",
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": [
                f"name=seccomp,profile={self.settings.seccomp_profile}",
                *(["name=rootless"] if rootless.active() else []),
                *(["name=cgroupns"] if default_cgroupns_mode() == "private" else []),
            ],
            "CDISpecDirs": [],
            "Warnings": []
            if self.settings.seccomp_profile == "builtin"
            else ["WARNING: daemon is not using the default seccomp profile"],
        }


def _driver_status(driver: str) -> list[list[str]]:
    """``docker info``'s lines under "Storage Driver" (moby's fuse-overlayfs driver has none)."""
    return [["Backing Filesystem", "extfs"]] if driver == OVERLAY2 else []


def _registry_config(settings: EngineSettings) -> dict[str, Any]:
    """``docker info``'s RegistryConfig: Docker Hub's mirrors and the insecure registries."""
    registries = settings.registries
    mirrors = list(registries.mirrors)
    index = {
        endpoints.HUB_DOMAIN: {
            "Name": endpoints.HUB_DOMAIN,
            "Mirrors": mirrors,
            "Secure": True,
            "Official": True,
        }
    }
    for name in registries.insecure:
        if "/" not in name:
            index[name] = {"Name": name, "Mirrors": [], "Secure": False, "Official": False}
    return {
        "IndexConfigs": index,
        "InsecureRegistryCIDRs": endpoints.insecure_cidrs(registries),
        "Mirrors": mirrors,
    }


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _os_name() -> str:
    try:
        lines = Path("/etc/os-release").read_text().splitlines()
    except OSError:
        return "Linux"
    for line in lines:
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def _engine_id(paths: Paths) -> str:
    path = paths.data_root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = str(uuid.uuid4())
        path.write_text(value + "\n")
        return value
