"""The `filters` query parameter of list and prune endpoints, checked like Docker checks it."""

from __future__ import annotations

import re
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

    def match_pattern(self, key: str, *texts: str) -> bool:
        """moby's Args.Match: a value equal to one of ``texts`` or a regular expression
        found in one; no values match everything, a value that is no valid expression
        matches nothing."""
        return self.match_any(key, lambda v: any(_found(v, text) for text in texts))

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false filter (moby's GetBoolOrDefault): ``default`` when absent."""
        if key not in self._filters:
            return default
        values = set(self.get(key))
        if not values:
            raise InvalidArgument(f"invalid filter '{key}'")
        false, true = bool(values & {"0", "false"}), bool(values & {"1", "true"})
        if false == true:
            raise InvalidArgument(f"invalid filter '{key}=[{' '.join(sorted(values))}]'")
        return true

    def match_labels(self, labels: dict[str, str]) -> bool:
        def has(spec: str) -> bool:
            key, sep, value = spec.partition("=")
            return key in labels and (not sep or labels[key] == value)

        return all(has(s) for s in self.get("label")) and not any(
            has(s) for s in self.get("label!")
        )

    def match_until(self, created: str) -> bool:
        return all(parse_rfc3339(created) < parse_timestamp(v) for v in self.get("until"))


def _found(pattern: str, text: str) -> bool:
    if pattern == text:
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False
