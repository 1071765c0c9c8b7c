"""`--platform` on create against dockyardd: an image for another platform is not the image
asked for (moby's NotFound and wording); a bad specifier is containerd's error."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from dockyard.platforms import HOST_ARCHITECTURE
from tests.e2e.helpers import Docker

OTHER = "arm64" if HOST_ARCHITECTURE != "arm64" else "amd64"


def test_a_platform_the_image_is_not_for(daemon: Any, docker_cli: Docker) -> None:
    # --pull never: docker would otherwise go and pull the image for that platform.
    refused = docker_cli(
        "run", "--pull", "never", "--platform", f"linux/{OTHER}", "busybox", "true"
    )
    assert refused.returncode == 125
    assert refused.stderr.startswith(
        "docker: Error response from daemon: image with reference busybox was found but its "
        f"platform (linux/{HOST_ARCHITECTURE}) does not match the specified platform "
        f"(linux/{OTHER})"
    ), refused.stderr
    ours = daemon.cli("create", "--pull", "never", "--platform", f"linux/{OTHER}", "busybox")
    assert ours.returncode == 125 and "does not match the specified platform" in ours.stderr
    assert docker_cli("ps", "-aq").stdout == ""

    for same in (f"linux/{HOST_ARCHITECTURE}", "linux", HOST_ARCHITECTURE):
        ran = docker_cli("run", "--rm", "--pull", "never", "--platform", same, "busybox", "true")
        assert ran.returncode == 0, (same, ran.stderr)


def test_the_api_status_and_a_bad_specifier(docker_sdk: Any) -> None:
    api = docker_sdk.api
    with pytest.raises(docker.errors.APIError) as other:
        api.create_container("busybox", "true", platform=f"linux/{OTHER}")
    assert other.value.status_code == 404
    with pytest.raises(docker.errors.APIError) as bad:
        api.create_container("busybox", "true", platform="foo")
    assert bad.value.status_code == 400
    assert bad.value.explanation == (
        '"foo": unknown operating system or architecture: invalid argument'
    )
    assert api.containers(all=True) == []
