"""dlt source for the Livello Open Platform API.

`livello_source(ctx, resources)` builds one dlt resource per selected endpoint of `endpoints.ENDPOINTS`. The
pipeline (pipelines/sync.py) creates one source per load: a snapshot load for the full listings and per-run
snapshots, then one load per backfill window for the incremental endpoints, all sharing one `RunContext`
(client, cached kiosk list, the windows of the current load)."""

from __future__ import annotations

from collections.abc import Sequence

import dlt
from dlt.extract.resource import DltResource

from sources.livello.endpoints import BY_NAME, ENDPOINTS, RESOURCE_NAMES, WINDOWED, Endpoint
from sources.livello.resources import RunContext, SourceOptions, Window, build_resource

SOURCE_NAME = "livello"

__all__ = [
    "ENDPOINTS",
    "RESOURCE_NAMES",
    "SOURCE_NAME",
    "WINDOWED",
    "Endpoint",
    "RunContext",
    "SourceOptions",
    "Window",
    "livello_source",
]


@dlt.source(name=SOURCE_NAME)
def livello_source(ctx: RunContext, resources: Sequence[str] = RESOURCE_NAMES) -> list[DltResource]:
    unknown = sorted(set(resources) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown resources: {', '.join(unknown)}")
    return [build_resource(ctx, BY_NAME[name]) for name in resources]
