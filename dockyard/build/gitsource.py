"""ADD of a Git repository: ``https://host/repo.git#ref:subdir``, ``git@host:repo.git``,
``git://`` and ``ssh://`` URLs (BuildKit's ``gitutil.ParseGitRef``).

The repository is cloned with the ``git`` program (smart or dumb HTTP, ssh
through a forwarded agent) into a scratch directory, ``ref`` (a branch, tag or
commit; the remote's HEAD when none) checked out, and the tree (or ``subdir``
of it) is what the ADD copies. The ``.git`` directory goes unless
``--keep-git-dir``. The commit is what the step's cache key takes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.runtime.securejoin import secure_join

_TIMEOUT = 600


@dataclass(frozen=True)
class GitRef:
    remote: str
    ref: str = ""
    subdir: str = ""


def parse_git_ref(source: str) -> GitRef | None:
    """The repository ``source`` names, or None when it is not a Git URL."""
    remote, _, fragment = source.partition("#")
    scheme = urllib.parse.urlparse(remote).scheme
    if scheme in ("http", "https"):
        if not urllib.parse.urlparse(remote).path.endswith(".git"):
            return None
    elif not (scheme in ("git", "ssh") or (remote.startswith("git@") and ":" in remote)):
        return None
    ref, _, subdir = fragment.partition(":")
    return GitRef(remote, ref, subdir.strip("/"))


def clone(
    ref: GitRef, directory: Path, keep_git_dir: bool, ssh_socket: str = ""
) -> tuple[Path, str]:
    """Check ``ref`` out into ``directory``: (the tree or subdir to copy, the commit)."""
    checkout = directory / "checkout"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(directory),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PROTOCOL_FROM_USER": "0",
    }
    if ssh_socket:
        env["SSH_AUTH_SOCK"] = ssh_socket
    _git(ref, env, "clone", "--no-checkout", "--", ref.remote, str(checkout))
    commit = _resolve(ref, env, checkout)
    _git(ref, env, "-C", str(checkout), "checkout", "--quiet", "--detach", commit)
    if not keep_git_dir:
        shutil.rmtree(checkout / ".git")
    tree = Path(secure_join(str(checkout), ref.subdir)) if ref.subdir else checkout
    if not tree.is_dir():
        raise InvalidArgument(f"{ref.subdir}: not a directory in {ref.remote} at {commit}")
    return tree, commit


def _resolve(ref: GitRef, env: dict[str, str], checkout: Path) -> str:
    """The commit ``ref.ref`` names: a remote branch, a tag, a commit; HEAD for none."""
    names = [f"origin/{ref.ref}", f"refs/tags/{ref.ref}", ref.ref] if ref.ref else ["HEAD"]
    for name in names:
        found = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
            capture_output=True,
            env=env,
            check=False,
            timeout=_TIMEOUT,
        )
        if found.returncode == 0:
            return found.stdout.decode().strip()
    raise InvalidArgument(f"failed to fetch {ref.remote}: no such ref {ref.ref or 'HEAD'}")


def _git(ref: GitRef, env: dict[str, str], *args: str) -> None:
    command = ["git", "-c", "protocol.file.allow=never", "-c", "core.symlinks=true", *args]
    try:
        done = subprocess.run(command, capture_output=True, env=env, check=False, timeout=_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise InvalidArgument(f"failed to fetch {ref.remote}: timed out") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise InvalidArgument(
            f"failed to fetch {ref.remote}: {lines[-1] if lines else 'git failed'}"
        )
