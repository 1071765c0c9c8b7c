"""Platforms ("linux/arm64/v8") as containerd's platforms package reads, writes and
matches them: what ``--platform`` asks for, and what an image's config says it is."""

from __future__ import annotations

import platform as _host
import re
from dataclasses import dataclass, replace

from dockyard.errors import InvalidArgument

_MACHINES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}
HOST_ARCHITECTURE = _MACHINES.get(_host.machine(), _host.machine())  # Go's GOARCH

_OS_RE = r"^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?$"
_SPECIFIER_RE = r"^[A-Za-z0-9_.-]+$"
_KNOWN_OS = frozenset(
    "aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd "
    "plan9 solaris windows zos".split()
)
_KNOWN_ARCH = frozenset(
    "386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 "
    "mips64le mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm".split()
)


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_options: str = ""  # "(version+feature...)" as written; matters on Windows only

    def __str__(self) -> str:
        """containerd's FormatAll."""
        if not self.os:
            return "unknown"
        parts = [self.os + (f"({self.os_options})" if self.os_options else "")]
        return "/".join(parts + [p for p in (self.architecture, self.variant) if p])


def parse(specifier: str) -> Platform:
    """containerd's platforms.Parse: ``os``, ``arch``, ``os/arch`` or ``os/arch/variant``;
    what is left out is this machine's. InvalidArgument with containerd's wording."""
    if "*" in specifier:
        raise _invalid(f"{_quote(specifier)}: wildcards not yet supported")
    parts = specifier.split("/", 3)
    os_match = re.match(_OS_RE, parts[0])
    if os_match is None:
        raise _invalid(
            f"{_quote(parts[0])} is an invalid OS component of {_quote(specifier)}: "
            f"OSAndVersion specifier component must match {_quote(_OS_RE)}"
        )
    for part in parts[1:]:
        if not re.match(_SPECIFIER_RE, part):
            raise _invalid(
                f"{_quote(part)} is an invalid component of {_quote(specifier)}: "
                f"platform specifier component must match {_quote(_SPECIFIER_RE)}"
            )
    os_name = _normalize_os(os_match.group(1))
    options = (os_match.group(2) or "") + (os_match.group(3) or "")
    if len(parts) == 1:
        if os_name in _KNOWN_OS:
            return Platform(os_name, HOST_ARCHITECTURE, os_options=options)
        arch, variant = _normalize_arch(parts[0], "")
        if arch == "arm" and variant == "v7":
            variant = ""
        if arch in _KNOWN_ARCH:
            return Platform("linux", arch, variant)
        raise _invalid(f"{_quote(specifier)}: unknown operating system or architecture")
    if len(parts) == 2:
        arch, variant = _normalize_arch(parts[1], "")
        if arch == "arm" and variant == "v7":
            variant = ""
        return Platform(os_name, arch, variant, options)
    if len(parts) == 3:
        arch, variant = _normalize_arch(parts[1], parts[2])
        if arch == "arm64" and not variant:
            variant = "v8"
        return Platform(os_name, arch, variant, options)
    raise _invalid(f"{_quote(specifier)}: cannot parse platform specifier")


def of_image(config: dict) -> Platform:
    """The platform an image's config says it is built for."""
    return Platform(
        str(config.get("os") or ""),
        str(config.get("architecture") or ""),
        str(config.get("variant") or ""),
    )


def matches(wanted: Platform, image: Platform) -> bool:
    """moby's OnlyPlatformWithFallback(wanted).Match(image): the image runs where ``wanted``
    does (amd64 runs 386, arm/v7 runs arm/v6 ...); an image that names no variant
    matches any variant of its architecture."""
    other = normalize(image)
    if any(other == candidate for candidate in _compatible(normalize(wanted))):
        return True
    if image.variant:
        return False
    want = normalize(wanted)
    return (want.os, want.architecture) == (other.os, other.architecture)


def normalize(p: Platform) -> Platform:
    arch, variant = _normalize_arch(p.architecture, p.variant)
    return Platform(_normalize_os(p.os), arch, variant)


def _compatible(p: Platform) -> list[Platform]:
    """containerd's platformVector: ``p`` and what also runs on it, normalized."""
    number = p.variant[1:] if p.variant.startswith("v") else ""
    if p.architecture == "amd64":
        level = int(number) if number.isdigit() else 1
        older = [replace(p, variant=f"v{n}") for n in range(level - 1, 0, -1)]
        return [normalize(q) for q in [p, *older, Platform(p.os, "386")]]
    if p.architecture == "arm":
        level = int(number) if number.isdigit() else 0
        return [p, *(replace(p, variant=f"v{n}") for n in range(level - 1, 4, -1))]
    if p.architecture == "arm64":
        # arm64/v8.x and v9.x: the earlier arm64 variants, then 32-bit arm up to v8.
        major, _, minor = (number or "8").partition(".")
        versions = (
            [(9, int(minor or 0)), (8, int(minor or 0) + 5)]
            if major == "9"
            else [(8, int(minor or 0))]
        )
        vector = [
            Platform(p.os, "arm64", f"v{m}.{n}" if n else f"v{m}")
            for m, top in versions
            for n in range(min(top, 9), -1, -1)
        ]
        return [normalize(q) for q in vector] + _compatible(Platform(p.os, "arm", "v8"))
    return [p]


def _normalize_os(name: str) -> str:
    name = name.lower() if name else "linux"
    return "darwin" if name == "macos" else name


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's normalizeArch."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant


def _quote(text: str) -> str:
    """Go's %q for the text of a flag."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument(message + ": invalid argument")
