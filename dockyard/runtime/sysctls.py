"""Which sysctls a container may set: only those its own namespaces scope (runc's validator).

The init writes ``linux.sysctl`` through its own /proc/sys once it has
unshared, so a sysctl that no namespace of the container scopes would change
the host's value. ``check`` refuses such a config before anything is created,
with runc's messages.
"""

from __future__ import annotations

import os

from dockyard.errors import SystemError

# The IPC namespace's sysctls (with fs.mqueue.*); the docker CLI lets the same through.
IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)


def _slashed(key: str) -> bool:
    """Whether ``key`` is spelt with slashes (``net/ipv4/conf/eth0.100/forwarding``).

    runc takes both spellings; in the slash form a dot belongs to a name.
    """
    return next((c for c in key if c in "./"), ".") == "/"


def dotted(key: str) -> str:
    """The sysctl's name in the dotted form the rules are written in."""
    return key.translate(str.maketrans("./", "/.")) if _slashed(key) else key


def proc_path(key: str) -> str:
    """The file under /proc/sys that holds the sysctl."""
    return "/proc/sys/" + (key if _slashed(key) else key.replace(".", "/"))


def check(sysctl: dict[str, str], namespaces: list[dict]) -> None:
    """Raise SystemError for the first sysctl that would reach outside the container."""
    private = {ns["type"] for ns in namespaces if not ns.get("path")}
    joined = {ns["type"]: ns["path"] for ns in namespaces if ns.get("path")}
    for key in sysctl:
        name = dotted(key)
        if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if "ipc" not in private and "ipc" not in joined:
                raise SystemError(f'sysctl "{name}" is not allowed in the hosts ipc namespace')
            continue
        if name.startswith("net."):
            if _host_network(private, joined):
                raise SystemError(f'sysctl "{name}" not allowed in host network namespace')
            continue
        if "uts" in private or "uts" in joined:
            if name == "kernel.domainname":
                continue
            if name == "kernel.hostname":
                raise SystemError(
                    f'sysctl "{name}" is not allowed as it conflicts with the OCI "hostname" field'
                )
        raise SystemError(f'sysctl "{name}" is not in a separate kernel namespace')


def _host_network(private: set[str], joined: dict[str, str]) -> bool:
    """Whether the container shares our network namespace ("host" meaning the caller's)."""
    if "network" in private:
        return False
    path = joined.get("network")
    if path is None:
        return True
    try:
        ours, theirs = os.stat("/proc/self/ns/net"), os.stat(path)
    except OSError as exc:
        raise SystemError(
            f"invalid netns path: stat {exc.filename}: {os.strerror(exc.errno or 0).lower()}"
        ) from None
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)
