"""The Go-template subset of --format and inspect -f."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.template import Template

INSPECT = {
    "Name": "/web",
    "State": {"Status": "running", "Pid": 42, "Running": True},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"tier": "<front>"}},
    "Mounts": [{"Source": "/a"}, {"Source": "/b"}],
}


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("{{.State.Status}}", "running"),
        ("{{.State.Pid}}", "42"),
        ("{{.State.Running}}", "true"),
        ("id={{.Name}}!", "id=/web!"),
        ("{{json .Config.Env}}", '["A=1","B=2"]'),
        ("{{json .Config.Labels}}", '{"tier":"\\u003cfront\\u003e"}'),
        ("{{range .Mounts}}{{.Source}};{{end}}", "/a;/b;"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ('{{join .Config.Env ","}}', "A=1,B=2"),
        ('{{index .Config.Labels "tier"}}', "<front>"),
        ("{{.State.Status | upper}}", "RUNNING"),
        ("{{.Config.Labels}}", "map[tier:<front>]"),
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ('{{printf "%s:%d" .Name .State.Pid}}', "/web:42"),
        ("a {{- .Name -}} b", "a/webb"),
        ("{{.Missing}}", "<no value>"),
        ("{{len .Mounts}}", "2"),
    ],
)
def test_render(source: str, text: str) -> None:
    assert Template(source).render(INSPECT) == text


def test_strict_templates_refuse_missing_keys_like_docker_inspect() -> None:
    with pytest.raises(InvalidArgument) as caught:
        Template("{{.State.Nope}}", strict=True).render(INSPECT)
    assert caught.value.message == (
        'template parsing error: template: :1:2: executing "" at <.State.Nope>: '
        'map has no entry for key "Nope"'
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{bogus .Name}}", 'function "bogus" not defined'),
        ("{{.Name", "unclosed action"),
        ("{{range .Mounts}}x", "missing {{end}}"),
        ("{{end}}", "unexpected {{end}}"),
    ],
)
def test_bad_templates(source: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("{", r"\{").replace("}", r"\}")):
        Template(source).render(INSPECT)


def test_parenthesised_pipeline_with_fields() -> None:
    data = {"IPAM": {"Config": [{"Gateway": "172.18.0.1"}]}}
    assert Template("{{(index .IPAM.Config 0).Gateway}}").render(data) == "172.18.0.1"
    assert (
        Template('{{(index .IPAM.Config 0).Gateway | printf "%s!"}}').render(data) == "172.18.0.1!"
    )
