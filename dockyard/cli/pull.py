"""Pulling an image through the daemon (``POST /images/create?fromImage=``)."""

from __future__ import annotations

import sys
from typing import TextIO

from dockyard.cli.progress import display, drain
from dockyard.client import Client


def split_reference(reference: str) -> tuple[str, str]:
    """``busybox`` → (busybox, latest); ``host:5000/a:b`` → (host:5000/a, b); digests kept."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        return name, digest
    name, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:
        return reference, "latest"
    return name, tag


def familiar(reference: str) -> str:
    """The name as docker shows it: ``busybox:latest``."""
    name, tag = split_reference(reference)
    return f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"


def auth_header(name: str) -> dict[str, str]:
    """The stored login for ``name``'s registry, as docker sends it (X-Registry-Auth)."""
    from dockyard.cli.credentials import registry_auth_header
    from dockyard.store.reference import parse

    return registry_auth_header(parse(name).domain)


def pull(
    client: Client,
    reference: str,
    quiet: bool = False,
    platform: str = "",
    out: TextIO = sys.stderr,
) -> None:
    """Pull, showing progress on ``out`` as docker does; an error in the stream raises APIError."""
    name, tag = split_reference(reference)
    query = {"fromImage": name, "tag": tag, "platform": platform or None}
    response = client.request("POST", "/images/create", query, headers=auth_header(name))
    if quiet:
        drain(response.iter_json())
    else:
        display(response.iter_json(), out)
