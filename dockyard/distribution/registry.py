"""A client of the OCI distribution API (``/v2/``): manifests, blobs, uploads, auth.

Synchronous, on the standard library's HTTP client: the engine runs pulls and
pushes in a worker thread, as it does imports and builds. Which URL a registry
answers at, and whether its certificate is checked, is its endpoint's
(``endpoints.py``).

Authentication follows the registry's ``WWW-Authenticate`` challenge: Basic
with the given credentials, or Bearer with a token fetched from the realm it
names (with the credentials, when there are any, as Basic auth).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast
from urllib.parse import urlencode, urljoin, urlsplit

from dockyard.distribution.endpoints import Endpoint
from dockyard.errors import DockyardError, InvalidArgument, NotFound, SystemError, Unauthorized
from dockyard.jsondoc import json_object

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
CHUNK = 1 << 20
_TIMEOUT = 60
_MAX_REDIRECTS = 5
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
Progress = Callable[[int], None]  # told the bytes moved since it was last told


class Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        try:
            return json_object(self.data)
        except ValueError as e:
            raise SystemError(f"manifest {self.digest}: {e}") from None


class Registry:
    """One registry and the repositories an operation needs (for the token's scope)."""

    def __init__(
        self, endpoint: Endpoint, scopes: list[str], credentials: Credentials | None = None
    ) -> None:
        self.base = endpoint.url
        # An insecure registry's certificate (and its token server's) is not checked.
        self.tls = None if endpoint.verify_tls else _unverified_context()
        self.scopes = scopes  # e.g. ["repository:team/app:pull,push"]
        self.credentials = credentials
        self._authorization = ""

    # ------------------------------------------------------------------ login

    def ping(self) -> None:
        """``GET /v2/``, moby's first request to a registry: one that cannot be reached
        is reported at that address, as Docker reports it."""
        self._send("GET", f"{self.base}/v2/", {}, None).read()

    def login(self) -> None:
        """Check the credentials against ``/v2/``, with moby's loginV2 messages."""
        endpoint = f"{self.base}/v2/"
        try:
            response = self._request("GET", "/v2/", ok=tuple(range(100, 600)))
        except InvalidArgument as e:  # the token server refused the credentials
            raise Unauthorized(f'Get "{endpoint}": {e.message}') from None
        response.read()
        if response.status == 401:
            raise Unauthorized(f"login attempt to {endpoint} failed with status: 401 Unauthorized")
        if response.status != 200:
            raise SystemError(
                f"login attempt to {endpoint} failed with status: "
                f"{response.status} {response.reason}"
            )

    # ------------------------------------------------------------------ manifests

    def get_manifest(self, repo: str, reference: str) -> Manifest:
        """The manifest ``reference`` (a tag or a digest), checked against a digest reference."""
        response = self._request(
            "GET", f"/v2/{repo}/manifests/{reference}", {"Accept": ", ".join(MANIFEST_TYPES)}
        )
        data = response.read()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise SystemError(f"manifest verification failed for digest {reference}")
        media_type = response.getheader("Content-Type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            media_type = str(json.loads(data).get("mediaType") or "")
        if media_type not in MANIFEST_TYPES:
            raise SystemError(f"unsupported manifest media type {media_type or 'none'}")
        return Manifest(data, media_type, digest)

    def put_manifest(self, repo: str, reference: str, manifest: Manifest) -> None:
        headers = {"Content-Type": manifest.media_type}
        path = f"/v2/{repo}/manifests/{reference}"
        self._request("PUT", path, headers, manifest.data, ok=(201,)).read()

    # ------------------------------------------------------------------ blobs

    def download_blob(
        self, repo: str, digest: str, out: Writer, progress: Progress | None = None
    ) -> int:
        """Write the blob to ``out``; a blob whose bytes do not match ``digest`` raises.

        ``progress`` is told the size of each chunk as it arrives.
        """
        response = self._request("GET", f"/v2/{repo}/blobs/{digest}")
        h = hashlib.sha256()
        size = 0
        while chunk := response.read(CHUNK):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
            if progress:
                progress(len(chunk))
        if "sha256:" + h.hexdigest() != digest:
            raise SystemError(f"filesystem layer verification failed for digest {digest}")
        return size

    def blob_exists(self, repo: str, digest: str) -> bool:
        response = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 404))
        response.read()
        return response.status == 200

    def mount_blob(self, repo: str, digest: str, source_repo: str) -> str | None:
        """Mount a blob from another repository; None when mounted, else an upload's location."""
        query = urlencode({"mount": digest, "from": source_repo})
        response = self._request("POST", f"/v2/{repo}/blobs/uploads/?{query}", ok=(201, 202))
        response.read()
        if response.status == 201:
            return None
        return self._location(response)

    def start_upload(self, repo: str) -> str:
        response = self._request("POST", f"/v2/{repo}/blobs/uploads/", ok=(202,))
        response.read()
        return self._location(response)

    def upload_blob(
        self,
        location: str,
        digest: str,
        path: Path,
        chunk_size: int = 0,
        progress: Progress | None = None,
    ) -> None:
        """Upload ``path`` to an upload session: monolithic, or in PATCH chunks of ``chunk_size``.

        ``progress`` is told the size of each piece as it is sent.
        """
        size = path.stat().st_size
        with path.open("rb") as file:
            f = _Counted(file, progress)
            if chunk_size:
                offset = 0
                while offset < size:
                    data = f.read(chunk_size)
                    headers = {
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(data) - 1}",
                    }
                    response = self._request("PATCH", location, headers, data, ok=(202,))
                    response.read()
                    location = self._location(response)
                    offset += len(data)
                body: BinaryIO | bytes = b""
            else:
                body = cast(BinaryIO, f)
            headers = {"Content-Type": "application/octet-stream"}
            if not chunk_size:
                headers["Content-Length"] = str(size)
            final = _with_query(location, {"digest": digest})
            self._request("PUT", final, headers, body, ok=(201,)).read()

    def _location(self, response: http.client.HTTPResponse) -> str:
        location = response.getheader("Location")
        if not location:
            raise SystemError("the registry gave no upload location")
        return urljoin(self.base + "/", location)

    # ------------------------------------------------------------------ HTTP and auth

    def _request(
        self,
        method: str,
        target: str,
        headers: dict[str, str] | None = None,
        body: BinaryIO | bytes | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> http.client.HTTPResponse:
        url = target if "://" in target else self.base + target
        headers = dict(headers or {})
        response = self._send(method, url, headers, body)
        if response.status == 401 and self._authenticate(response):
            if hasattr(body, "seek"):
                body.seek(0)  # type: ignore[union-attr]
            response = self._send(method, url, headers, body)
        if response.status not in ok:
            raise _error(response, method, url)
        return response

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: BinaryIO | bytes | None
    ) -> http.client.HTTPResponse:
        for _ in range(_MAX_REDIRECTS):
            parts = urlsplit(url)
            sent = dict(headers)
            if self._authorization and parts.netloc == urlsplit(self.base).netloc:
                sent["Authorization"] = self._authorization
            if body is not None and "Content-Length" not in sent and isinstance(body, bytes):
                sent["Content-Length"] = str(len(body))
            response = _Connection(parts.scheme, parts.netloc, self.tls).request_response(
                method, _path(url), sent, body
            )
            if response.status not in (301, 302, 303, 307, 308) or method not in ("GET", "HEAD"):
                return response
            response.read()
            url = urljoin(url, response.getheader("Location") or "")
        raise SystemError(f"{method} {url}: too many redirects")

    def _authenticate(self, response: http.client.HTTPResponse) -> bool:
        """Answer a 401's challenge; False when there is no way to (the 401 then stands)."""
        challenge = response.getheader("WWW-Authenticate", "")
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        if scheme.lower() == "basic" and self.credentials:
            response.read()
            self._authorization = "Basic " + _basic(self.credentials)
            return True
        if scheme.lower() == "bearer" and params.get("realm"):
            response.read()
            self._authorization = "Bearer " + self._token(params)
            return True
        return False

    def _token(self, params: dict[str, str]) -> str:
        query = [("service", params["service"])] if params.get("service") else []
        query += [("scope", scope) for scope in self.scopes]
        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urlencode(query)
        headers = {"Authorization": "Basic " + _basic(self.credentials)} if self.credentials else {}
        parts = urlsplit(url)
        response = _Connection(parts.scheme, parts.netloc, self.tls).request_response(
            "GET", _path(url), headers
        )
        if response.status != 200:
            raise _error(response, "GET", url)
        try:
            answer = json.loads(response.read())
            return str(answer.get("token") or answer["access_token"])
        except (ValueError, KeyError, AttributeError):
            raise SystemError(f"the token server {parts.netloc} gave no token") from None


class _Counted:
    """A file whose reads are reported to a progress callback."""

    def __init__(self, file: BinaryIO, progress: Progress | None) -> None:
        self._file = file
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        if self._progress and data:
            self._progress(len(data))
        return data

    def seek(self, offset: int) -> int:
        return self._file.seek(offset)


class _Connection:
    """One HTTP(S) connection for one request: registries are few, and requests large."""

    def __init__(self, scheme: str, netloc: str, tls: ssl.SSLContext | None = None) -> None:
        self.conn: http.client.HTTPConnection
        # A file body (a blob's upload) goes in reads of CHUNK, not http.client's 8 KB.
        if scheme == "https":
            self.conn = http.client.HTTPSConnection(
                netloc, timeout=_TIMEOUT, context=tls, blocksize=CHUNK
            )
        else:
            self.conn = http.client.HTTPConnection(netloc, timeout=_TIMEOUT, blocksize=CHUNK)
        self.origin = f"{scheme}://{netloc}"

    def request_response(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: BinaryIO | bytes | None = None,
    ) -> http.client.HTTPResponse:
        # Errors read as Go's http.Client writes them: `Get "URL": dial tcp ADDR: ...`.
        failed = f'{method.capitalize()} "{self.origin}{path}"'
        try:
            self.conn.connect()
        except OSError as e:
            raise SystemError(f"{failed}: {self._dial_error(e)}") from e
        try:
            self.conn.request(method, path, body=body, headers=headers)
            return self.conn.getresponse()
        except OSError as e:
            raise SystemError(f"{failed}: {_lower_first(e.strerror or str(e))}") from e

    def _dial_error(self, error: OSError) -> str:
        host, port = self.conn.host, self.conn.port
        if isinstance(error, socket.gaierror):
            return f"dial tcp: lookup {host}: no such host"
        if isinstance(error, TimeoutError):
            return f"dial tcp {_address(host, port)}: i/o timeout"
        if isinstance(error, ssl.SSLError):
            return _lower_first(error.reason or str(error))
        return f"dial tcp {_address(host, port)}: connect: {_lower_first(error.strerror or str(error))}"


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _address(host: str, port: int) -> str:
    """``ip:port`` of the address dialed first, ``[ip]:port`` for IPv6, as Go shows it."""
    try:
        ip = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    except OSError:
        ip = host
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _with_query(url: str, values: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(values)


def _basic(credentials: Credentials | None) -> str:
    assert credentials is not None
    pair = f"{credentials.username}:{credentials.password}".encode()
    return base64.b64encode(pair).decode()


def _error(response: http.client.HTTPResponse, method: str, url: str) -> DockyardError:
    """The registry's own error message (its JSON ``errors`` list), as a one-line error."""
    body = response.read()
    message = ""
    try:
        errors = json.loads(body).get("errors") or []
        message = "; ".join(f"{e.get('code', '').lower()}: {e.get('message', '')}" for e in errors)
    except (ValueError, AttributeError):
        pass
    if not message and response.status == 401:
        message = "unauthorized: authentication required"  # a HEAD's 401 has no body
    message = message or f"{response.status} {response.reason}"
    if response.status == 404:
        return NotFound(message)
    if response.status in (400, 401, 403):
        return InvalidArgument(message)
    return SystemError(f"{method} {url}: {message}")
