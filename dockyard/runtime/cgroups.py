"""Control groups for containers: one interface, a cgroup v1 and a cgroup v2 backend.

``open_cgroup(path)`` picks the backend the machine uses: v2 when
/sys/fs/cgroup itself is a cgroup2 mount, otherwise v1, one hierarchy per
controller under /sys/fs/cgroup/<controller> (a hybrid machine's extra
cgroup2 mount at /sys/fs/cgroup/unified is left alone, as Docker does).

Paths follow runc: an absolute path is taken from each hierarchy's root, a
relative one (``dockyard/<id>``) from the calling process's own cgroup in
that hierarchy, so a container stays under its engine's cgroup.

Device rules go to devices.allow and devices.deny on v1; v2 has no such files,
so there they become an eBPF program attached to the cgroup (``devicefilter``).
"""

from __future__ import annotations

import errno
import os
import time
from abc import ABC, abstractmethod

from dockyard.runtime import devicefilter
from dockyard.runtime.linux import SIGKILL

TYPE_CHECKING = False  # typing costs ~10 ms of the runtime CLI's start-up
if TYPE_CHECKING:
    from collections.abc import Callable

CGROUP_ROOT = "/sys/fs/cgroup"
_UNLIMITED_V1 = 0x7FFFFFFFFFFFF000  # what memory.limit_in_bytes reads when no limit is set
_DESTROY_TIMEOUT = 5.0
_FREEZE_TIMEOUT = 10.0
_V2_CONTROLLERS = ("cpu", "cpuset", "memory", "pids", "io")
_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")

# OCI linux.resources.blockIO throttles → the v1 file, and the v2 io.max key.
_V1_THROTTLE_FILES = (
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
)
_V2_THROTTLE_KEYS = (
    ("throttleReadBpsDevice", "rbps"),
    ("throttleWriteBpsDevice", "wbps"),
    ("throttleReadIOPSDevice", "riops"),
    ("throttleWriteIOPSDevice", "wiops"),
)


class CgroupStats:
    """One sample of a cgroup's counters, in bytes and nanoseconds.

    What one cgroup version does not count is 0 or empty in the other: v2 has no
    per-CPU usage and no memory high-water mark; its block I/O is bytes read and
    written per device (``blkio``: {file name: [(major, minor, op, value)]}).
    """

    __slots__ = (
        "version", "memory_usage", "memory_max_usage", "memory_limit", "memory_failcnt",
        "memory_stat", "cpu_usage_ns", "cpu_percpu_ns", "cpu_kernel_ns", "cpu_user_ns",
        "cpu_throttling", "blkio", "pids_current", "pids_limit",
    )  # fmt: skip

    def __init__(
        self,
        version: int,
        memory_usage: int,
        memory_limit: int,
        memory_stat: dict[str, int],
        cpu_usage_ns: int,
        pids_current: int,
        *,
        memory_max_usage: int = 0,
        memory_failcnt: int = 0,
        cpu_percpu_ns: list[int] | None = None,
        cpu_kernel_ns: int = 0,
        cpu_user_ns: int = 0,
        cpu_throttling: tuple[int, int, int] = (0, 0, 0),
        blkio: dict[str, list[tuple[int, int, str, int]]] | None = None,
        pids_limit: int = 0,
    ) -> None:
        self.version = version  # of the cgroup the counters come from: 1 or 2
        self.memory_usage = memory_usage
        self.memory_max_usage = memory_max_usage
        self.memory_limit = memory_limit  # 0 when unlimited
        self.memory_failcnt = memory_failcnt
        self.memory_stat = memory_stat  # memory.stat as the kernel writes it
        self.cpu_usage_ns = cpu_usage_ns
        self.cpu_percpu_ns = cpu_percpu_ns or []
        self.cpu_kernel_ns = cpu_kernel_ns
        self.cpu_user_ns = cpu_user_ns
        self.cpu_throttling = cpu_throttling  # periods, throttled periods, throttled time
        self.blkio = blkio or {}
        self.pids_current = pids_current
        self.pids_limit = pids_limit  # 0 when unlimited


# Block I/O counters of cgroup v1: those of the CFQ scheduler when it keeps them, else
# the throttle ones (what containerd reads, by the names moby's JSON gives them).
_BLKIO_CFQ = (
    ("sectors_recursive", "sectors_recursive"),
    ("io_service_bytes_recursive", "io_service_bytes_recursive"),
    ("io_serviced_recursive", "io_serviced_recursive"),
    ("io_queued_recursive", "io_queue_recursive"),
    ("io_service_time_recursive", "io_service_time_recursive"),
    ("io_wait_time_recursive", "io_wait_time_recursive"),
    ("io_merged_recursive", "io_merged_recursive"),
    ("time_recursive", "io_time_recursive"),
)
_BLKIO_THROTTLE = (
    ("throttle.io_serviced_recursive", "io_serviced_recursive"),
    ("throttle.io_service_bytes_recursive", "io_service_bytes_recursive"),
)
BLKIO_KEYS = tuple(key for _, key in _BLKIO_CFQ)


def _write(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise OSError(
            exc.errno, f"write {value!r} to {path}: {os.strerror(exc.errno or 0)}"
        ) from None


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode().strip()


def _read_int(path: str, default: int = 0) -> int:
    try:
        text = _read(path)
    except FileNotFoundError:
        return default
    return default if text == "max" else int(text)


def _read_keyed(path: str) -> dict[str, int]:
    """A flat-keyed file such as memory.stat or cpu.stat."""
    values: dict[str, int] = {}
    try:
        text = _read(path)
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.isdigit():
            values[key] = int(value)
    return values


def _read_ints(path: str) -> list[int]:
    """A file of numbers separated by blanks, such as cpuacct.usage_percpu."""
    try:
        return [int(value) for value in _read(path).split()]
    except FileNotFoundError:
        return []


def _read_blkio(path: str) -> list[tuple[int, int, str, int]]:
    """A v1 blkio file: ``major:minor Op value`` lines (``Total value`` is skipped)."""
    entries: list[tuple[int, int, str, int]] = []
    try:
        text = _read(path)
    except FileNotFoundError:
        return entries
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or ":" not in fields[0]:
            continue
        major, _, minor = fields[0].partition(":")
        op = fields[1] if len(fields) == 3 else ""
        entries.append((int(major), int(minor), op, int(fields[-1])))
    return entries


def _read_io_stat(path: str) -> dict[str, list[tuple[int, int, str, int]]]:
    """v2 io.stat as moby reports it: bytes read and written per device."""
    try:
        text = _read(path)
    except FileNotFoundError:
        return {}
    entries = []
    for line in text.splitlines():
        device, *pairs = line.split()
        major, _, minor = device.partition(":")
        counters = dict(pair.partition("=")[::2] for pair in pairs)
        for op, key in (("read", "rbytes"), ("write", "wbytes")):
            entries.append((int(major), int(minor), op, int(counters.get(key, 0))))
    return {"io_service_bytes_recursive": entries}


def _pids_in(procs_file: str) -> list[int]:
    try:
        return [int(line) for line in _read(procs_file).split()]
    except FileNotFoundError:
        return []


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup in each hierarchy: {"cpu,cpuacct": "/", "memory": "/a/b", "": "/" (v2)}.

    Hierarchies come in the order of their ids, which is the order they were mounted in.
    """
    entries = []
    with open("/proc/self/cgroup", "rb") as f:
        for line in f.read().decode().splitlines():
            number, controllers, path = line.split(":", 2)
            entries.append((int(number), controllers.removeprefix("name="), path))
    return {name: path for _, name, path in sorted(entries)}


def _under(own: str, path: str) -> str:
    return os.path.normpath(path if path.startswith("/") else os.path.join(own, path))


def _poll(done: Callable[[], bool], what: str) -> None:
    """Call ``done`` with growing pauses until it is true; OSError(ETIMEDOUT) if it never is."""
    deadline = time.monotonic() + _FREEZE_TIMEOUT
    delay = 0.0005
    while not done():
        if time.monotonic() > deadline:
            raise OSError(errno.ETIMEDOUT, f"{what}: timed out")
        time.sleep(delay)
        delay = min(delay * 2, 0.01)


def _remove_dir(path: str, deadline: float) -> None:
    """rmdir a cgroup, retrying while its last tasks finish exiting."""
    delay = 0.001
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise OSError(
                    exc.errno, f"remove cgroup {path}: {os.strerror(exc.errno or 0)}"
                ) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class Cgroup(ABC):
    """A container's cgroup (``path`` is the OCI linux.cgroupsPath)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @abstractmethod
    def create(self, resources: dict) -> None:
        """Make the cgroup and apply OCI ``linux.resources`` (memory, cpu, pids, devices)."""

    # Whether ``enter`` is cheap. Moving a whole process makes the kernel wait out an RCU
    # grace period (5-15 ms when the machine was idle); a lone thread moving itself
    # through cgroup v1's `tasks` does not. Where it is not, the caller moves the new
    # process itself (add_process), in parallel with the process's own setup.
    enter_is_cheap = False

    @abstractmethod
    def update(self, resources: dict) -> None:
        """Change the limits of a live cgroup (``docker update``); devices stay as they are.

        A pids limit of -1 and a memory swap of -1 lift those limits.
        """

    @abstractmethod
    def add_process(self, pid: int) -> None:
        """Move ``pid`` (the whole process) into the cgroup."""

    @abstractmethod
    def enter(self) -> None:
        """Move the calling process, which must have a single thread, into the cgroup."""

    @abstractmethod
    def pids(self) -> list[int]:
        """Host pids of the processes in the cgroup."""

    @abstractmethod
    def freeze(self) -> None:
        """Stop every process in the cgroup; returns once all are frozen."""

    @abstractmethod
    def thaw(self) -> None: ...

    @abstractmethod
    def frozen(self) -> bool:
        """Whether the cgroup is frozen (or freezing)."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether any of the cgroup's directories is there."""

    @abstractmethod
    def stats(self) -> CgroupStats: ...

    @abstractmethod
    def oom_kills(self) -> int:
        """How many of the cgroup's processes the kernel's OOM killer has killed."""

    @abstractmethod
    def mount_sources(self) -> list[tuple[str, str]]:
        """(name under /sys/fs/cgroup, host directory) to show the container its own cgroup."""

    @abstractmethod
    def destroy(self) -> None:
        """Remove the cgroup's directories once its processes are gone."""

    def kill_all(self, sig: int = SIGKILL) -> None:
        """Signal every process, frozen first so none can fork away in between."""
        self.freeze()
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    continue
        finally:
            self.thaw()


class CgroupV1(Cgroup):
    """One directory per hierarchy: /sys/fs/cgroup/<controllers>/<path>."""

    def __init__(self, path: str, root: str = CGROUP_ROOT) -> None:
        super().__init__(path)
        self.root = root
        # hierarchy mount name ("memory", "cpu,cpuacct", "systemd") → the container's directory
        self.hierarchies: dict[str, str] = {}
        for name, own in _own_cgroups().items():
            if name and os.path.isdir(f"{root}/{name}"):
                self.hierarchies[name] = f"{root}/{name}{_under(own, path)}"
        self.dirs: dict[str, str] = {
            controller: directory
            for name, directory in self.hierarchies.items()
            for controller in name.split(",")
        }

    def _file(self, controller: str, name: str) -> str:
        return f"{self.dirs[controller]}/{name}"

    def create(self, resources: dict) -> None:
        try:
            for name, directory in self.hierarchies.items():
                self._make_dir(directory, copy_cpuset="cpuset" in name.split(","))
            self._apply(resources)
        except OSError:
            self.destroy()
            raise

    def _make_dir(self, directory: str, copy_cpuset: bool) -> None:
        """mkdir -p; a new cpuset level starts empty, so it copies its parent's cpus and mems."""
        try:
            os.mkdir(directory)
        except FileExistsError:
            return
        except FileNotFoundError:
            self._make_dir(os.path.dirname(directory), copy_cpuset)
            os.mkdir(directory)
        if copy_cpuset:
            parent = os.path.dirname(directory)
            for name in ("cpuset.cpus", "cpuset.mems"):
                _write(f"{directory}/{name}", _read(f"{parent}/{name}"))

    def update(self, resources: dict) -> None:
        memory = dict(resources.get("memory") or {})
        limit, swap = memory.pop("limit", 0), memory.pop("swap", 0)
        memsw = self._file("memory", "memory.memsw.limit_in_bytes")
        # The kernel keeps limit <= memsw at every step: raise memsw first when growing.
        if swap and (swap < 0 or limit > _read_int(memsw)):
            _write(memsw, str(swap))
            swap = 0
        if limit:
            _write(self._file("memory", "memory.limit_in_bytes"), str(limit))
        if swap:
            _write(memsw, str(swap))
        if (resources.get("pids") or {}).get("limit") == -1:
            _write(self._file("pids", "pids.max"), "max")
        self._apply({**resources, "memory": memory}, devices=False)

    def _apply(self, resources: dict, devices: bool = True) -> None:
        memory = resources.get("memory") or {}
        for key, name in (
            ("limit", "memory.limit_in_bytes"),
            ("swap", "memory.memsw.limit_in_bytes"),
            ("reservation", "memory.soft_limit_in_bytes"),
        ):
            if memory.get(key):
                _write(self._file("memory", name), str(memory[key]))
        if memory.get("swappiness") is not None:
            _write(self._file("memory", "memory.swappiness"), str(memory["swappiness"]))
        if memory.get("disableOOMKiller"):
            _write(self._file("memory", "memory.oom_control"), "1")
        cpu = resources.get("cpu") or {}
        for key, controller, name in (
            ("shares", "cpu", "cpu.shares"),
            ("period", "cpu", "cpu.cfs_period_us"),
            ("quota", "cpu", "cpu.cfs_quota_us"),
            ("realtimePeriod", "cpu", "cpu.rt_period_us"),
            ("realtimeRuntime", "cpu", "cpu.rt_runtime_us"),
            ("cpus", "cpuset", "cpuset.cpus"),
            ("mems", "cpuset", "cpuset.mems"),
        ):
            if cpu.get(key):
                _write(self._file(controller, name), str(cpu[key]))
        self._apply_block_io(resources.get("blockIO") or {})
        limit = (resources.get("pids") or {}).get("limit", 0)
        if limit > 0:
            _write(self._file("pids", "pids.max"), str(limit))
        if devices and "devices" in self.dirs:
            self._apply_devices(resources.get("devices") or [])

    def _apply_block_io(self, block_io: dict) -> None:
        if block_io.get("weight"):
            _write(self._file("blkio", "blkio.weight"), str(block_io["weight"]))
        for device in block_io.get("weightDevice") or []:
            line = f"{device['major']}:{device['minor']} {device['weight']}"
            _write(self._file("blkio", "blkio.weight_device"), line)
        for key, name in _V1_THROTTLE_FILES:
            for device in block_io.get(key) or []:
                line = f"{device['major']}:{device['minor']} {device['rate']}"
                _write(self._file("blkio", name), line)

    def _apply_devices(self, rules: list[dict]) -> None:
        """Write OCI device rules in order (the runtime adds runc's defaults: devices.runtime_rules)."""
        for rule in rules:
            numbers = ":".join(
                "*" if number is None or number < 0 else str(number)
                for number in (rule.get("major"), rule.get("minor"))
            )
            line = f"{rule.get('type') or 'a'} {numbers} {rule.get('access') or 'rwm'}"
            name = "devices.allow" if rule.get("allow") else "devices.deny"
            _write(self._file("devices", name), line)

    enter_is_cheap = True

    def add_process(self, pid: int) -> None:
        for directory in self.hierarchies.values():
            _write(f"{directory}/cgroup.procs", str(pid))

    def enter(self) -> None:
        # "0" in `tasks` moves just the calling thread, the only one: no grace period.
        for directory in self.hierarchies.values():
            _write(f"{directory}/tasks", "0")

    def pids(self) -> list[int]:
        directory = self.dirs.get("pids") or next(iter(self.hierarchies.values()))
        return _pids_in(f"{directory}/cgroup.procs")

    def freeze(self) -> None:
        state = self._file("freezer", "freezer.state")

        def frozen() -> bool:
            # Writing FROZEN again nudges tasks that were forking when it was first asked.
            _write(state, "FROZEN")
            return _read(state) == "FROZEN"

        try:
            _poll(frozen, f"freeze {self.dirs['freezer']}")
        except OSError:
            self.thaw()
            raise

    def thaw(self) -> None:
        _write(self._file("freezer", "freezer.state"), "THAWED")

    def frozen(self) -> bool:
        try:
            return _read(self._file("freezer", "freezer.state")) != "THAWED"
        except (KeyError, FileNotFoundError):  # no freezer, or no cgroup
            return False

    def exists(self) -> bool:
        return any(os.path.isdir(directory) for directory in self.hierarchies.values())

    def stats(self) -> CgroupStats:
        limit = _read_int(self._file("memory", "memory.limit_in_bytes"))
        ticks = _read_keyed(self._file("cpuacct", "cpuacct.stat"))
        throttling = _read_keyed(self._file("cpu", "cpu.stat"))
        return CgroupStats(
            1,
            memory_usage=_read_int(self._file("memory", "memory.usage_in_bytes")),
            memory_max_usage=_read_int(self._file("memory", "memory.max_usage_in_bytes")),
            memory_limit=0 if limit >= _UNLIMITED_V1 else limit,
            memory_failcnt=_read_int(self._file("memory", "memory.failcnt")),
            memory_stat=_read_keyed(self._file("memory", "memory.stat")),
            cpu_usage_ns=_read_int(self._file("cpuacct", "cpuacct.usage")),
            cpu_percpu_ns=_read_ints(self._file("cpuacct", "cpuacct.usage_percpu")),
            # cpuacct.stat counts in clock ticks (USER_HZ).
            cpu_kernel_ns=ticks.get("system", 0) * _NS_PER_TICK,
            cpu_user_ns=ticks.get("user", 0) * _NS_PER_TICK,
            cpu_throttling=(
                throttling.get("nr_periods", 0),
                throttling.get("nr_throttled", 0),
                throttling.get("throttled_time", 0),
            ),
            blkio=self._blkio(),
            pids_current=_read_int(self._file("pids", "pids.current")),
            pids_limit=_read_int(self._file("pids", "pids.max")),
        )

    def _blkio(self) -> dict[str, list[tuple[int, int, str, int]]]:
        if "blkio" not in self.dirs:
            return {}
        found = {key: _read_blkio(self._file("blkio", f"blkio.{name}")) for name, key in _BLKIO_CFQ}
        if not any(found.values()):
            found.update(
                (key, _read_blkio(self._file("blkio", f"blkio.{name}")))
                for name, key in _BLKIO_THROTTLE
            )
        return found

    def oom_kills(self) -> int:
        if "memory" not in self.dirs:
            return 0
        return _read_keyed(self._file("memory", "memory.oom_control")).get("oom_kill", 0)

    def mount_sources(self) -> list[tuple[str, str]]:
        return list(self.hierarchies.items())

    def destroy(self) -> None:
        deadline = time.monotonic() + _DESTROY_TIMEOUT
        for directory in self.hierarchies.values():
            _remove_dir(directory, deadline)


class CgroupV2(Cgroup):
    """One directory in the unified hierarchy: /sys/fs/cgroup/<path>."""

    def __init__(self, path: str, root: str = CGROUP_ROOT) -> None:
        super().__init__(path)
        self.root = root
        self.dir = root + _under(_own_cgroups().get("", "/"), path)

    def create(self, resources: dict) -> None:
        try:
            self._make_dirs()
            self._apply(resources)
        except OSError:
            self.destroy()
            raise

    def _make_dirs(self) -> None:
        """Create each missing level, enabling the available controllers for the level below.

        Only controllers not enabled yet are written: a cgroup that holds processes
        (ours, for a relative path) refuses any write to its subtree_control.
        """
        relative = os.path.relpath(self.dir, self.root)
        current = self.root
        for part in relative.split("/"):
            available = _read(f"{current}/cgroup.controllers").split()
            enabled = _read(f"{current}/cgroup.subtree_control").split()
            missing = [c for c in _V2_CONTROLLERS if c in available and c not in enabled]
            if missing:
                _write(f"{current}/cgroup.subtree_control", " ".join("+" + c for c in missing))
            current = f"{current}/{part}"
            os.makedirs(current, exist_ok=True)

    def update(self, resources: dict) -> None:
        if (resources.get("pids") or {}).get("limit") == -1:
            _write(f"{self.dir}/pids.max", "max")
        self._apply(resources)

    def _apply(self, resources: dict) -> None:
        memory = resources.get("memory") or {}
        if memory.get("limit"):
            _write(f"{self.dir}/memory.max", str(memory["limit"]))
        swap = memory.get("swap")
        if swap:
            # OCI's swap is memory+swap; cgroup v2 limits the swap alone.
            _write(
                f"{self.dir}/memory.swap.max",
                "max" if swap < 0 else str(max(swap - memory.get("limit", 0), 0)),
            )
        cpu = resources.get("cpu") or {}
        if cpu.get("quota") or cpu.get("period"):
            quota = cpu.get("quota") or 0
            _write(
                f"{self.dir}/cpu.max",
                f"{quota if quota > 0 else 'max'} {cpu.get('period') or 100000}",
            )
        if cpu.get("shares"):
            _write(f"{self.dir}/cpu.weight", str(1 + ((cpu["shares"] - 2) * 9999) // 262142))
        for key, name in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
            if cpu.get(key):
                _write(f"{self.dir}/{name}", str(cpu[key]))
        if memory.get("reservation"):
            _write(f"{self.dir}/memory.low", str(memory["reservation"]))
        self._apply_io(resources.get("blockIO") or {})
        limit = (resources.get("pids") or {}).get("limit", 0)
        if limit > 0:
            _write(f"{self.dir}/pids.max", str(limit))
        if resources.get("devices"):
            devicefilter.attach(self.dir, resources["devices"])

    def _apply_io(self, block_io: dict) -> None:
        """blkio weights and throttles as runc maps them to io.bfq.weight / io.weight and io.max."""
        bfq = os.path.exists(f"{self.dir}/io.bfq.weight")
        weight_file = f"{self.dir}/io.bfq.weight" if bfq else f"{self.dir}/io.weight"

        def weight(value: int) -> int:
            return value if bfq else 1 + (value - 10) * 9999 // 990

        if block_io.get("weight"):
            _write(weight_file, str(weight(block_io["weight"])))
        for device in block_io.get("weightDevice") or []:
            line = f"{device['major']}:{device['minor']} {weight(device['weight'])}"
            _write(weight_file, line)
        for key, name in _V2_THROTTLE_KEYS:
            for device in block_io.get(key) or []:
                _write(
                    f"{self.dir}/io.max",
                    f"{device['major']}:{device['minor']} {name}={device['rate']}",
                )

    def add_process(self, pid: int) -> None:
        _write(f"{self.dir}/cgroup.procs", str(pid))

    def enter(self) -> None:
        _write(f"{self.dir}/cgroup.procs", "0")

    def pids(self) -> list[int]:
        return _pids_in(f"{self.dir}/cgroup.procs")

    def _set_frozen(self, frozen: bool) -> None:
        _write(f"{self.dir}/cgroup.freeze", str(int(frozen)))
        events = f"{self.dir}/cgroup.events"
        _poll(lambda: _read_keyed(events).get("frozen") == int(frozen), f"freeze {self.dir}")

    def freeze(self) -> None:
        try:
            self._set_frozen(True)
        except OSError:
            self.thaw()
            raise

    def thaw(self) -> None:
        self._set_frozen(False)

    def frozen(self) -> bool:
        try:
            return _read(f"{self.dir}/cgroup.freeze") == "1"
        except FileNotFoundError:
            return False

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def kill_all(self, sig: int = SIGKILL) -> None:
        if sig == SIGKILL and os.path.exists(f"{self.dir}/cgroup.kill"):
            _write(f"{self.dir}/cgroup.kill", "1")
            return
        super().kill_all(sig)

    def stats(self) -> CgroupStats:
        cpu = _read_keyed(f"{self.dir}/cpu.stat")
        return CgroupStats(
            2,
            memory_usage=_read_int(f"{self.dir}/memory.current"),
            memory_limit=_read_int(f"{self.dir}/memory.max"),
            memory_failcnt=_read_keyed(f"{self.dir}/memory.events").get("oom", 0),
            memory_stat=_read_keyed(f"{self.dir}/memory.stat"),
            cpu_usage_ns=cpu.get("usage_usec", 0) * 1000,
            cpu_kernel_ns=cpu.get("system_usec", 0) * 1000,
            cpu_user_ns=cpu.get("user_usec", 0) * 1000,
            cpu_throttling=(
                cpu.get("nr_periods", 0),
                cpu.get("nr_throttled", 0),
                cpu.get("throttled_usec", 0) * 1000,
            ),
            blkio=_read_io_stat(f"{self.dir}/io.stat"),
            pids_current=_read_int(f"{self.dir}/pids.current"),
            pids_limit=_read_int(f"{self.dir}/pids.max"),
        )

    def oom_kills(self) -> int:
        return _read_keyed(f"{self.dir}/memory.events").get("oom_kill", 0)

    def mount_sources(self) -> list[tuple[str, str]]:
        return [("", self.dir)]

    def destroy(self) -> None:
        _remove_dir(self.dir, time.monotonic() + _DESTROY_TIMEOUT)


def unified() -> bool:
    """Whether /sys/fs/cgroup is a pure cgroup v2 mount."""
    return os.path.exists(f"{CGROUP_ROOT}/cgroup.controllers")


def open_cgroup(path: str) -> Cgroup:
    """The cgroup at OCI cgroupsPath ``path``, whether or not it exists yet."""
    return CgroupV2(path) if unified() else CgroupV1(path)


class Support:
    """What this host's cgroups can limit: moby's sysinfo, by the files it looks for.

    v1 is read at the root of each hierarchy; v2 from the controllers of our
    own cgroup, where v2 has no swappiness, OOM-killer switch or real-time
    scheduler.
    """

    __slots__ = (
        "memory",
        "swap",
        "memory_reservation",
        "memory_swappiness",
        "oom_kill_disable",
        "cpu_shares",
        "cpu_cfs",
        "cpu_realtime",
        "cpuset",
        "cpus",
        "mems",
        "blkio_weight",
        "blkio_weight_device",
        "blkio_throttle",
        "pids",
    )

    def __init__(self, root: str = CGROUP_ROOT) -> None:
        if os.path.exists(f"{root}/cgroup.controllers"):
            self._read_v2(root)
        else:
            self._read_v1(root)

    def _read_v1(self, root: str) -> None:
        def has(controller: str, name: str = "") -> bool:
            return os.path.exists(f"{root}/{controller}/{name}")

        self.memory = has("memory", "memory.limit_in_bytes")
        self.swap = has("memory", "memory.memsw.limit_in_bytes")
        self.memory_reservation = has("memory", "memory.soft_limit_in_bytes")
        self.memory_swappiness = has("memory", "memory.swappiness")
        self.oom_kill_disable = has("memory", "memory.oom_control")
        self.cpu_shares = has("cpu", "cpu.shares")
        self.cpu_cfs = has("cpu", "cpu.cfs_quota_us")
        self.cpu_realtime = has("cpu", "cpu.rt_period_us")
        self.cpuset = has("cpuset", "cpuset.cpus")
        self.cpus = _read(f"{root}/cpuset/cpuset.cpus") if self.cpuset else ""
        self.mems = _read(f"{root}/cpuset/cpuset.mems") if self.cpuset else ""
        self.blkio_weight = has("blkio", "blkio.weight")
        self.blkio_weight_device = has("blkio", "blkio.weight_device")
        self.blkio_throttle = has("blkio", "blkio.throttle.read_bps_device")
        self.pids = has("pids")

    def _read_v2(self, root: str) -> None:
        own = root + _own_cgroups().get("", "/")
        controllers = set(_read(f"{own}/cgroup.controllers").split())
        self.memory = self.memory_reservation = "memory" in controllers
        self.swap = os.path.exists(f"{own}/memory.swap.max")
        self.memory_swappiness = self.oom_kill_disable = self.cpu_realtime = False
        self.cpu_shares = self.cpu_cfs = "cpu" in controllers
        self.cpuset = "cpuset" in controllers
        self.cpus = _read(f"{own}/cpuset.cpus.effective") if self.cpuset else ""
        self.mems = _read(f"{own}/cpuset.mems.effective") if self.cpuset else ""
        self.blkio_weight = self.blkio_weight_device = self.blkio_throttle = "io" in controllers
        self.pids = "pids" in controllers


def swap_limit_supported() -> bool:
    """Whether memory+swap can be limited (v1 needs swap accounting in the kernel)."""
    return unified() or os.path.exists(f"{CGROUP_ROOT}/memory/memory.memsw.limit_in_bytes")
