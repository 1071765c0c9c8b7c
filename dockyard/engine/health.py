"""Healthchecks: probes run as execs in the container, as moby's daemon/health.go runs them.

A running, unpaused container whose ``Config.Healthcheck`` has a test gets one
monitor task. Every interval it runs the test as an exec (output cut at 4 KiB,
killed after the timeout), keeps the last five results in ``State.Health.Log``,
and moves ``State.Health.Status`` between ``starting``, ``healthy`` and
``unhealthy`` by Docker's rules: failures during the start period do not count,
``Retries`` failures in a row make the container unhealthy, one success makes it
healthy. Each change of status is a ``health_status: …`` event. The state lives
in the container's record, so a restarted daemon picks its monitors up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import Any, Protocol

from dockyard.engine.container import Container, now_rfc3339
from dockyard.engine.events import EventBus
from dockyard.engine.execs import ExecService
from dockyard.errors import DockyardError, NotFound
from dockyard.timefmt import parse_rfc3339

log = logging.getLogger(__name__)


class HealthRecords(Protocol):
    """The container records as the monitor reads and saves them (containers/store.py)."""

    def get(self, ref: str) -> Container: ...
    def save(self, c: Container) -> None: ...
    def event_attributes(self, record: dict) -> dict[str, str]: ...


MAX_OUTPUT = 4096
MAX_LOG_ENTRIES = 5
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
_NS = 1e9


def probe_command(c: Container) -> list[str] | None:
    """What a probe runs, or None when the container has no healthcheck (or ``NONE``)."""
    test = (c.config.get("Healthcheck") or {}).get("Test") or []
    if len(test) < 2 or test[0] not in ("CMD", "CMD-SHELL"):
        return None
    if test[0] == "CMD-SHELL":
        return [*(c.config.get("Shell") or ["/bin/sh", "-c"]), *test[1:]]
    return list(test[1:])


def go_duration(seconds: float) -> str:
    """A duration as Go's %v prints it in moby's timeout message: 30s, 1.5s, 500ms, 1m30s."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest:g}s"
    hours, minutes = divmod(int(minutes), 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{rest:g}s"


class HealthMonitor:
    def __init__(self, containers: HealthRecords, events: EventBus, execs: ExecService) -> None:
        """``update`` is to be told of each change of a container's state."""
        self.containers = containers
        self.events = events
        self.execs = execs
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def update(self, c: Container, started: bool = False) -> None:
        """Start or stop ``c``'s monitor after a change of state (moby's updateHealthMonitor).

        ``started``: the container has just started, so its health starts over.
        """
        command = probe_command(c)
        if command is None:
            return
        if started:
            c.state["Health"] = {
                "Status": "starting",
                "FailingStreak": 0,
                "Log": (c.state.get("Health") or {}).get("Log") or [],
            }
            self.containers.save(c)
        wanted = c.running and not c.state["Paused"]
        task = self._tasks.get(c.id)
        if wanted and task is None:
            self._tasks[c.id] = asyncio.get_running_loop().create_task(self._monitor(c.id))
        elif not wanted and task is not None:
            self._stop(c)

    def _stop(self, c: Container) -> None:
        """moby's CloseMonitorChannel: the monitor ends and the status turns unhealthy."""
        task = self._tasks.pop(c.id, None)
        if task is not None:
            task.cancel()
        if c.state.get("Health"):
            c.state["Health"]["Status"] = "unhealthy"
            self.containers.save(c)

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    async def _monitor(self, cid: str) -> None:
        try:
            while True:
                await asyncio.sleep(self._interval(cid))
                c = self.containers.get(cid)
                result = await self._probe(c)
                self._record(self.containers.get(cid), result)
        except NotFound:
            self._tasks.pop(cid, None)
        except asyncio.CancelledError:
            raise
        except Exception:  # a monitor must not die silently: log, and let the next start retry
            log.exception("healthcheck monitor of %s failed", cid[:12])
            self._tasks.pop(cid, None)

    def _interval(self, cid: str) -> float:
        c = self.containers.get(cid)
        health = c.config.get("Healthcheck") or {}
        interval = (health.get("Interval") or 0) / _NS or DEFAULT_INTERVAL
        start_interval = (health.get("StartInterval") or 0) / _NS or DEFAULT_START_INTERVAL
        start_period = (health.get("StartPeriod") or 0) / _NS
        in_start_period = time.time() - parse_rfc3339(c.state["StartedAt"]) < start_period
        status = (c.state.get("Health") or {}).get("Status")
        return start_interval if in_start_period and status == "starting" else interval

    async def _probe(self, c: Container) -> dict[str, Any]:
        health = c.config.get("Healthcheck") or {}
        timeout = (health.get("Timeout") or 0) / _NS or DEFAULT_TIMEOUT
        start = now_rfc3339()
        command = probe_command(c) or []
        try:
            exec_id = self.execs.create(
                c.id,
                {
                    "Cmd": command,
                    "AttachStdout": True,
                    "AttachStderr": True,
                    "User": c.config.get("User") or "",
                    "WorkingDir": c.config.get("WorkingDir") or "",
                },
            )
            stream = await self.execs.start(exec_id, detach=False, tty=True)
        except DockyardError as e:
            return {"Start": start, "End": now_rfc3339(), "ExitCode": -1, "Output": e.message}
        exec_ = self.execs.get(exec_id)
        output = bytearray()
        try:
            if stream is not None:
                await asyncio.wait_for(_collect(stream, output), timeout)
            await asyncio.wait_for(exec_.done.wait(), timeout)
        except TimeoutError:
            _kill(exec_.pid)
            text = output[:MAX_OUTPUT].decode(errors="replace")
            message = f"Health check exceeded timeout ({go_duration(timeout)})"
            return {
                "Start": start,
                "End": now_rfc3339(),
                "ExitCode": -1,
                "Output": f"{message}: {text}" if text else message,
            }
        finally:
            if stream is not None:
                await stream.close()
        return {
            "Start": start,
            "End": now_rfc3339(),
            "ExitCode": exec_.exit_code if exec_.exit_code is not None else -1,
            "Output": output[:MAX_OUTPUT].decode(errors="replace"),
        }

    def _record(self, c: Container, result: dict[str, Any]) -> None:
        """moby's handleProbeResult."""
        if c.id not in self._tasks or not c.state.get("Health"):
            return
        health = c.state["Health"]
        old = health["Status"]
        health["Log"] = [*(health.get("Log") or []), result][-MAX_LOG_ENTRIES:]
        if result["ExitCode"] == 0:
            health["FailingStreak"] = 0
            health["Status"] = "healthy"
        elif not (old == "starting" and self._in_start_period(c, result["Start"])):
            health["FailingStreak"] += 1
            retries = (c.config.get("Healthcheck") or {}).get("Retries") or DEFAULT_RETRIES
            if health["FailingStreak"] >= retries:
                health["Status"] = "unhealthy"
        self.containers.save(c)
        if health["Status"] != old:
            self.events.publish(
                "container",
                f"health_status: {health['Status']}",
                c.id,
                self.containers.event_attributes(c.record),
            )

    @staticmethod
    def _in_start_period(c: Container, probe_start: str) -> bool:
        period = ((c.config.get("Healthcheck") or {}).get("StartPeriod") or 0) / _NS
        since_start = parse_rfc3339(probe_start) - parse_rfc3339(c.state["StartedAt"])
        return since_start < period


async def _collect(stream: Any, output: bytearray) -> None:
    """Keep the first MAX_OUTPUT bytes of the probe's output; read (and drop) the rest."""
    while chunk := await stream.read():
        if len(output) < MAX_OUTPUT:
            output += chunk[: MAX_OUTPUT - len(output)]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
