"""Network links over netlink (pyroute2): bridges on the host, veth pairs into containers.

All netlink work runs on one thread of its own. pyroute2's synchronous API
drives an asyncio loop of its own, which cannot run on a thread whose loop
is already running (the daemon's); one thread also keeps link changes in
order. A container's namespace is reached by switching that thread alone
into it (setns affects the calling thread only) just long enough to open a
socket there (netlink, or the DNS server's, network/dns.py): no process is
forked for it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from dockyard.errors import SystemError as EngineSystemError

T = TypeVar("T")
SYSCTL_ROOT = "/proc/sys/net"
SYS_CLASS_NET = "/sys/class/net"
HAIRPIN = 1  # IFLA_BRPORT_MODE's BRIDGE_MODE_HAIRPIN
AF_INET6 = 10
# IFA_F_NODAD: the address is usable at once; the subnet is the engine's own to hand out,
# so duplicate address detection has nothing to find and would only delay the first packets.
NODAD = 0x02


@dataclass(frozen=True)
class Endpoint:
    """One container's interface on one bridge."""

    pid: int  # a process in the container's network namespace
    host_name: str  # the host end of the veth pair, a port of the bridge
    bridge: str
    ifname: str  # the container's end: eth0, eth1, ...
    address: str
    prefixlen: int
    gateway: str
    mac: str
    default_route: bool
    alias: str  # the host end's ifalias: which engine made it
    address6: str = ""  # on a network with IPv6: the v6 address, its prefix and gateway
    prefixlen6: int = 0
    gateway6: str = ""
    mtu: int = 0  # both ends of the veth; 0: the kernel's


class Links:
    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="dockyard-netlink")

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(iproute, *args)`` on the netlink thread with a host IPRoute of its own;
        kernel errors as ours.

        An IPRoute kept open grows with every request it serves (pyroute2 0.9 keeps
        something of each): over thousands of `run --rm` the daemon's memory did. A
        netlink socket costs under a millisecond to open.
        """
        try:
            return self._thread.submit(_with_iproute, fn, *args).result()
        except OSError as e:
            raise EngineSystemError(f"netlink: {e.strerror or e}") from None
        except Exception as e:
            code = _netlink_errno(e)
            if code is None:
                raise
            raise EngineSystemError(f"netlink: {os.strerror(code)}") from None

    # ------------------------------------------------------------------ the host's side
    def ensure_bridge(
        self, name: str, address: str, prefixlen: int, alias: str, mtu: int = 0
    ) -> None:
        """The bridge up with its gateway address and ``mtu`` (0: the kernel's); created when
        missing. Forwarding on.

        ``alias`` (the link's ifalias, `ip -d link` shows it) says which engine made it.
        """
        self._call(_ensure_bridge, name, address, prefixlen, alias, mtu)
        write_sysctl("ipv4/ip_forward", "1")

    def add_bridge_address6(self, name: str, address: str, prefixlen: int) -> None:
        """The bridge's IPv6 gateway address (IPv6 on for it), and v6 forwarding on."""
        write_sysctl(f"ipv6/conf/{name}/disable_ipv6", "0")
        self._call(_add_address6, name, address, prefixlen)
        write_sysctl("ipv6/conf/all/forwarding", "1")

    def route_localnet(self, bridge: str) -> None:
        """Let 127.0.0.0/8 addresses be routed through ``bridge``.

        The host's own clients of a published port come from 127.0.0.1 (DNAT in
        output), and their replies come back to it. Only safe once the engine's
        table drops packets to 127.0.0.0/8 arriving on the bridge (ruleset.py).
        """
        write_sysctl(f"ipv4/conf/{bridge}/route_localnet", "1")

    def delete(self, name: str) -> None:
        """Delete a link (a veth takes its peer along); a missing one is no error."""
        self._call(_delete, name)

    # ------------------------------------------------------------------ containers
    def add_endpoint(self, endpoint: Endpoint) -> None:
        """A veth pair: one end on the bridge, the other configured inside the container."""
        self._call(_add_endpoint, endpoint)

    def in_namespace(self, pid: int, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the netlink thread while it is in the network namespace of ``pid``.

        What ``fn`` opens there (sockets, a netlink socket) stays in that namespace.
        """
        return self._thread.submit(_in_namespace_of, pid, fn)


def marked_ports(alias: str) -> list[str]:
    """The links other than bridges whose ifalias is ``alias``: the host ends of the veth
    pairs the engine of that mark made. Read from sysfs: no netlink socket needed."""
    found = []
    for name in os.listdir(SYS_CLASS_NET):
        try:
            with open(f"{SYS_CLASS_NET}/{name}/ifalias") as f:
                marked = f.read().strip() == alias
        except OSError:  # gone meanwhile
            continue
        if marked and not os.path.isdir(f"{SYS_CLASS_NET}/{name}/bridge"):
            found.append(name)
    return found


def write_sysctl(key: str, value: str) -> None:
    path = f"{SYSCTL_ROOT}/{key}"
    with open(path) as f:
        if f.read().strip() == value:
            return
    with open(path, "w") as f:
        f.write(value)


# ---------------------------------------------------------------------- on the netlink thread
def _iproute() -> Any:
    from pyroute2 import IPRoute  # ~0.2 s to import: only engines that plumb networks pay it

    return IPRoute()


def _with_iproute(fn: Callable[..., T], *args: Any) -> T:
    with _iproute() as ipr:
        return fn(ipr, *args)


def _ensure_bridge(ipr: Any, name: str, address: str, prefixlen: int, alias: str, mtu: int) -> None:
    found = ipr.link_lookup(ifname=name)
    if found:
        index = found[0]
    else:
        ipr.link("add", ifname=name, kind="bridge")
        index = ipr.link_lookup(ifname=name)[0]
        ipr.link("set", index=index, ifalias=alias)
        if mtu:
            ipr.link("set", index=index, mtu=mtu)
    addresses = {a.get("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=2)}
    if address not in addresses:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
    ipr.link("set", index=index, state="up")


def _add_address6(ipr: Any, name: str, address: str, prefixlen: int) -> None:
    index = ipr.link_lookup(ifname=name)[0]
    addresses = {a.get("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=AF_INET6)}
    if address not in addresses:
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen, flags=NODAD)


def _netlink_errno(error: Exception) -> int | None:
    """The kernel's errno of pyroute2's NetlinkError (not an OSError); None for other errors."""
    from pyroute2.netlink.exceptions import NetlinkError  # loaded: only netlink work gets here

    return error.code if isinstance(error, NetlinkError) else None


def _delete(ipr: Any, name: str) -> None:
    found = ipr.link_lookup(ifname=name)
    if not found:
        return
    try:
        ipr.link("del", index=found[0])
    except Exception as e:
        if _netlink_errno(e) != errno.ENODEV:  # ENODEV: gone meanwhile, with its namespace
            raise


def _add_endpoint(ipr: Any, e: Endpoint) -> None:
    namespace = os.open(f"/proc/{e.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        bridge = ipr.link_lookup(ifname=e.bridge)[0]
        peer: dict[str, Any] = {"ifname": e.ifname, "net_ns_fd": namespace, "address": e.mac}
        sized: dict[str, Any] = {"mtu": e.mtu} if e.mtu else {}
        ipr.link("add", ifname=e.host_name, kind="veth", peer={**peer, **sized}, **sized)
        host_end = ipr.link_lookup(ifname=e.host_name)[0]
        ipr.link("set", index=host_end, master=bridge, state="up", ifalias=e.alias)
        # Hairpin: a container's packets to its own published port come back out of the
        # port they came in by (DNAT on the host, no userland proxy), as Docker's do.
        ipr.brport("set", index=host_end, mode=HAIRPIN)
        try:
            _configure_inside(namespace, e)
        except BaseException:
            _delete(ipr, e.host_name)
            raise
    finally:
        os.close(namespace)


def _configure_inside(namespace: int, e: Endpoint) -> None:
    # An IPRoute whose socket lives in the container's namespace; the thread comes back at once.
    with _entered(namespace, _iproute) as ipr:
        index = ipr.link_lookup(ifname=e.ifname)[0]
        ipr.addr("add", index=index, address=e.address, prefixlen=e.prefixlen)
        ipr.link("set", index=index, state="up")
        if e.address6:
            ipr.addr("add", index=index, address=e.address6, prefixlen=e.prefixlen6, flags=NODAD)
        if e.default_route:
            ipr.route("add", dst="0.0.0.0/0", gateway=e.gateway)
            if e.gateway6:
                ipr.route("add", dst="::/0", gateway=e.gateway6, family=AF_INET6)


def _in_namespace_of(pid: int, fn: Callable[[], T]) -> T:
    namespace = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _entered(namespace, fn)
    finally:
        os.close(namespace)


def _entered(namespace: int, fn: Callable[[], T]) -> T:
    """``fn()`` called with this thread in ``namespace``; the thread goes back before returning."""
    from pyroute2.netns import setns

    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(namespace)
        try:
            return fn()
        finally:
            setns(own)
    finally:
        os.close(own)
