"""TLS for the API over TCP: the files, as dockerd and the docker CLI find them, and their SSL contexts.

``--tls`` encrypts; ``--tlsverify`` (implying ``--tls``) also verifies the other
end: the daemon then accepts only clients with a certificate its CA signed
(mutual TLS), the client only a daemon whose certificate its CA signed for the
name it dialled. The files default to ``ca.pem``, ``cert.pem`` and ``key.pem``
in ``$DOCKYARD_CERT_PATH``, else the docker CLI's directory (``$DOCKER_CONFIG``
or ``~/.docker``, where dockerd and the docker CLI look too); ``DOCKYARD_TLS_VERIFY``
(and, for the CLI, ``DOCKYARD_TLS``) turn TLS on when set, as DOCKER_TLS_VERIFY
and DOCKER_TLS do for Docker: docker's variables under dockyard's name, so that
a shell set up for Docker never changes how dockyard connects. A default
certificate or key that does not exist is left out, as Docker does.

``ssl`` is imported only when a context is made: the CLI's start-up does not pay for it.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    import ssl

CA_FILE = "ca.pem"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"


class TLSFiles:
    """Where the CA, the certificate and its key are ('' when absent), and whether to verify."""

    __slots__ = ("ca", "cert", "key", "verify")

    def __init__(self, ca: str, cert: str, key: str, verify: bool) -> None:
        self.ca = ca
        self.cert = cert
        self.key = key
        self.verify = verify

    def __repr__(self) -> str:
        return (
            f"TLSFiles(ca={self.ca!r}, cert={self.cert!r}, key={self.key!r}, verify={self.verify})"
        )


def default_cert_dir() -> str:
    from dockyard.config import docker_config_dir

    return os.environ.get("DOCKYARD_CERT_PATH") or docker_config_dir()


def env_flag(name: str) -> bool:
    """Docker's reading of DOCKER_TLS and DOCKER_TLS_VERIFY: set and not empty."""
    return bool(os.environ.get(name))


def resolve(
    tls: bool | None,
    verify: bool | None,
    ca: str | None,
    cert: str | None,
    key: str | None,
    *,
    tls_env: bool,
    verify_when_tls: bool,
) -> TLSFiles | None:
    """The TLS in force from flags (None: not given) and the environment; None without TLS.

    ``verify_when_tls``: ``--tls`` alone verifies too (the daemon), or not (the CLI).
    """
    verify_set = verify is not None
    if verify is None:
        verify = env_flag("DOCKYARD_TLS_VERIFY")
    if tls is None:
        tls = tls_env
    if verify_set or verify:
        tls = True
    if not tls:
        return None
    if not verify_set and verify_when_tls:
        verify = True
    directory = default_cert_dir()
    return TLSFiles(
        ca if ca is not None else os.path.join(directory, CA_FILE),
        _given_or_existing(cert, os.path.join(directory, CERT_FILE)),
        _given_or_existing(key, os.path.join(directory, KEY_FILE)),
        bool(verify),
    )


def _given_or_existing(given: str | None, default: str) -> str:
    if given is not None:
        return given
    return default if os.path.exists(default) else ""


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None


def client_context(files: TLSFiles) -> ssl.SSLContext:
    """What our CLI presents to a daemon: its certificate, and its CA to check the daemon's."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.verify and files.ca:
        _load_ca(context, files.ca)
    elif files.verify:
        context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if files.cert and files.key:
        _load_pair(context, files.cert, files.key)
    return context


def server_context(files: TLSFiles) -> ssl.SSLContext:
    """What the daemon presents; with ``verify``, clients must show a certificate its CA signed."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not (files.cert and files.key):
        raise InvalidArgument("invalid TLS configuration: the daemon needs --tlscert and --tlskey")
    _load_pair(context, files.cert, files.key)
    if files.verify:
        _load_ca(context, files.ca)  # only this CA, not the system's (ExclusiveRootPools)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _load_ca(context: ssl.SSLContext, ca: str) -> None:
    import ssl

    data = read_file(ca)
    try:
        context.load_verify_locations(cadata=data.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError):
        raise InvalidArgument(f"failed to retrieve tls info: {ca} seems invalid") from None


def _load_pair(context: ssl.SSLContext, cert: str, key: str) -> None:
    import ssl

    for path in (cert, key):
        read_file(path)  # a missing file says so, by name
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidArgument(
            f"could not load X509 key pair (cert: {cert!r}, key: {key!r}): {exc}"
        ) from None
