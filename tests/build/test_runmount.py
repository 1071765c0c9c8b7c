"""RUN --mount specs: BuildKit's names, defaults and errors."""

from __future__ import annotations

import pytest

from dockyard.build.runmount import MountSpec, mount_from, parse_mount
from dockyard.errors import InvalidArgument


def parse(text: str, **env: str) -> MountSpec:
    return parse_mount(text, lambda word: word.replace("$V", env.get("V", "")))


def test_defaults_per_type() -> None:
    assert parse("target=/src") == MountSpec(type="bind", target="/src", readonly=True)
    cache = parse("type=cache,target=/root/.cache")
    assert (cache.readonly, cache.sharing, cache.id) == (False, "shared", "")
    assert parse("type=tmpfs,dst=/t,size=64m").size == 64 << 20
    secret = parse("type=secret,id=token")
    assert (secret.readonly, secret.secret_id, secret.required) == (True, "token", False)
    assert parse("type=secret,target=/run/x/api").secret_id == "api"
    assert parse("type=ssh,required").ssh_id == "default"


def test_every_field_and_its_aliases() -> None:
    spec = parse(
        "type=cache,id=$V,from=base,source=/s,destination=/d,rw=false,sharing=LOCKED,"
        "mode=0700,uid=1000,gid=100",
        V="pip",
    )
    assert spec == MountSpec(
        type="cache", id="pip", from_="base", source="/s", target="/d", readonly=True,
        sharing="locked", mode=0o700, uid=1000, gid=100,
    )  # fmt: skip
    assert parse("src=a,dst=/b,readwrite").readonly is False
    assert parse("type=secret,id=a,env=API_KEY,required=true").env == "API_KEY"
    assert mount_from("type=bind,from=builder,target=/x") == "builder"


def test_the_key_text_names_the_spec_not_a_value() -> None:
    described = parse("type=secret,id=token,env=TOKEN").describe()
    assert described == "--mount=type=secret,ro=true,id=token,env=TOKEN"
    assert parse("type=cache,target=/c").describe() != parse("type=cache,target=/d").describe()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("type=volume,target=/x", 'unsupported mount type "volume"'),
        ("type=cache,target=/x,sharing=maybe", 'unsupported sharing value "maybe"'),
        ("target=/x,mode=0700", 'mode not allowed for "bind" type mounts'),
        ("type=tmpfs,target=/x,uid=1", 'uid not allowed for "tmpfs" type mounts'),
        ("type=cache,target=/x,uid=me", "invalid value me for uid"),
        ("type=cache,target=/x,mode=9", "invalid value 9 for mode"),
        ("target=/x,ro=maybe", "invalid value for ro: maybe"),
        ("target=/x,size=1m", "unexpected key 'size' for mount type 'bind'"),
        ("target=/x,required", "unexpected key 'required' for mount type 'bind'"),
        ("type=cache,target=/x,env=A", "unexpected key 'env' for mount type 'cache'"),
        ("target=/x,color=red", "unexpected key 'color' in 'color=red'"),
        ("target=/x,bogus", "invalid field 'bogus' must be a key=value pair"),
        ("type=secret,id=a,from=base", "secret mount should not have a from"),
        ("type=secret", "invalid secret mount. one of source, target required"),
        ("type=secret,id=a,source=b", "both source and id can't be set"),
        ("type=tmpfs,target=/x,sharing=locked", "invalid cache sharing set for tmpfs mount"),
        ("type=cache", "a target is required"),
        ("type=ssh,uid=1000", "mode, uid and gid of ssh mounts are not supported"),
        ('target="/x', 'failed to parse csv mounts: extraneous or missing " in quoted-field'),
    ],
)
def test_errors_as_buildkit_words_them(text: str, error: str) -> None:
    with pytest.raises(InvalidArgument, match=error):
        parse(text)
