"""Read-only access to the marts through dlt's SQL client, in SQL that runs unchanged on DuckDB and
PostgreSQL. Every query names its tables through `Reader.t()` (schema-qualified, quoted by dlt), binds values
as `%s` parameters, and keeps to portable SQL: no engine-specific functions, ratios and rounding in Python.
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
    def __init__(self, client: Any, dataset: str) -> None:
        self.client = client
        self.dataset = dataset
        self._columns: dict[str, list[str]] | None = None

    def t(self, name: str) -> str:
        return str(self.client.make_qualified_table_name(name))

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self.client.execute_query(sql, *args) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def scalar(self, sql: str, *args: Any) -> Any:
        result = self.client.execute_sql(sql, *args)
        return result[0][0] if result else None

    @property
    def tables(self) -> dict[str, list[str]]:
        """Tables and views of the dataset with their columns (in table order)."""
        if self._columns is None:
            found = self.client.execute_sql(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_catalog = current_database() "
                "ORDER BY table_name, ordinal_position",
                self.dataset,
            )
            columns: dict[str, list[str]] = {}
            for table, column in found or []:
                columns.setdefault(str(table), []).append(str(column))
            self._columns = columns
        return self._columns

    def has(self, table: str) -> bool:
        return table in self.tables

    def columns(self, table: str) -> list[str]:
        return self.tables.get(table, [])

    def missing(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if not self.has(n)]
