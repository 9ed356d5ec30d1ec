"""`livello-sync resources`: what every resource syncs, read from the endpoint table alone.

Per resource: the API path, the warehouse tables it fills (the root table and the child tables dlt makes of
its lists, docs/decisions.md), primary key, cursor, write disposition, the scopes it needs, paging and
fan-out. Offline: no setting, no request. `access(granted)` adds whether a token with those scopes may read
each resource (`--check-access` asks the API for a token first)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sources.livello.config import SourceSettings
from sources.livello.endpoints import ENDPOINTS, Endpoint
from sources.livello.rows import column_name

SCHEMA_VERSION = 1


@dataclass
class ResourceInfo:
    resource: str
    path: str
    tables: list[str]
    primary_key: list[str]
    write_disposition: str
    scopes: list[str]
    paging: str | None  # page / skip / offset; None: one response
    fan_out: str | None  # one call per row of a listing ("kiosks.serialNumber") or per configured value
    cursor: str | None  # the API field an incremental resource advances on
    cursor_column: str | None  # its column in the warehouse
    each_run: bool = False  # incremental, and its open records are re-read every run (alerts)
    configured_by: str | None = None  # reads only what this setting names (promocodes)
    pii: list[str] = field(default_factory=list)  # fields pseudonymized before they leave the source
    access: bool | None = None  # with --check-access: whether this client's token may read it
    missing_scopes: list[str] = field(default_factory=list)


def write_disposition(endpoint: Endpoint) -> str:
    disposition = endpoint.write_disposition
    if isinstance(disposition, dict):
        return str(disposition.get("strategy") or disposition.get("disposition"))
    return str(disposition)


def configured_setting(endpoint: Endpoint) -> str | None:
    """The `sources.livello` setting naming what a configured-only endpoint reads (e.g. promocodes)."""
    if not endpoint.configured_by:
        return None
    fields = SourceSettings.get_resolvable_fields()
    stem = endpoint.configured_by.removesuffix("_list")
    return next((name for name in (stem, f"{stem}s") if name in fields), endpoint.configured_by)


def fan_out(endpoint: Endpoint) -> str | None:
    if endpoint.fan_out is not None:
        return f"{endpoint.fan_out.over.resource}.{endpoint.fan_out.key}"
    setting = configured_setting(endpoint)
    return f"setting {setting}" if setting else None


def describe(endpoint: Endpoint) -> ResourceInfo:
    incremental = endpoint.incremental
    return ResourceInfo(
        resource=endpoint.resource,
        path=endpoint.path,
        tables=[
            endpoint.resource,
            *(f"{endpoint.resource}__{child}" for child in endpoint.child_tables),
        ],
        primary_key=list(endpoint.primary_key),
        write_disposition=write_disposition(endpoint),
        scopes=list(endpoint.scopes),
        paging=endpoint.paging,
        fan_out=fan_out(endpoint),
        cursor=incremental.cursor if incremental else None,
        cursor_column=column_name(incremental.cursor) if incremental else None,
        each_run=endpoint.each_run,
        configured_by=configured_setting(endpoint),
        pii=[column_name(f) for f in endpoint.pii],
    )


def resources(granted: Iterable[str] | None = None) -> list[ResourceInfo]:
    """Every resource in table order; with `granted` (a token's scopes) also whether it may be read."""
    infos = [describe(endpoint) for endpoint in ENDPOINTS]
    if granted is not None:
        scopes = set(granted)
        for info in infos:
            info.missing_scopes = [s for s in info.scopes if s not in scopes]
            info.access = not info.missing_scopes
    return infos


_COLUMNS = (
    ("resource", "resource"),
    ("tables", "tables"),
    ("primary key", "primary_key"),
    ("cursor", "cursor_column"),
    ("write", "write_disposition"),
    ("scopes", "scopes"),
    ("paging", "paging"),
    ("one call per", "fan_out"),
)


def _cells(info: ResourceInfo, with_access: bool) -> list[list[str]]:
    """One list of lines per column (tables and scopes take one line each)."""
    cells: list[list[str]] = []
    for _, name in _COLUMNS:
        value: Any = getattr(info, name)
        if name in ("tables", "scopes", "primary_key"):
            cells.append(list(value) or ["-"])
        else:
            cells.append([str(value) if value else "-"])
    if with_access:
        cells.append(["yes" if info.access else f"no: needs {', '.join(info.missing_scopes)}"])
    return cells


def render(infos: list[ResourceInfo], *, client_id: str | None = None) -> str:
    with_access = any(info.access is not None for info in infos)
    headers = [title for title, _ in _COLUMNS] + (["access"] if with_access else [])
    rows = [_cells(info, with_access) for info in infos]
    widths = [
        max(len(headers[i]), *(len(line) for row in rows for line in row[i])) for i in range(len(headers))
    ]

    def line(parts: list[str]) -> str:
        return "  ".join(part.ljust(width) for part, width in zip(parts, widths, strict=True)).rstrip()

    lines = [line(headers), line(["-" * w for w in widths])]
    for row in rows:
        for index in range(max(len(cell) for cell in row)):
            lines.append(line([cell[index] if index < len(cell) else "" for cell in row]))
    lines.append("")
    lines.append(
        f"{len(infos)} resources. Child tables (`<table>__<list>`) join their parent on "
        "_dlt_parent_id = parent._dlt_id; every table lives in the dataset's schema (default livello)."
    )
    pii = [info for info in infos if info.pii]
    for info in pii:
        lines.append(
            f"{info.resource}: {', '.join(info.pii)} are pseudonymized with "
            "sources.livello.pseudonymization_key."
        )
    for info in infos:
        if info.configured_by:
            lines.append(
                f"{info.resource}: the API cannot list them; only the codes in "
                f"sources.livello.{info.configured_by} are read."
            )
        if info.each_run:
            lines.append(f"{info.resource}: new rows by {info.cursor}, and every open one re-read each run.")
    if with_access:
        readable = sum(1 for info in infos if info.access)
        who = f"client {client_id}" if client_id else "this client"
        lines.append(f"{who} may read {readable} of {len(infos)} resources; the others are skipped by `run`.")
    return "\n".join(lines)


def as_json(infos: list[ResourceInfo], *, client_id: str | None = None) -> str:
    document: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "resources": [asdict(i) for i in infos]}
    if client_id is not None:
        document["client_id"] = client_id
    return json.dumps(document, indent=2)
