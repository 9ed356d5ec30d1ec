"""Settings of the marts build, resolved by dlt's configuration from `sources.livello.*` like every other
setting (environment `SOURCES__LIVELLO__MARTS_SCHEMA`, or `[sources.livello] marts_schema = ...` in
`.dlt/config.toml`). Each has its one default here; pipelines/settings.py refuses unknown keys with these
known.

* `marts_schema`: the schema of the `dim_*` / `fct_*` tables, default `<dataset>_marts`, so a BI tool is
  pointed at the star schema alone (raw tables, `_dlt_*`, `sync_runs` and the `stg_*` views stay in the
  dataset's schema).
* `cold_chain_max_celsius`, `cold_chain_breach_minutes`: the cold-chain rule of `fct_cold_chain_daily` (a
  minute above the limit is an excursion minute; a day breaches when one continuous excursion lasts longer
  than the breach minutes). Models read them with the `setting('name')` macro, rendered as a literal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import BaseConfiguration

from sources.livello.config import invalid, resolve

MARTS_SCHEMA_SUFFIX = "_marts"


@configspec
class TransformSettings(BaseConfiguration):
    # The schema the marts are built in; unset: `<dataset>_marts`.
    marts_schema: str | None = None
    # Chilled food must stay at or below this temperature (°C).
    cold_chain_max_celsius: float = 7.0
    # A day breaches the cold chain when one continuous excursion above the limit lasts longer than this.
    cold_chain_breach_minutes: int = 30

    def on_resolved(self) -> None:
        if self.marts_schema is not None and not self.marts_schema.strip():
            raise invalid("marts_schema", self.marts_schema, "must name a schema (or be left unset)")
        if not -50 <= self.cold_chain_max_celsius <= 50:
            raise invalid("cold_chain_max_celsius", self.cold_chain_max_celsius, "must be between -50 and 50")
        if self.cold_chain_breach_minutes < 0:
            raise invalid("cold_chain_breach_minutes", self.cold_chain_breach_minutes, "must not be negative")

    def schema_for(self, dataset: str) -> str:
        return self.marts_schema or f"{dataset}{MARTS_SCHEMA_SUFFIX}"

    def model_settings(self) -> dict[str, Any]:
        """What `setting('name')` renders to in a model: exact decimals, so both engines compare alike."""
        return {
            "cold_chain_max_celsius": Decimal(str(self.cold_chain_max_celsius)).quantize(Decimal("0.001")),
            "cold_chain_breach_minutes": int(self.cold_chain_breach_minutes),
        }


def transform_settings() -> TransformSettings:
    """The configured settings (a `SettingError` names a bad one)."""
    return resolve(TransformSettings)


def marts_schema(dataset: str) -> str:
    """The schema holding the marts of `dataset`, as configured."""
    return transform_settings().schema_for(dataset)


def use_marts(client: Any) -> str:
    """Point an open dlt SQL client's search path at the marts' schema, then the dataset's: hand-written SQL
    (reconcile, the demo's numbers) names marts and raw tables unqualified. Returns the marts' schema."""
    from transforms.render import search_path

    dataset = str(client.dataset_name)
    dialect = "postgres" if "postgres" in str(client.capabilities.sqlglot_dialect) else "duckdb"
    schema = marts_schema(dataset)
    client.execute_sql(search_path(dialect, [schema, dataset]))
    return schema
