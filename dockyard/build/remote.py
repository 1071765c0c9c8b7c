"""ADD of a URL: fetching the file, with an error a user can act on."""

from __future__ import annotations

import email.utils
import hashlib
import os
import posixpath
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from dockyard.errors import InvalidArgument

_TIMEOUT = 60
_CHUNK = 1 << 20
UNNAMED = "__unnamed__"


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch(url: str, directory: Path, dest_is_dir: bool) -> tuple[Path, str, str]:
    """Download ``url`` into ``directory``: (file, name in the image, sha256 of the content).

    Like Docker, the file is 0600 and keeps the server's Last-Modified time.
    """
    name = posixpath.basename(urllib.parse.urlparse(url).path)
    if not name and dest_is_dir:
        raise InvalidArgument(f"cannot determine filename for source {url}")
    target = directory / (name or UNNAMED)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response, open(target, "wb") as out:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as e:
        raise InvalidArgument(f"failed to GET {url} with status {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise InvalidArgument(f"failed to fetch {url}: {reason}") from None
    os.chmod(target, 0o600)
    if modified:
        parsed = email.utils.parsedate_to_datetime(modified)
        os.utime(target, (parsed.timestamp(), parsed.timestamp()))
    return target, name or UNNAMED, digest.hexdigest()
