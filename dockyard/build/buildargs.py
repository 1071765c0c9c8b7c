"""Build arguments: ``--build-arg`` values, ARG declarations and their scopes.

The rules of moby's ``builder/dockerfile/buildargs.go``: an ARG before the
first FROM is a meta arg, visible to FROM lines only, and a stage sees it after
re-declaring it without a value; a ``--build-arg`` overrides a declaration's
default; the proxy variables are usable without a declaration and stay out of
history and cache keys unless declared; a ``--build-arg`` no stage declares
earns a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BUILTIN_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


@dataclass
class BuildArgs:
    """The build args of one build; ``in_stage()`` gives a stage its own scope."""

    options: dict[str, str | None]  # from --build-arg; None: named without a value
    meta: dict[str, str | None] = field(default_factory=dict)
    declared: dict[str, str | None] = field(default_factory=dict)  # this scope's ARGs
    referenced: set[str] = field(default_factory=set)  # declared anywhere in the build

    def in_stage(self) -> BuildArgs:
        """A fresh scope for a new stage, sharing the meta args and what was referenced."""
        return BuildArgs(self.options, self.meta, {}, self.referenced)

    def declare(self, key: str, default: str | None) -> None:
        self.declared[key] = default
        self.referenced.add(key)

    def declare_meta(self, key: str, default: str | None) -> None:
        self.declare(key, default)
        self.meta[key] = default

    def value(self, key: str, scope: dict[str, str | None]) -> str | None:
        """The value of ``key`` in ``scope``: the option, else the default, else the meta value."""
        override = self.options.get(key)
        if override is not None and (key in scope or key in BUILTIN_ARGS):
            return override
        if key not in scope and key not in BUILTIN_ARGS:
            return None
        default = scope.get(key)
        if default is None:
            return self.meta.get(key)
        return default

    def allowed(self) -> dict[str, str]:
        """Args with a value visible to this scope's instructions (and RUN's environment)."""
        return self._values(self.declared)

    def meta_values(self) -> dict[str, str]:
        """Args visible to FROM lines."""
        return self._values(self.meta)

    def _values(self, scope: dict[str, str | None]) -> dict[str, str]:
        values = {}
        for key in [*scope, *sorted(BUILTIN_ARGS)]:
            value = self.value(key, scope)
            if value is not None:
                values[key] = value
        return values

    def recorded(self, env_keys: set[str]) -> dict[str, str]:
        """Args a RUN gets as environment that belong in its history and cache key.

        An ENV of the same name hides the arg; an undeclared proxy arg is
        transparent: it changes neither the image nor the cache.
        """
        return {
            key: value
            for key, value in self.allowed().items()
            if key not in env_keys and (key in self.declared or key not in BUILTIN_ARGS)
        }

    def unused(self) -> list[str]:
        return sorted(k for k in self.options if k not in self.referenced and k not in BUILTIN_ARGS)
