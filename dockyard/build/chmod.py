"""``COPY --chmod`` / ``ADD --chmod``: an octal mode, or a symbolic one as chmod(1) writes it.

A symbolic mode is clauses joined by commas, each ``[ugoa]*`` then one or more
of ``+``, ``-`` or ``=`` with permissions ``[rwxXst]*`` or another class's
(``u``, ``g``, ``o``): ``u+x,g=r``, ``a-w``, ``go=u``. No class means all
(no umask is applied, as in BuildKit). It changes each copied file's own mode,
``X`` giving execute to directories and to files executable by someone.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)")
_ACTION = re.compile(r"([-+=])([ugo]|[rwxXst]*)")
_CLASS_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o1007}
_SHIFT = {"u": 6, "g": 3, "o": 0}


@dataclass(frozen=True)
class Chmod:
    octal: int | None = None
    clauses: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def apply(self, mode: int, is_dir: bool) -> int:
        """The new permission bits of an entry whose bits are ``mode``."""
        if self.octal is not None:
            return self.octal
        for who, actions in self.clauses:
            mask = 0
            for name in who or "ugo":
                mask |= _CLASS_BITS[name]
            for op, perms in actions:
                bits = _bits(perms, mode, is_dir) & mask
                if op == "+":
                    mode |= bits
                elif op == "-":
                    mode &= ~bits
                else:
                    mode = (mode & ~mask) | bits
        return stat.S_IMODE(mode)


def parse_chmod(spec: str) -> Chmod | None:
    """The ``--chmod`` value; None when there is none. Raises InvalidArgument."""
    if not spec:
        return None
    if spec.isdigit():
        mode = int(spec, 8) if set(spec) <= set("01234567") else -1
        if 0 <= mode <= 0o7777:
            return Chmod(octal=mode)
    clauses = []
    for clause in spec.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise InvalidArgument(
                f"invalid chmod parameter {spec!r}: use an octal mode (755) or a symbolic one "
                "(u+x,g=r)"
            )
        actions = tuple((m.group(1), m.group(2)) for m in _ACTION.finditer(match.group(2)))
        clauses.append((match.group(1).replace("a", "ugo"), actions))
    return Chmod(clauses=tuple(clauses))


def _bits(perms: str, mode: int, is_dir: bool) -> int:
    if perms in _SHIFT:  # another class's permissions, for every class
        value = (mode >> _SHIFT[perms]) & 0o7
        return value << 6 | value << 3 | value
    bits = 0
    for perm in perms:
        if perm == "r":
            bits |= 0o444
        elif perm == "w":
            bits |= 0o222
        elif perm == "x" or (perm == "X" and (is_dir or mode & 0o111)):
            bits |= 0o111
        elif perm == "s":
            bits |= 0o6000
        elif perm == "t":
            bits |= 0o1000
    return bits
