"""Where a registry's API answers, and how it is spoken to (moby's registry service).

Docker Hub (``docker.io``) is reached at ``registry-1.docker.io``, after the
daemon's ``registry-mirrors``, tried in order. A registry is insecure when it is
on loopback or listed in ``insecure-registries`` (by ``host[:port]`` or by a CIDR
holding its address): loopback ones are spoken to over plain HTTP, other
insecure ones over HTTPS without certificate checks, then over HTTP, as Docker
does. Every other registry is HTTPS, verified.

The tests point Docker Hub somewhere of their own with ``DOCKYARD_TEST_HUB_URL``,
so that no test can ever send a byte to the real one.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.daemonconfig import RegistrySettings

HUB_DOMAIN = "docker.io"
# Docker Hub's names for itself (moby's IndexName, IndexHostname, DefaultRegistryHost).
HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
HUB_URL = "https://registry-1.docker.io"
HUB_URL_OVERRIDE = "DOCKYARD_TEST_HUB_URL"  # tests only
# Always insecure, as in moby: loopback.
LOOPBACK_CIDRS = ("::1/128", "127.0.0.0/8")


@dataclass(frozen=True)
class Endpoint:
    url: str  # scheme://host[:port][/path], without the trailing slash
    verify_tls: bool = True
    mirror: bool = False


def hub_url() -> str:
    return os.environ.get(HUB_URL_OVERRIDE) or HUB_URL


def endpoints(domain: str, settings: RegistrySettings) -> list[Endpoint]:
    """The endpoints to try for ``domain``, in order; the last one's failure is the error."""
    if domain in HUB_NAMES:
        mirrors = [Endpoint(m.rstrip("/"), mirror=True) for m in settings.mirrors]
        return [*mirrors, Endpoint(hub_url())]
    if not is_insecure(domain, settings):
        return [Endpoint(f"https://{domain}")]
    if is_loopback(domain):
        return [Endpoint(f"http://{domain}")]
    return [Endpoint(f"https://{domain}", verify_tls=False), Endpoint(f"http://{domain}")]


def is_insecure(domain: str, settings: RegistrySettings) -> bool:
    if is_loopback(domain):
        return True
    host = urlsplit(f"//{domain}").hostname or ""
    for entry in settings.insecure:
        if "/" not in entry:
            if entry in (domain, host):
                return True
            continue
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry):
                return True
        except ValueError:
            continue
    return False


def is_loopback(domain: str) -> bool:
    host = urlsplit(f"//{domain}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_cidrs(settings: RegistrySettings) -> list[str]:
    """``docker info``'s InsecureRegistryCIDRs."""
    return [*LOOPBACK_CIDRS, *(e for e in settings.insecure if "/" in e)]
