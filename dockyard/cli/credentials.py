"""Registry credentials in the docker CLI's config file (``~/.docker/config.json``).

Read and written the way the docker CLI does, so both share one login:
``auths`` maps a server address to ``{"auth": base64("user:password")}``; a
``credsStore`` (or a per-server ``credHelpers`` entry) names a
``docker-credential-<name>`` program that keeps the secret instead, and the file
then holds only an empty entry for the server. ``$DOCKER_CONFIG`` moves the
directory, as for the docker CLI.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.config import docker_config_dir
from dockyard.errors import InvalidArgument
from dockyard.jsondoc import json_object

# Where the docker CLI keeps Docker Hub's credentials.
INDEX_SERVER = "https://index.docker.io/v1/"
# The user name a credential helper reports for an identity token.
_TOKEN_USERNAME = "<token>"
_HUB_DOMAINS = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class AuthConfig:
    server: str
    username: str = ""
    password: str = ""
    identity_token: str = ""

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identity_token)


def config_dir() -> Path:
    return Path(docker_config_dir())


def hostname(address: str) -> str:
    """``https://host:5000/v2/`` → ``host:5000`` (the CLI's ConvertToHostname)."""
    for scheme in ("http://", "https://"):
        if address.startswith(scheme):
            address = address[len(scheme) :]
            break
    return address.split("/", 1)[0]


def server_for_domain(domain: str) -> str:
    """The key a registry's credentials are stored under: Hub has a URL of its own."""
    return INDEX_SERVER if domain in _HUB_DOMAINS else domain


class ConfigFile:
    """The config file's document; other keys (psFormat, proxies, ...) are kept as they are."""

    def __init__(self, path: Path, document: dict) -> None:
        self.path = path
        self.document = document

    @classmethod
    def load(cls) -> ConfigFile:
        path = config_dir() / "config.json"
        try:
            document = json_object(path.read_bytes() or b"{}")
        except FileNotFoundError:
            document = {}
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"loading config file: {path}: {e}") from None
        return cls(path, document)

    @property
    def auths(self) -> dict[str, dict]:
        return self.document.setdefault("auths", {})

    def helper_for(self, server: str) -> str:
        helpers = self.document.get("credHelpers") or {}
        return str(helpers.get(hostname(server)) or self.document.get("credsStore") or "")

    def get(self, server: str) -> AuthConfig:
        helper = self.helper_for(server)
        if helper:
            return _helper_get(helper, server)
        entry = self.auths.get(server)
        if entry is None:
            wanted = hostname(server)
            entry = next((v for k, v in self.auths.items() if hostname(k) == wanted), {})
        return _decode_entry(server, entry)

    def store(self, auth: AuthConfig) -> bool:
        """Keep ``auth``; True when the password went into this file in the clear."""
        helper = self.helper_for(auth.server)
        if helper:
            _helper_store(helper, auth)
            self.auths[auth.server] = {}
            self.save()
            return False
        entry: dict[str, str] = {}
        if auth.username or auth.password:
            entry["auth"] = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        if auth.identity_token:
            entry["identitytoken"] = auth.identity_token
        self.auths[auth.server] = entry
        self.save()
        return bool(auth.password)

    def erase(self, server: str) -> bool:
        """Forget ``server``'s credentials; False when there were none in the file."""
        helper = self.helper_for(server)
        if helper:
            _run_helper(helper, "erase", server.encode(), allow_missing=True)
        if server not in self.auths:
            return False
        del self.auths[server]
        self.save()
        return True

    def save(self) -> None:
        """Write atomically with mode 0600, as the docker CLI does."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix="config.json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.document, f, indent="\t")
            os.replace(temp, self.path)
        except BaseException:
            os.unlink(temp)
            raise


def _decode_entry(server: str, entry: dict) -> AuthConfig:
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"])).decode()
        except ValueError:
            raise InvalidArgument(f"invalid auth configuration file: {server}") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise InvalidArgument("invalid auth configuration file")
    return AuthConfig(server, username, password, str(entry.get("identitytoken") or ""))


def _run_helper(helper: str, action: str, payload: bytes, allow_missing: bool = False) -> bytes:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, action], input=payload, capture_output=True, check=False)
    except FileNotFoundError:
        raise InvalidArgument(
            f'error getting credentials - err: exec: "{program}": executable file not found '
            "in $PATH, out: ``"
        ) from None
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0:
        if allow_missing and "credentials not found" in out:
            return b""
        verb = {"get": "getting", "store": "storing", "erase": "erasing"}[action]
        raise InvalidArgument(
            f"error {verb} credentials - err: exit status {done.returncode}, out: `{out}`"
        )
    return done.stdout


def _helper_get(helper: str, server: str) -> AuthConfig:
    out = _run_helper(helper, "get", server.encode(), allow_missing=True)
    if not out:
        return AuthConfig(server)
    try:
        answer = json.loads(out)
    except ValueError:
        raise InvalidArgument(f"docker-credential-{helper} gave no JSON") from None
    username, secret = str(answer.get("Username") or ""), str(answer.get("Secret") or "")
    if username == _TOKEN_USERNAME:
        return AuthConfig(server, identity_token=secret)
    return AuthConfig(server, username, secret)


def _helper_store(helper: str, auth: AuthConfig) -> None:
    username, secret = auth.username, auth.password
    if auth.identity_token:
        username, secret = _TOKEN_USERNAME, auth.identity_token
    payload = json.dumps({"ServerURL": auth.server, "Username": username, "Secret": secret})
    _run_helper(helper, "store", payload.encode())


def registry_auth_header(domain: str) -> dict[str, str]:
    """The X-Registry-Auth header for a pull or push from ``domain`` (nothing when logged out)."""
    auth = ConfigFile.load().get(server_for_domain(domain))
    if auth.empty:
        return {}
    body = {"username": auth.username, "password": auth.password, "serveraddress": auth.server}
    if auth.identity_token:
        body["identitytoken"] = auth.identity_token
    encoded = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
    return {"X-Registry-Auth": encoded}
