"""Resolve a path inside a root filesystem the way the container will see it.

An image may hold symlinks such as ``/etc -> /host/etc`` or ``a -> ../../..``;
joined naively with the rootfs they would point outside it. ``secure_join``
follows each link as if the rootfs were ``/`` (like cyphar/filepath-securejoin,
which runc uses), so the result always stays under the root.
"""

from __future__ import annotations

import errno
import os
import stat

_MAX_LINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    """``root`` + ``unsafe`` with every symlink resolved within ``root``.

    Components that do not exist are kept as they are, so the result can be
    created afterwards.
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
        candidate = os.path.join(root, *resolved, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            is_link = False
        if not is_link:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(
                errno.ELOOP, f"resolve {unsafe} in {root}: too many levels of symbolic links"
            )
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved.clear()
        pending.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
    return os.path.join(root, *resolved)
