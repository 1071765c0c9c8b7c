"""The last steps before execve, shared by a container's init and `exec`.

``join_session_keyring`` gives the process its container's session keyring.
Given an OCI ``process`` object, ``prepare`` sets rlimits, the working
directory, no_new_privs, the user and the capabilities (runc's
finalizeNamespace order), and finds the executable; ``execute`` replaces the
process with it. The seccomp filter goes on where
runc puts it: without no_new_privs, before the capabilities are dropped
(installing a filter then needs CAP_SYS_ADMIN); with it, just before execve,
so that as few of our own syscalls as possible run under it. Errors in
finding or running the program are ``CommandError`` with Docker's messages
and exit codes (127: not found, 126: found but not runnable).
"""

from __future__ import annotations

import errno
import os
import resource
import stat

from dockyard.errors import CommandError
from dockyard.runtime import capabilities, linux

# Annotations only: the seccomp module (libseccomp) is imported by whoever builds a filter.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.runtime.seccomp import Program

_NOT_FOUND_ERRNOS = (errno.ENOENT, errno.ENOTDIR)
# KEY_USR_SEARCH: the same uid (a later `exec`) may find and join the session keyring.
_KEYRING_USER_SEARCH = 0x80000


class Executable:
    """What ``execute`` runs: a resolved path (or why there is none), argv and environment,
    and the seccomp filter still to install before the execve, if any."""

    __slots__ = ("path", "args", "env", "error", "seccomp")

    def __init__(
        self,
        path: str,
        args: list[str],
        env: dict[str, str],
        error: CommandError | None,
        seccomp: Program | None = None,
    ) -> None:
        self.path = path
        self.args = args
        self.env = env
        self.error = error
        self.seccomp = seccomp


def go_error_text(code: int) -> str:
    """strerror as Go (hence runc and Docker) spells it: lower-case first letter."""
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


def _rlimit_value(value: int) -> int:
    """OCI rlimits are uint64 with all ones for "unlimited"; resource wants RLIM_INFINITY."""
    return resource.RLIM_INFINITY if value < 0 or value >= 2**63 - 1 else value


def apply_rlimits(rlimits: list[dict]) -> None:
    """Set each limit as given, failing as runc does when one cannot be.

    A hard limit above ours needs CAP_SYS_RESOURCE: without it the container
    fails to start rather than run with less than it asked for.
    """
    for limit in rlimits:
        kind = getattr(resource, limit["type"])
        values = (_rlimit_value(limit["soft"]), _rlimit_value(limit["hard"]))
        try:
            resource.prlimit(0, kind, values)
        except (OSError, ValueError) as exc:
            code = exc.errno if isinstance(exc, OSError) and exc.errno else errno.EINVAL
            raise OSError(
                code,
                "error setting rlimits for ready process: "
                f"error setting rlimit type {kind}: {go_error_text(code)}",
            ) from None


def change_dir(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as exc:
        code = exc.errno or 0
        raise OSError(
            code, f'chdir to cwd ("{cwd}") set in config.json failed: {go_error_text(code)}'
        ) from None


def set_user_and_capabilities(user: dict, caps: dict) -> None:
    """Switch to the process's uid/gid/groups keeping exactly the spec's capabilities.

    The bounding set is dropped first; PR_SET_KEEPCAPS keeps the permitted
    set across setuid so capset can then grant what the spec says.
    """
    top = capabilities.last_cap()
    bounding = capabilities.mask(caps.get("bounding") or [])
    for number in range(top + 1):
        if not bounding >> number & 1:
            linux.prctl(linux.PR_CAPBSET_DROP, number)
    linux.prctl(linux.PR_SET_KEEPCAPS, 1)
    os.setgroups(user.get("additionalGids") or [])
    gid, uid = user.get("gid", 0), user.get("uid", 0)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    linux.prctl(linux.PR_SET_KEEPCAPS, 0)
    linux.capset(
        capabilities.mask(caps.get("effective") or []),
        capabilities.mask(caps.get("permitted") or []),
        capabilities.mask(caps.get("inheritable") or []),
    )
    for name in caps.get("ambient") or []:
        if name in capabilities.NUMBERS:
            linux.prctl(
                linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_RAISE, capabilities.NUMBERS[name]
            )


def join_session_keyring(container_id: str) -> None:
    """Leave the caller's session keyring for the container's own, ``_ses.<id>`` as runc
    names it: keys kept in the engine's session keyring stay out of reach."""
    try:
        serial = linux.join_session_keyring(f"_ses.{container_id}")
    except OSError as exc:
        if exc.errno == errno.ENOSYS:  # a kernel without keyrings: nothing to keep apart
            return
        raise
    linux.set_key_permissions(serial, linux.key_permissions(serial) | _KEYRING_USER_SEARCH)


def environment(env: list[str]) -> dict[str, str]:
    pairs = {}
    for entry in env:
        key, _, value = entry.partition("=")
        pairs[key] = value
    return pairs


def _runnable(path: str) -> OSError | None:
    """Go's exec findExecutable: a regular-enough file with an x bit, else why not."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return exc
    if not stat.S_ISDIR(mode) and mode & 0o111:
        return None
    return OSError(errno.EACCES, "permission denied")


def find_executable(name: str, env: dict[str, str]) -> str:
    """Resolve argv[0] like Go's exec.LookPath on the container's PATH (what runc does)."""
    if "/" in name:
        problem = _runnable(name)
        if problem is None:
            return name
        code = problem.errno or errno.EACCES
        if code == errno.EACCES:
            raise CommandError(f'exec: "{name}": permission denied', 126)
        exit_code = 127 if code in _NOT_FOUND_ERRNOS else 126
        raise CommandError(f'exec: "{name}": stat {name}: {go_error_text(code)}', exit_code)
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", name)
        if _runnable(candidate) is None:
            return candidate
    raise CommandError(f'exec: "{name}": executable file not found in $PATH', 127)


def prepare(process: dict, seccomp: Program | None = None) -> Executable:
    """Everything but the execve, for a process already inside the container's namespaces."""
    os.umask((process.get("user") or {}).get("umask", 0o022))
    apply_rlimits(process.get("rlimits") or [])
    change_dir(process.get("cwd") or "/")
    no_new_privileges = bool(process.get("noNewPrivileges"))
    if no_new_privileges:
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)
    elif seccomp is not None:
        linux.seccomp_set_filter(seccomp.bpf, seccomp.flags)
    set_user_and_capabilities(process.get("user") or {}, process.get("capabilities") or {})
    late_seccomp = seccomp if no_new_privileges else None
    args = list(process.get("args") or [])
    env = environment(process.get("env") or [])
    if not args:
        return Executable("", args, env, CommandError("exec: no command specified", 127))
    try:
        return Executable(find_executable(args[0], env), args, env, None, late_seccomp)
    except CommandError as exc:
        return Executable("", args, env, exc)


def execute(executable: Executable) -> CommandError:
    """execve the program; only returns (the error to report) when that fails."""
    if executable.error is not None:
        return executable.error
    linux.restore_signals()
    if executable.seccomp is not None:
        linux.seccomp_set_filter(executable.seccomp.bpf, executable.seccomp.flags)
    try:
        os.execve(executable.path, executable.args, executable.env)
    except OSError as exc:
        code = exc.errno or 0
        exit_code = 127 if code in _NOT_FOUND_ERRNOS else 126
        return CommandError(f"exec {executable.path}: {go_error_text(code)}", exit_code)
