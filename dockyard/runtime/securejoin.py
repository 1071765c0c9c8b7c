"""Resolve a path inside a root filesystem the way the container will see it.

An image may hold symlinks such as ``/etc -> /host/etc`` or ``a -> ../../..``;
joined naively with the rootfs they would point outside it. ``secure_join``
follows each link as if the rootfs were ``/`` (like cyphar/filepath-securejoin,
which runc uses), so the result always stays under the root.

``resolve`` is the walk itself, over a ``readlink`` the caller provides: by
host path here, through directory descriptors in ``dockyard.tarfs.root``.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False  # the runtime's start-up path imports nothing slow (see runtime/__init__)
if TYPE_CHECKING:
    from collections.abc import Callable

_MAX_LINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    """``root`` + ``unsafe`` with every symlink resolved within ``root``.

    Components that do not exist are kept as they are, so the result can be
    created afterwards.
    """

    def readlink(parts: list[str]) -> str | None:
        candidate = os.path.join(root, *parts)
        try:
            if not stat.S_ISLNK(os.lstat(candidate).st_mode):
                return None
        except (FileNotFoundError, NotADirectoryError):
            return None
        return os.readlink(candidate)

    return os.path.join(root, *resolve(unsafe, readlink, root))


def resolve(unsafe: str, readlink: Callable[[list[str]], str | None], where: str) -> list[str]:
    """The components of ``unsafe`` with ``..`` and symlinks resolved, never above ``/``.

    ``readlink(components)`` gives the target of the symlink the components name,
    None when they name anything else or nothing. ``where`` names the root in errors.
    """
    pending = [part for part in reversed(unsafe.split("/")) if part not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        target = readlink([*resolved, part])
        if target is None:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(
                errno.ELOOP, f"resolve {unsafe} in {where}: too many levels of symbolic links"
            )
        if target.startswith("/"):
            resolved.clear()
        pending.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
    return resolved
