"""dlt source for the Livello Open Platform API.

`livello_source()` builds one dlt resource per row of `endpoints.ENDPOINTS`. Called with no arguments it takes
its configuration from dlt's providers (`.dlt/config.toml`, `.dlt/secrets.toml`, `SOURCES__LIVELLO__*`
environment variables) and reads each incremental resource from its cursor minus the lookback to now:

    pipeline = dlt.pipeline(destination="duckdb")
    pipeline.run(livello_source().with_resources("kiosks", "products"))

`livello-sync run` (pipelines/sync.py) passes its own `RunContext` instead: one client and its counters for
the whole run, and the windows a planner chose for each load (checkpointed backfills, count-verified
lookback).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from sources.livello import state
from sources.livello.config import ClientSettings, SourceSettings, resolve
from sources.livello.context import RunContext, Window
from sources.livello.drift import STRICT_CONTRACT, FieldWatch
from sources.livello.endpoints import ENDPOINTS, RESOURCE_NAMES, Endpoint
from sources.livello.errors import BadRequestError, ScopeError, UnexpectedResponseError
from sources.livello.rows import column_hints
from sources.livello.state import SOURCE_NAME

__all__ = [
    "ENDPOINTS",
    "RESOURCE_NAMES",
    "SOURCE_NAME",
    "Endpoint",
    "RunContext",
    "Window",
    "build_resource",
    "livello_source",
]


def default_context() -> RunContext:
    """A context from dlt's configuration: a fresh client, no planner."""
    from sources.livello.client import LivelloClient
    from sources.livello.redaction import install_redaction

    install_redaction()  # the caller's process logs through dlt and httpx too: no secret in any record
    return RunContext(LivelloClient(resolve(ClientSettings)), resolve(SourceSettings))


# root_key: child tables keep dlt's link to their root row also in a load that replaces the table (a full
# listing of users), so the merges of the other runs find it.
@dlt.source(name=SOURCE_NAME, root_key=True)
def livello_source(context: RunContext | None = None) -> list[DltResource]:
    ctx = context or default_context()
    return [build_resource(ctx, endpoint) for endpoint in ENDPOINTS]


def build_resource(ctx: RunContext, endpoint: Endpoint) -> DltResource:
    """The dlt resource of one endpoint. A scope the token lacks skips it; under a planner (`livello-sync
    run`), an answer that breaks the contract (a page that repeats, a body that is not JSON) stops only this
    resource: its rows of this load are held back until its reader finishes and dropped with its state
    changes when the reader fails, so nothing of the broken window is committed while the others load. On
    its own, the source lets the error fail dlt's extract, which commits nothing either."""

    def rows() -> Iterator[Any]:
        assert endpoint.reader is not None
        resource = state.live()
        before = copy.deepcopy(dict(resource.raw))
        watch = FieldWatch(endpoint.resource, dlt.current.source_schema().tables, resource.sent_columns)
        held: list[Any] = []
        hinted = False

        def marked(batch: Any) -> Any:
            """The first batch of a reading that replaces its table carries dlt's replace hint (one load)."""
            nonlocal hinted
            if hinted or endpoint.resource not in ctx.replacing:
                return batch
            hinted = True
            return dlt.mark.with_hints(batch, dlt.mark.make_hints(write_disposition="replace"))

        try:
            for batch in endpoint.reader(ctx, endpoint):
                watch.see(batch)
                if ctx.on_rows is not None:
                    ctx.on_rows(endpoint.resource, len(batch))
                if ctx.windows is None:
                    yield marked(batch)
                else:
                    held.append(batch)
            ctx.check_drift(endpoint, watch.drift())
            resource.set_sent_columns(watch.sent_columns(resource.sent_columns))
        except ScopeError as error:  # a 403 for a scope the token lacks: skip this resource, keep the others
            ctx.skip(endpoint.resource, error.scope or endpoint.scope)
            resource.restore(before)
            return
        except (UnexpectedResponseError, BadRequestError) as error:
            if ctx.windows is None or getattr(error, "stops_run", False):
                raise
            ctx.fail(endpoint.resource, error.message)
            resource.restore(before)
            return
        yield from map(marked, held)

    rows.__name__ = endpoint.resource
    columns, nested = column_hints(endpoint)
    return dlt.resource(
        rows,
        name=endpoint.resource,
        write_disposition=endpoint.write_disposition,
        primary_key=list(endpoint.primary_key) or None,
        columns=columns,
        nested_hints=nested or None,
        schema_contract=STRICT_CONTRACT if ctx.settings.strict else None,
    )
