"""Docker image references, parsed and normalized like distribution/reference.

``busybox`` is ``docker.io/library/busybox``; ``localhost:5000/a/b:t`` keeps its
registry; ``x@sha256:...`` pins a manifest digest. References are stored and
shown in the *familiar* form Docker prints (``busybox:latest``,
``localhost:5000/a/b:t``): the default registry and the ``library/`` prefix
are dropped again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from dockyard.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

# The grammar of distribution/reference (regexp.go), in Python's syntax.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME = rf"(?:{_DOMAIN}/)?{_REMOTE}"

REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
NAME_RE = re.compile(rf"(?:({_DOMAIN})/)?({_REMOTE})", re.ASCII)
TAG_RE = re.compile(_TAG, re.ASCII)
IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class Reference:
    """A named reference: registry domain, repository path, optional tag and digest."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The fully qualified repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """The repository name as Docker prints it, e.g. ``busybox``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        rest = self.path.removeprefix(OFFICIAL_PREFIX)
        if self.path.startswith(OFFICIAL_PREFIX) and "/" not in rest:
            return rest
        return self.path

    def __str__(self) -> str:
        """The familiar string: ``busybox:latest``, ``a/b@sha256:...``."""
        text = self.familiar_name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def with_default_tag(self) -> Reference:
        """``busybox`` → ``busybox:latest``; a tag or a digest is left as it is."""
        if self.tag or self.digest:
            return self
        return replace(self, tag=DEFAULT_TAG)


def parse(text: str) -> Reference:
    """Parse and normalize a reference (ParseNormalizedNamed)."""
    if IDENTIFIER_RE.fullmatch(text):
        raise InvalidArgument(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidArgument(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    return _parse_qualified(f"{domain}/{remainder}")


def parse_any(text: str) -> Reference | str:
    """An image ID (``sha256:<hex>``) for a full hex ID or digest, else a reference (ParseAnyReference)."""
    if IDENTIFIER_RE.fullmatch(text):
        return "sha256:" + text
    if _is_digest(text):
        return text
    return parse(text)


def repo_tag(repo: str, tag: str | None = None) -> Reference:
    """The reference ``repo:tag`` for tagging or importing (RepoTagReference); tag defaults to latest."""
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    ref = parse(repo)
    if ref.digest:
        raise InvalidArgument("cannot import digest reference")
    if tag:
        if not TAG_RE.fullmatch(tag):
            raise InvalidArgument("invalid tag format")
        ref = replace(ref, tag=tag)
    return ref.with_default_tag()


def check_digest(digest: str) -> str:
    """``digest`` when it is a well-formed digest of a supported algorithm (go-digest's Parse)."""
    algorithm, sep, hexpart = digest.partition(":")
    if not algorithm or not sep or not hexpart:
        raise InvalidArgument("invalid checksum digest format")
    if algorithm not in _DIGEST_LENGTHS:
        raise InvalidArgument("unsupported digest algorithm")
    if len(hexpart) != _DIGEST_LENGTHS[algorithm] or not re.fullmatch(r"[a-f0-9]+", hexpart):
        raise InvalidArgument("invalid checksum digest length")
    return digest


def _is_digest(text: str) -> bool:
    try:
        check_digest(text)
    except InvalidArgument:
        return False
    return True


def familiar_match(pattern: str, ref: Reference) -> bool:
    """Does ``pattern`` (a path.Match glob) match the familiar string or the familiar name?"""
    return path_match(pattern, str(ref)) or path_match(pattern, ref.familiar_name)


def path_match(pattern: str, name: str) -> bool:
    """Go's path.Match: ``*`` and ``?`` stop at ``/``; ``[^a-z]`` classes; ``\\`` escapes."""
    return re.fullmatch(_glob_regex(pattern), name, re.DOTALL) is not None


def _split_docker_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if first == "localhost":
        domain, remote = first, rest
    elif first == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, rest
    elif any(c in first for c in ".:") or first.lower() != first:
        domain, remote = first, rest
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_PREFIX + remote
    return domain, remote


def _parse_qualified(text: str) -> Reference:
    match = REFERENCE_RE.fullmatch(text)
    if match is None:
        if not text:
            raise InvalidArgument("repository name must have at least one component")
        if REFERENCE_RE.fullmatch(text.lower()):
            raise InvalidArgument("invalid reference format: repository name must be lowercase")
        raise InvalidArgument("invalid reference format")
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    name_match = NAME_RE.fullmatch(name)
    assert name_match is not None  # the reference grammar embeds the name grammar
    domain, path = name_match.group(1) or "", name_match.group(2)
    if len(path) > NAME_MAX:
        raise InvalidArgument(f"repository name must not be more than {NAME_MAX} characters")
    if digest:
        check_digest(digest)
    return Reference(domain, path, tag, digest)


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            cls, i = _glob_class(pattern, i + 1)
            out.append(cls)
            continue
        elif c == "\\":
            if i + 1 >= len(pattern):
                raise InvalidArgument("syntax error in pattern")
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _glob_class(pattern: str, i: int) -> tuple[str, int]:
    """Translate a ``[...]`` class starting after its ``[``; returns the regex and the next index."""
    negated = i < len(pattern) and pattern[i] == "^"
    if negated:
        i += 1
    ranges: list[str] = []
    first = True
    while True:
        if i < len(pattern) and pattern[i] == "]" and not first:
            i += 1
            break
        lo, i = _glob_class_char(pattern, i)
        hi = lo
        if i < len(pattern) and pattern[i] == "-":
            hi, i = _glob_class_char(pattern, i + 1)
        if lo <= hi:
            ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
        first = False
    if not ranges:  # only backwards ranges like [z-a]: Go's class then matches nothing
        return ("." if negated else "(?!)"), i
    return ("[^" if negated else "[") + "".join(ranges) + "]", i


def _glob_class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise InvalidArgument("syntax error in pattern")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise InvalidArgument("syntax error in pattern")
    return pattern[i], i + 1
