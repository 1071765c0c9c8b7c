"""The `filters` query parameter of list and prune endpoints, checked like Docker checks it."""

from __future__ import annotations

from collections.abc import Callable

from dockyard.errors import InvalidArgument
from dockyard.timefmt import parse_rfc3339, parse_timestamp


class Filters:
    def __init__(self, filters: dict[str, list[str]], allowed: tuple[str, ...]) -> None:
        for key in filters:
            if key not in allowed:
                raise InvalidArgument(f"invalid filter '{key}'")
        self._filters = filters

    def __contains__(self, key: str) -> bool:
        return bool(self._filters.get(key))

    def get(self, key: str) -> list[str]:
        return self._filters.get(key) or []

    def match_any(self, key: str, test: Callable[[str], bool]) -> bool:
        """No values for ``key`` match everything; otherwise one value must pass."""
        values = self.get(key)
        return not values or any(test(v) for v in values)

    def match_labels(self, labels: dict[str, str]) -> bool:
        def has(spec: str) -> bool:
            key, sep, value = spec.partition("=")
            return key in labels and (not sep or labels[key] == value)

        return all(has(s) for s in self.get("label")) and not any(
            has(s) for s in self.get("label!")
        )

    def match_until(self, created: str) -> bool:
        return all(parse_rfc3339(created) < parse_timestamp(v) for v in self.get("until"))
