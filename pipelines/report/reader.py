"""Read-only access to the marts through dlt's SQL client, in SQL that runs unchanged on DuckDB and
PostgreSQL. Every query names its tables through `Reader.t()` (schema-qualified and quoted: the marts in
their own schema, `sync_runs` in the dataset's), binds values as `%s` parameters, and keeps to portable SQL:
no engine-specific functions, ratios and rounding in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The marts every section reads; the report refuses to run without them.
REQUIRED_MARTS = (
    "dim_kiosk",
    "dim_product",
    "fct_sales",
    "fct_inventory_daily",
    "fct_inventory_snapshot",
    "fct_refills",
    "fct_temperature_hourly",
)
# Marts used when they exist (added by later versions of the transforms), and the run log of the pipeline.
OPTIONAL_TABLES = ("fct_cold_chain_daily", "fct_replenishment_plan", "sync_runs")


class Reader:
    def __init__(self, client: Any, dataset: str, marts_schema: str | None = None) -> None:
        from transforms.settings import marts_schema as configured

        self.client = client
        self.dataset = dataset
        self.marts_schema = marts_schema or configured(dataset)
        self._columns: dict[str, list[str]] | None = None
        self._schema_of: dict[str, str] = {}

    def t(self, name: str) -> str:
        """`name` qualified by the schema it was found in (the marts' unless it is only in the dataset's)."""
        self.tables  # noqa: B018 - finds where each table lives
        escape = self.client.capabilities.escape_identifier
        return f"{escape(self._schema_of.get(name, self.marts_schema))}.{escape(name)}"

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self.client.execute_query(sql, *args) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def scalar(self, sql: str, *args: Any) -> Any:
        result = self.client.execute_sql(sql, *args)
        return result[0][0] if result else None

    @property
    def tables(self) -> dict[str, list[str]]:
        """Tables and views of the marts' and the dataset's schemas with their columns (in table order); a
        name in both is the mart."""
        if self._columns is None:
            found = self.client.execute_sql(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                "WHERE table_schema IN (%s, %s) AND table_catalog = current_database() "
                "ORDER BY table_schema, table_name, ordinal_position",
                self.marts_schema,
                self.dataset,
            )
            columns: dict[tuple[str, str], list[str]] = {}
            for schema, table, column in found or []:
                columns.setdefault((str(schema), str(table)), []).append(str(column))
            self._columns = {}
            for (schema, table), names in sorted(columns.items(), key=lambda i: i[0][0] == self.marts_schema):
                # the marts' schema last: it wins
                self._columns[table] = names
                self._schema_of[table] = schema
        return self._columns

    def has(self, table: str) -> bool:
        return table in self.tables

    def columns(self, table: str) -> list[str]:
        return self.tables.get(table, [])

    def missing(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if not self.has(n)]
