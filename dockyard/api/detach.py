"""Detach keys: the key sequence that ends an attach and leaves the container running.

The format is moby's (pkg/term ToBytes): comma-separated keys, each a single
character or ``ctrl-<x>`` with x one of a-z, @, [, \\, ], ^, _.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

DEFAULT = "ctrl-p,ctrl-q"
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse(spec: str) -> bytes:
    keys = bytearray()
    for key in spec.split(","):
        key = key.strip()
        name = key.lower().removeprefix("ctrl-")
        if len(key) == 1:
            keys.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(name) == 1 and "a" <= name <= "z":
            keys.append(ord(name) - ord("a") + 1)
        elif key.lower().startswith("ctrl-") and name in _CTRL_SPECIAL:
            keys.append(_CTRL_SPECIAL[name])
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(keys)


class DetachWatcher:
    """Finds the detach sequence in a client's input, holding back a partial match."""

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to pass on, whether the full sequence was typed)."""
        passed = bytearray()
        for byte in data:
            if byte != self._keys[self._matched]:
                passed += self._keys[: self._matched]
                self._matched = 0
            if byte == self._keys[self._matched]:
                self._matched += 1
                if self._matched == len(self._keys):
                    return bytes(passed), True
            else:
                passed.append(byte)
        return bytes(passed), False
