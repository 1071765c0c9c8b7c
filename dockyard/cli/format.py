"""Docker's output formats: tables, ``--format`` templates, and the fields of ps and images.

A list command turns each API object into a row of display strings (the
``*_row`` functions: docker's formatter contexts), then ``render_rows`` prints
them with the default table, a ``table ...`` template (header from
``*_HEADERS``), ``json``, or any other template. Columns are aligned like Go's
text/tabwriter with docker's settings (minimum width 10, padding 3).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from dockyard.template import Template, to_json
from dockyard.units import human_duration, human_size

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

MIN_WIDTH = 10
PADDING = 3

CONTAINER_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}
IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "SIZE",
}


def tabwrite(lines: Iterable[str], min_width: int = MIN_WIDTH) -> str:
    """Align tab-separated cells like text/tabwriter (the last cell of a line is free)."""
    rows = [line.split("\t") for line in lines]
    widths: list[int] = []
    for cells in rows:
        for column, cell in enumerate(cells[:-1]):
            if column == len(widths):
                widths.append(0)
            widths[column] = max(widths[column], len(cell) + PADDING, min_width)
    out = []
    for cells in rows:
        padded = [cell.ljust(widths[column]) for column, cell in enumerate(cells[:-1])]
        out.append("".join(padded) + cells[-1])
    return "".join(line + "\n" for line in out)


def render_rows(
    rows: list[dict[str, Any]], spec: str, default_table: str, headers: dict[str, str]
) -> str:
    """Rows printed with ``--format``: "" or "table" (default), "json", "table T", or T."""
    spec = spec or "table"
    if spec == "table":
        spec = default_table
    elif spec == "json":
        spec = "{{json .}}"
    if spec.startswith("table"):
        body = Template(spec[len("table") :].lstrip())
        header = body.render(headers)
        return tabwrite([header] + [body.render(row) for row in rows])
    template = Template(spec)
    return "".join(template.render(row) + "\n" for row in rows)


def render_each(items: list[Any], spec: str) -> Iterator[str]:
    """inspect's output: a JSON array indented like docker, or a template per item.

    Templates run with missingkey=error, and each item's text comes as soon as it
    is rendered, so the items before a failing one are still printed (as docker does).
    """
    if not spec:
        yield indented_json(items) + "\n"
        return
    if spec == "json":
        yield from (to_json(item) + "\n" for item in items)
        return
    template = Template(spec, strict=True)
    for item in items:
        yield template.render(item) + "\n"


def indented_json(value: Any) -> str:
    """docker inspect's JSON: 4-space indent, HTML characters escaped like Go's encoder."""
    import json

    text = json.dumps(value, indent=4, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- shared field formatting ---------------------------------------------------


def short_id(identifier: str) -> str:
    """TruncateID: no algorithm prefix, 12 hex digits."""
    return identifier.split(":", 1)[-1][:12]


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def since(timestamp: float, now: float | None = None) -> str:
    """``2 seconds ago``."""
    return human_duration((now or time.time()) - timestamp) + " ago"


def go_time(timestamp: float) -> str:
    """Go's time.Time String() in local time: ``2024-05-01 10:00:00 +0200 CEST``."""
    moment = time.localtime(timestamp)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", moment)


def display_ports(ports: list[dict[str, Any]]) -> str:
    """docker's DisplayablePorts: ``53/udp, 0.0.0.0:3000-3001->3000-3001/tcp``.

    Consecutive ports with the same address and protocol (published on the same
    number) are shown as one range; other host mappings come last.
    """
    groups: dict[str, list[int]] = {}
    result: list[str] = []
    host_mappings: list[str] = []
    ordered = sorted(
        ports,
        key=lambda p: (
            p.get("PrivatePort", 0),
            p.get("IP", ""),
            p.get("PublicPort", 0),
            p.get("Type", ""),
        ),
    )
    for port in ordered:
        private, kind, address = (
            port.get("PrivatePort", 0),
            port.get("Type", "tcp"),
            port.get("IP", ""),
        )
        key = kind
        if address:
            if port.get("PublicPort") != private:
                host = join_host(address, str(port.get("PublicPort")))
                host_mappings.append(f"{host}->{private}/{kind}")
                continue
            key = f"{address}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(form_group(key, *group))
            groups[key] = [private, private]
    result += [form_group(key, *group) for key, group in groups.items()]
    return ", ".join(result + host_mappings)


def form_group(key: str, first: int, last: int) -> str:
    address, _, kind = key.rpartition("/")
    numbers = str(first) if first == last else f"{first}-{last}"
    if address:
        numbers = f"{join_host(address, numbers)}->{numbers}"
    return f"{numbers}/{kind}"


def join_host(address: str, port: str) -> str:
    """net.JoinHostPort: IPv6 addresses in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# -- ps ------------------------------------------------------------------------


def container_row(summary: dict[str, Any], truncate: bool, now: float) -> dict[str, Any]:
    """A ContainerSummary as docker ps shows it (its ContainerContext)."""
    command = summary.get("Command", "")
    names = [name.lstrip("/") for name in summary.get("Names") or []]
    if truncate:
        names = [name for name in names if "/" not in name][:1] or names[:1]
    labels = summary.get("Labels") or {}
    mounts = summary.get("Mounts") or []
    networks = (summary.get("NetworkSettings") or {}).get("Networks") or {}
    created = float(summary.get("Created", 0))
    return {
        "ID": short_id(summary["Id"]) if truncate else summary["Id"],
        "Image": display_image(summary, truncate),
        "Command": quote_go(ellipsis(command, 20) if truncate else command),
        "CreatedAt": go_time(created),
        "RunningFor": since(created, now),
        "Platform": None,
        "Ports": display_ports(summary.get("Ports") or []),
        "State": summary.get("State", ""),
        "Status": summary.get("Status", ""),
        "Size": display_container_size(summary),
        "Names": ",".join(names),
        "Labels": ",".join(f"{key}={labels[key]}" for key in sorted(labels)),
        "Mounts": ",".join(
            ellipsis(m.get("Name") or m.get("Source", ""), 15)
            if truncate
            else m.get("Name") or m.get("Source", "")
            for m in mounts
        ),
        "Networks": ",".join(sorted(networks)),
        "LocalVolumes": str(sum(1 for m in mounts if m.get("Driver") == "local")),
    }


def display_image(summary: dict[str, Any], truncate: bool) -> str:
    image = summary.get("Image") or ""
    if not image:
        return "<no image>"
    if truncate:
        if image.startswith("sha256:") or short_id(image) == short_id(summary.get("ImageID", "")):
            return short_id(image)
        if "@" in image and ":" in image.split("@", 1)[0].rsplit("/", 1)[-1]:
            return image.split("@", 1)[0]
    return image


def display_container_size(summary: dict[str, Any]) -> str:
    writable = human_size(float(summary.get("SizeRw") or 0))
    virtual = float(summary.get("SizeRootFs") or 0)
    return f"{writable} (virtual {human_size(virtual)})" if virtual > 0 else writable


def quote_go(text: str) -> str:
    """strconv.Quote for the printable text a command is."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f'"{escaped}"'


# -- images --------------------------------------------------------------------


def image_rows(summary: dict[str, Any], truncate: bool, now: float) -> list[dict[str, Any]]:
    """One row per tag of an ImageSummary (``<none>`` for an untagged image)."""
    identifier = short_id(summary["Id"]) if truncate else summary["Id"]
    digests = summary.get("RepoDigests") or []
    base = {
        "ID": identifier,
        "CreatedSince": since(float(summary.get("Created", 0)), now),
        "CreatedAt": go_time(float(summary.get("Created", 0))),
        "Size": human_size(float(summary.get("Size", 0))),
        "Containers": display_count(summary.get("Containers", -1)),
        "SharedSize": display_optional_size(summary.get("SharedSize", -1)),
        "UniqueSize": display_optional_size(
            summary.get("Size", 0) - max(summary.get("SharedSize", 0), 0)
        ),
        "VirtualSize": human_size(float(summary.get("VirtualSize", summary.get("Size", 0)))),
    }
    rows = []
    for tag in summary.get("RepoTags") or []:
        if tag == "<none>:<none>":
            continue
        repository, _, name = tag.rpartition(":")
        rows.append(
            {
                "Repository": repository,
                "Tag": name,
                "Digest": digest_for(repository, digests),
                **base,
            }
        )
    if not rows:
        for digest in digests:
            repository, _, value = digest.partition("@")
            rows.append({"Repository": repository, "Tag": "<none>", "Digest": value, **base})
    if not rows:
        rows.append({"Repository": "<none>", "Tag": "<none>", "Digest": "<none>", **base})
    return [order_image_row(row) for row in rows]


def order_image_row(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "Containers",
        "CreatedAt",
        "CreatedSince",
        "Digest",
        "ID",
        "Repository",
        "SharedSize",
        "Size",
        "Tag",
        "UniqueSize",
        "VirtualSize",
    )
    return {key: row[key] for key in keys}


def digest_for(repository: str, digests: list[str]) -> str:
    for digest in digests:
        name, _, value = digest.partition("@")
        if name == repository:
            return value
    return "<none>"


def display_count(count: int) -> str:
    return "N/A" if count < 0 else str(count)


def display_optional_size(size: int) -> str:
    return "N/A" if size < 0 else human_size(float(size))
