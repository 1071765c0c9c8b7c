"""``dockyard login`` and ``logout``: the daemon checks the credentials, the config file keeps them."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from dockyard.cli.credentials import INDEX_SERVER, AuthConfig, ConfigFile, hostname
from dockyard.cli.parser import add_positionals, command
from dockyard.client import APIError, Client
from dockyard.errors import InvalidArgument

_UNENCRYPTED_WARNING = """
WARNING! Your credentials are stored unencrypted in '{path}'.
Configure a credential helper to remove this warning. See
https://docs.docker.com/go/credential-store/
"""


def register(subparsers: Any) -> None:
    login = command(
        subparsers,
        "login",
        run_login,
        usage="%(prog)s [OPTIONS] [SERVER]",
        description="Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
        max_args=1,
    )
    login.add_argument("-u", "--username", default=None)
    login.add_argument("-p", "--password", default=None)
    login.add_argument("--password-stdin", action="store_true")
    add_positionals(login)
    logout = command(
        subparsers,
        "logout",
        run_logout,
        usage="%(prog)s [SERVER]",
        description="Log out from a registry.\n"
        "If no server is specified, the default is defined by the daemon.",
        max_args=1,
    )
    add_positionals(logout)


def run_login(client: Client, ns: argparse.Namespace) -> int:
    username, password = _credentials_from_flags(ns)
    server = ns.args[0] if ns.args and ns.args[0] != "docker.io" else INDEX_SERVER
    config = ConfigFile.load()
    stored = config.get(server) if username is None and password is None else AuthConfig(server)
    if stored.username and stored.password:
        print(
            f"Authenticating with existing credentials... [Username: {stored.username}]",
            file=sys.stderr,
        )
        try:
            status = _login(client, stored)
            _store(config, stored)
            print(status)
            return 0
        except APIError as e:
            print(
                f"Login did not succeed, error: Error response from daemon: {e.message}",
                file=sys.stderr,
            )
    auth = _prompt(server, username, password, stored.username)
    status = _login(client, auth)
    _store(config, auth)
    print(status)
    return 0


def _credentials_from_flags(ns: argparse.Namespace) -> tuple[str | None, str | None]:
    username, password = ns.username, ns.password
    if ns.password_stdin or password == "-":
        if password is not None and password != "-":
            raise InvalidArgument(
                "conflicting options: cannot specify both --password and --password-stdin"
            )
        if username is None:
            raise InvalidArgument("the --password-stdin option requires --username to be set")
    if username is not None and not username:
        raise InvalidArgument("username is empty")
    if password is not None and not password:
        raise InvalidArgument("password is empty")
    if ns.password_stdin or password == "-":
        password = _read_stdin_secret()
    elif password:
        print(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
            file=sys.stderr,
        )
    return username, password


def _read_stdin_secret() -> str:
    secret = sys.stdin.read()
    for eol in ("\r\n", "\n", "\r"):
        if secret.endswith(eol):
            secret = secret[: -len(eol)]
            break
    if not secret.strip():
        raise InvalidArgument("password is empty")
    return secret


def _prompt(server: str, username: str | None, password: str | None, default: str) -> AuthConfig:
    if (not username or not password) and not sys.stdin.isatty():
        raise InvalidArgument("error: cannot perform an interactive login from a non-TTY device")
    if not username:
        prompt = f"Username ({default}): " if default else "Username: "
        username = input(prompt).strip() or default
        if not username:
            raise InvalidArgument("error: username is required")
    if not password:
        password = getpass.getpass("Password: ")
        if not password:
            raise InvalidArgument("error: password is required")
    return AuthConfig(server, username, password)


def _login(client: Client, auth: AuthConfig) -> str:
    body = {"username": auth.username, "password": auth.password, "serveraddress": auth.server}
    answer = client.request("POST", "/auth", body=body).json()
    return str(answer.get("Status") or "Login Succeeded")


def _store(config: ConfigFile, auth: AuthConfig) -> None:
    try:
        in_clear = config.store(auth)
    except OSError as e:
        raise InvalidArgument(f"error saving credentials: {e}") from None
    if in_clear:
        print(_UNENCRYPTED_WARNING.format(path=config.path), file=sys.stderr)


def run_logout(client: Client, ns: argparse.Namespace) -> int:
    server = ns.args[0] if ns.args else INDEX_SERVER
    shown = server if server == INDEX_SERVER else hostname(server)
    print(f"Removing login credentials for {shown}")
    candidates = [server]
    if server != INDEX_SERVER:
        candidates += [shown, f"http://{shown}", f"https://{shown}"]
    config = ConfigFile.load()
    for candidate in dict.fromkeys(candidates):
        config.erase(candidate)
    return 0
