"""`docker exec`: extra processes in a running container.

Exec records live in memory, as in Docker: they belong to a running
container and are of no use once the daemon that started them is gone. The
processes do not: each runs under its own shim (runtime.execshim), forked by
the daemon's zygote, which owns its stdio, so an `exec -d` outlives the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.engine.container import Container
from dockyard.engine.events import EventBus
from dockyard.engine.names import new_id
from dockyard.engine.namespaces import ContainerLookup
from dockyard.engine.specgen import container_cgroup_path
from dockyard.engine.streams import ShimStream, Stream
from dockyard.errors import CommandError, Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.runtime import capabilities, execshim
from dockyard.runtime.execshim import ExecShimConfig, exec_dir, read_reply
from dockyard.runtime.users import resolve_user

# An exec that failed to start for another reason than its command (moby's default).
EXEC_FAILED = 126


@dataclass
class Exec:
    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    dir: Path = Path()  # its shim's, under <exec-root>/<container-id>/execs/
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def inspect(self) -> dict:
        cmd = self.config.get("Cmd") or []
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": bool(self.config.get("Tty")),
                "entrypoint": cmd[0] if cmd else "",
                "arguments": cmd[1:],
                "privileged": bool(self.config.get("Privileged")),
                "user": self.config.get("User") or "",
            },
            "OpenStdin": bool(self.config.get("AttachStdin")),
            "OpenStderr": bool(self.config.get("AttachStderr")),
            "OpenStdout": bool(self.config.get("AttachStdout")),
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.config.get("DetachKeys") or "",
            "Pid": self.pid,
        }


class ExecService:
    def __init__(self, containers: ContainerLookup, events: EventBus, exec_root: Path) -> None:
        self.containers = containers
        self.events = events
        self.exec_root = exec_root
        # How an exec's shim is forked: from this process, or by the daemon's zygote.
        self.spawn_exec: Callable[[ExecShimConfig], tuple[int, socket.socket]] = execshim.spawn
        self._execs: dict[str, Exec] = {}

    def forget(self, container: Container) -> None:
        """The container is removed: so are its execs."""
        for exec_id in [e.id for e in self._execs.values() if e.container_id == container.id]:
            del self._execs[exec_id]

    def get(self, exec_id: str) -> Exec:
        try:
            return self._execs[exec_id]
        except KeyError:
            raise NotFound(f"No such exec instance: {exec_id}") from None

    def create(self, ref: str, body: dict[str, Any]) -> str:
        c = self.containers.get(ref)
        if not c.running:
            raise Conflict(f"container {c.id} is not running")
        if c.state["Paused"]:
            raise Conflict(f"Container {ref} is paused, unpause the container before exec")
        if c.state["Restarting"]:
            raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidArgument("No exec command specified")
        if body.get("User"):
            # As moby: an unknown user is refused now, not when the exec starts.
            resolve_user(Path(f"/proc/{c.state['Pid']}/root"), body["User"])
        exec_ = Exec(new_id(), c.id, {**body, "Cmd": cmd})
        self._execs[exec_.id] = exec_
        self.events.publish(
            "container", f"exec_create: {' '.join(cmd)}", c.id, {"execID": exec_.id, **_attrs(c)}
        )
        return exec_.id

    async def start(self, exec_id: str, *, detach: bool, tty: bool) -> Stream | None:
        """Run the exec under its own shim, forked by the zygote. Its terminal comes from
        the exec's create (``Tty`` there, as moby does); ``tty`` here, from the start
        request, only chooses raw or framed output."""
        exec_ = self.get(exec_id)
        if exec_.exit_code is not None:
            raise Conflict(f"exec command {exec_id} has already run")
        if exec_.running:
            raise Conflict(f"exec command {exec_id} is already running")
        c = self.containers.get(exec_.container_id)
        if not c.running:
            raise Conflict(f"container {c.id} is not running")
        config = exec_.config
        spec = json.loads((c.root / "config.json").read_text())
        exec_.dir = exec_dir(self.exec_root, c.id, exec_.id)
        cfg = ExecShimConfig(
            exec_id=exec_.id,
            container_id=c.id,
            dir=exec_.dir,
            init_pid=c.state["Pid"],
            process=self._process(c, spec, config, bool(config.get("Tty"))),
            cgroups_path=container_cgroup_path(c),
            seccomp=spec["linux"].get("seccomp"),  # the container's: even --privileged keeps it
            stdin=bool(config.get("AttachStdin")) and not detach,
            detach=detach,
            framed=not tty,
        )
        _, sock = await asyncio.to_thread(self.spawn_exec, cfg)
        reply, shim = await asyncio.to_thread(read_reply, sock)
        if "error" in reply or shim is None:
            sock.close()
            # moby: the exit code of what could not run (127 not found, 126 not runnable).
            code = reply.get("code")
            exec_.exit_code = code if code is not None else EXEC_FAILED
            exec_.done.set()
            shutil.rmtree(exec_.dir, ignore_errors=True)
            if code is not None:
                raise CommandError(_runtime_message(reply["error"]), code)
            raise DockyardError(reply.get("error") or "the exec's supervisor gave no handle on it")
        exec_.pid = int(reply["pid"])
        exec_.running = True
        self.events.publish(
            "container",
            f"exec_start: {' '.join(config['Cmd'])}",
            c.id,
            {"execID": exec_.id, **_attrs(c)},
        )
        self._watch(exec_, shim)
        if detach:
            sock.close()
            return None
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        return ShimStream(tty=tty, reader=reader, writer=writer, finished=exec_.done)

    def _process(self, c: Any, spec: dict, config: dict[str, Any], tty: bool) -> dict:
        process = copy.deepcopy(spec["process"])
        root = Path(f"/proc/{c.state['Pid']}/root")
        if config.get("User"):
            uid, gid, groups = resolve_user(root, config["User"], c.host_config.get("GroupAdd"))
            process["user"] = {
                "uid": uid,
                "gid": gid,
                **({"additionalGids": groups} if groups else {}),
            }
        env = list(process.get("env") or [])
        for item in config.get("Env") or []:
            key = item.split("=", 1)[0]
            env = [e for e in env if e.split("=", 1)[0] != key] + [item]
        process.update(
            args=config["Cmd"],
            env=env,
            terminal=tty,
            cwd=config.get("WorkingDir") or process.get("cwd") or "/",
        )
        if config.get("Privileged"):
            # moby: every capability, whatever the container's own set.
            process["capabilities"] = {
                kind: capabilities.all_capabilities()
                for kind in ("bounding", "effective", "permitted")
            }
        return process

    def _watch(self, exec_: Exec, pidfd: int) -> None:
        """The exec ended when its shim (``pidfd``) did: its exit code is in the shim's
        exit.json."""
        loop = asyncio.get_running_loop()

        def exited() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            try:
                exec_.exit_code = json.loads((exec_.dir / "exit.json").read_text())["ExitCode"]
            except (OSError, ValueError, KeyError):  # the shim died before the process
                exec_.exit_code = EXEC_FAILED
            shutil.rmtree(exec_.dir, ignore_errors=True)
            exec_.running = False
            exec_.done.set()
            with contextlib.suppress(NotFound):
                c = self.containers.get(exec_.container_id)
                self.events.publish(
                    "container",
                    "exec_die",
                    c.id,
                    {"execID": exec_.id, "exitCode": str(exec_.exit_code), **_attrs(c)},
                )

        loop.add_reader(pidfd, exited)

    def inspect(self, exec_id: str) -> dict:
        return self.get(exec_id).inspect()

    def resize(self, exec_id: str, height: int, width: int) -> None:
        exec_ = self.get(exec_id)
        if exec_.running and exec_.config.get("Tty"):
            with contextlib.suppress(OSError, ValueError):  # it just ended
                execshim.request(exec_.dir, {"resize": [height, width]})


def _attrs(c: Any) -> dict[str, str]:
    return {"image": c.config["Image"], "name": c.name}


def _runtime_message(message: str) -> str:
    """How runc's exec reports a process it could not start, as Docker shows it."""
    return f"OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown"
