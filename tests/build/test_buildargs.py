"""Build args: declarations, overrides, meta args, proxies, unused warnings."""

from __future__ import annotations

from dockyard.build.buildargs import BuildArgs


def test_option_overrides_a_declared_default() -> None:
    args = BuildArgs({"V": "2"})
    args.declare("V", "1")
    args.declare("W", "w")
    assert args.allowed() == {"V": "2", "W": "w"}


def test_undeclared_option_is_not_visible_and_is_reported() -> None:
    args = BuildArgs({"NOPE": "x", "V": "1"})
    args.declare("V", None)
    assert args.allowed() == {"V": "1"}
    assert args.unused() == ["NOPE"]


def test_meta_args_reach_a_stage_only_when_redeclared() -> None:
    args = BuildArgs({})
    args.declare_meta("BASE", "busybox")
    assert args.meta_values() == {"BASE": "busybox"}
    stage = args.in_stage()
    assert "BASE" not in stage.allowed()
    stage.declare("BASE", None)
    assert stage.allowed() == {"BASE": "busybox"}


def test_proxy_args_need_no_declaration_but_stay_out_of_records() -> None:
    args = BuildArgs({"http_proxy": "http://p:3128", "V": "1"})
    args.declare("V", None)
    assert args.allowed() == {"V": "1", "http_proxy": "http://p:3128"}
    assert args.recorded(set()) == {"V": "1"}
    assert args.unused() == []


def test_env_of_the_same_name_hides_the_arg() -> None:
    args = BuildArgs({})
    args.declare("V", "1")
    assert args.recorded({"V"}) == {}


def test_declared_without_value_and_no_option_is_unset() -> None:
    args = BuildArgs({})
    args.declare("V", None)
    assert args.allowed() == {}
