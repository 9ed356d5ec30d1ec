"""Data tests guard every build: a violation fails it, names test and table, and keeps the old marts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

import dlt
import pytest

from tests.transforms.conftest import Warehouse
from tests.transforms.raw_fixtures import ORGANIZATIONS, _kiosk_summaries
from transforms.models import load_models
from transforms.runner import DataTestsFailed, build


@contextmanager
def tampered(warehouse: Warehouse, change: str, undo: str) -> Iterator[None]:
    warehouse.execute(change)
    try:
        yield
    finally:
        warehouse.execute(undo)


def _failed_build(warehouse: Warehouse) -> tuple[dict[str, int], str]:
    # The raw tables are edited in place, not by a dlt load: only a full rebuild reads every row again.
    with pytest.raises(DataTestsFailed) as excinfo:
        build(warehouse.pipeline, full_refresh=True)
    failed = {f"{t.model}:{t.name}": t.failing_rows for t in excinfo.value.report.failed_tests}
    return failed, str(excinfo.value)


def _failures_when(warehouse: Warehouse, change: str, undo: str) -> dict[str, int]:
    """The failed tests of a full rebuild on the changed raw data (undone afterwards): test -> rows."""
    with tampered(warehouse, change, undo):
        return _failed_build(warehouse)[0]


# A product the catalog never listed (deleted before the first sync): its raw rows are set aside, then back.
FORGET_PRODUCT_302 = (
    "CREATE TABLE kept_product AS SELECT * FROM products WHERE id = 302; DELETE FROM products WHERE id = 302",
    "INSERT INTO products SELECT * FROM kept_product; DROP TABLE kept_product",
)


def _constraints(warehouse: Warehouse) -> list[tuple[object, ...]]:
    if warehouse.engine == "duckdb":
        sql = "SELECT count(*) FROM duckdb_constraints() WHERE schema_name = %s"
    else:
        sql = "SELECT contype, count(*) FROM pg_constraint WHERE connamespace = %s::regnamespace GROUP BY 1"
    return sorted(warehouse.query(sql, warehouse.marts))


def test_a_line_total_that_disagrees_with_its_transaction_fails_the_build(tamperable: Warehouse) -> None:
    before = tamperable.query("SELECT count(*), sum(gross_amount) FROM fct_sales")
    constraints = _constraints(tamperable)
    assert constraints
    with tampered(
        tamperable,
        "UPDATE transactions__items_purchased SET total = total + 1 WHERE product_meta_id = 201",
        "UPDATE transactions__items_purchased SET total = total - 1 WHERE product_meta_id = 201",
    ):
        failed, message = _failed_build(tamperable)
    assert failed == {"fct_transactions:transaction_gross_equals_lines": 1}
    assert "transaction_gross_equals_lines on fct_transactions: 1 offending row(s)" in message
    assert "sample: transaction_id, gross_amount, lines_gross" in message
    # rolled back: the marts are still those of the last good build
    assert tamperable.query("SELECT count(*), sum(gross_amount) FROM fct_sales") == before
    assert _constraints(tamperable) == constraints  # with their keys and foreign keys
    assert not build(tamperable.pipeline, full_refresh=True).failed_tests  # and the undone data builds again


def test_stock_above_capacity_or_negative_fails_the_build(tamperable: Warehouse) -> None:
    restore = (
        "UPDATE kiosk_inventory SET product_line_data__count = 5 WHERE load_cell_id = 11 AND _dlt_load_id = "
    )
    restore += "(SELECT min(_dlt_load_id) FROM kiosk_inventory); UPDATE kiosk_inventory SET "
    restore += "product_line_data__count = 3 WHERE load_cell_id = 11 AND _dlt_load_id = "
    restore += "(SELECT max(_dlt_load_id) FROM kiosk_inventory)"
    # Above the cell's capacity, then below zero: both snapshots of the cell fail, and the day's last one.
    for count in (11, -1):
        tamper = f"UPDATE kiosk_inventory SET product_line_data__count = {count} WHERE load_cell_id = 11"
        with tampered(tamperable, tamper, restore):
            failed, _ = _failed_build(tamperable)
        assert failed["fct_inventory_snapshot:range(quantity_on_hand)"] == 2
        assert failed["fct_inventory_daily:range(quantity_on_hand)"] == 1


def test_a_sale_of_an_unknown_kiosk_fails_the_build(tamperable: Warehouse) -> None:
    # (a product the catalog never listed does not: see the last test of this module)
    moved = "UPDATE transactions SET kiosk__serial_number = '{}' WHERE id = 4"
    failed = _failures_when(tamperable, moved.format("LIV-9999"), moved.format("LIV-0003"))
    assert (
        failed.items()
        >= {
            "fct_sales:relationship(kiosk_serial_number -> dim_kiosk.kiosk_serial_number)": 2,
            # without the kiosk there is no time zone, hence no local date: that is reported too, not guessed
            "fct_transactions:not_null(date_key)": 1,
        }.items()
    )


def test_duplicate_keys_fail_the_build(tamperable: Warehouse) -> None:
    failed = _failures_when(
        tamperable,
        "UPDATE transactions SET id = 1 WHERE id = 2",
        "UPDATE transactions SET id = 2 WHERE "
        "kiosk__serial_number = 'LIV-0001' AND id = 1 AND payment_method__payment_type = 'MEMBERCARD'",
    )
    assert failed["fct_transactions:unique(transaction_id)"] == 1
    assert failed["fct_sales:unique(transaction_id, line_number)"] == 2  # both lines of transaction 1


def test_missing_raw_tables_and_all_null_columns_build_empty_marts(empty: Warehouse) -> None:
    # Only the catalog was synced (e.g. `--resources organizations,kiosks`): no transactions table at all, and
    # kiosks' latestTemperature was null everywhere so dlt created no column for it.
    empty.pipeline.run(
        [
            dlt.resource(ORGANIZATIONS, name="organizations", write_disposition="merge", primary_key="id"),
            dlt.resource(
                _kiosk_summaries(), name="kiosks", write_disposition="merge", primary_key="serialNumber"
            ),
        ]
    )
    report = build(empty.pipeline)
    counts = report.row_counts()
    assert counts["dim_kiosk"] == 3 and counts["fct_sales"] == 0 and counts["dim_date"] == 0
    assert empty.query("SELECT count(*) FROM dim_kiosk WHERE latest_temperature_celsius IS NULL") == [(3,)]


def test_the_cold_chain_rule_follows_its_settings(tamperable: Warehouse) -> None:
    from transforms.settings import TransformSettings

    query = (
        "SELECT kiosk_serial_number, minutes_above_threshold, longest_excursion_minutes, is_breach "
        "FROM fct_cold_chain_daily ORDER BY 1"
    )
    settings = TransformSettings(cold_chain_max_celsius=7.4, cold_chain_breach_minutes=35)
    try:
        build(tamperable.pipeline, settings)
        # 7.4 °C is not above 7.4; LIV-0003's 35 minutes at 8.0 °C are not longer than 35
        assert tamperable.query(query) == [("LIV-0001", 0, 0, False), ("LIV-0002", 0, 0, False)] + [
            ("LIV-0003", 40, 35, False)
        ]
    finally:
        build(tamperable.pipeline)  # the defaults again, for the module's other tests
    assert tamperable.query(query)[-1] == ("LIV-0003", 40, 35, True)


def test_an_incremental_build_checks_every_fact_row_against_a_dimension_that_lost_a_key(
    tamperable: Warehouse,
) -> None:
    """Old fact rows are not rebuilt, so their scoped relationship test would not see the organization they
    point to vanish; a full rebuild's test would. The incremental build checks them all then."""
    assert not build(tamperable.pipeline).failed_tests  # the incremental chain has started
    transactions = tamperable.query(
        "SELECT count(*) FROM fct_transactions WHERE kiosk_serial_number = 'LIV-0003'"
    )[0][0]
    with (
        tampered(
            tamperable,
            "CREATE TABLE kept_organization AS SELECT * FROM organizations WHERE id = 3; "
            "DELETE FROM organizations WHERE id = 3",
            "INSERT INTO organizations SELECT * FROM kept_organization; DROP TABLE kept_organization",
        ),
        pytest.raises(DataTestsFailed) as excinfo,
    ):
        build(tamperable.pipeline)
    failed = {f"{t.model}:{t.name}": t.failing_rows for t in excinfo.value.report.failed_tests}
    key = "fct_transactions:relationship(organization_id -> dim_organization.organization_id)"
    assert failed[key] == transactions > 0
    assert not build(tamperable.pipeline).failed_tests


def test_products_deleted_before_their_last_events_still_join_them(tamperable: Warehouse) -> None:
    """A deletion's time is the load that noticed it, which may lie before the vendor's time of the product's
    last events (units left in a fridge are sold, counted and removed; a vendor clock ahead of ours). Those
    events join the product's last version instead of failing the build's not-null test on product_key."""
    deleted_at = {101: "2026-03-16", 102: "2026-01-02"}  # after 101's price change; 102 has one version
    last_version = {101: "101-2", 102: "102-1"}
    closed = " OR ".join(f"(id = {p} AND _dlt_valid_to IS NULL)" for p in deleted_at)
    retire = " ".join(
        f"WHEN {p} THEN TIMESTAMP WITH TIME ZONE '{d} 00:00:00+00'" for p, d in deleted_at.items()
    )
    with tampered(
        tamperable,
        "CREATE TABLE open_product_versions AS SELECT _dlt_id FROM products WHERE " + closed + "; "
        f"UPDATE products SET _dlt_valid_to = CASE id {retire} END WHERE " + closed,
        "UPDATE products SET _dlt_valid_to = NULL "
        "WHERE _dlt_id IN (SELECT _dlt_id FROM open_product_versions); DROP TABLE open_product_versions",
    ):
        assert not build(tamperable.pipeline, full_refresh=True).failed_tests
        assert tamperable.query(
            "SELECT product_meta_id, valid_to FROM dim_product WHERE is_deleted ORDER BY 1"
        ) == [(p, datetime.fromisoformat(d)) for p, d in deleted_at.items()]
        joined: set[tuple[int, str]] = set()
        for fact, at in (
            ("fct_sales", "sold_at_utc"),
            ("fct_refills", "refilled_at_utc"),
            ("fct_inventory_snapshot", "snapshot_at_utc"),
        ):
            after = " OR ".join(
                f"(product_meta_id = {p} AND {at} >= TIMESTAMP '{d}')" for p, d in deleted_at.items()
            )
            rows = set(
                tamperable.query(f"SELECT DISTINCT product_meta_id, product_key FROM {fact} WHERE {after}")
            )
            assert rows and rows <= set(last_version.items()), fact
            joined |= rows
        assert joined == set(last_version.items())
    assert not build(tamperable.pipeline, full_refresh=True).failed_tests


def test_sales_of_a_product_the_catalog_never_listed_build_with_no_version(tamperable: Warehouse) -> None:
    """A product deleted before the first sync is in old sales and refills but never in /products: those lines
    keep their product id, name and money with no product version (product_key null), and the build passes
    (failing it would stop every nightly build for good). That a listed product's line without a version
    still fails: tests/transforms/test_models.py."""
    sold = "SELECT count(*), sum(gross_amount) FROM fct_sales WHERE product_meta_id = 302"
    before = tamperable.query(sold)
    with tampered(tamperable, *FORGET_PRODUCT_302):
        assert not build(tamperable.pipeline, full_refresh=True).failed_tests
        assert tamperable.query(sold) == before and before[0][0] > 0
        assert tamperable.query(
            "SELECT DISTINCT product_key, product_name FROM fct_sales WHERE product_meta_id = 302"
        ) == [(None, "product 302")]
        assert tamperable.query("SELECT count(*) FROM dim_product WHERE product_meta_id = 302") == [(0,)]
    assert not build(tamperable.pipeline, full_refresh=True).failed_tests


def test_a_fact_kept_with_an_older_headers_not_null_key_is_rebuilt_once_to_take_a_null_one(
    tamperable: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fact maintained incrementally keeps the NOT NULL of its first build. Built under the older header
    (product_key NOT NULL), it is rebuilt in full once the header allows a null key, rather than failing on
    the constraint when a product the catalog never listed arrives."""
    import transforms.runner

    older = tuple(
        replace(m, not_null=(*m.not_null, "product_key")) if m.name == "fct_sales" else m
        for m in load_models()
    )
    monkeypatch.setattr(transforms.runner, "load_models", lambda: older)
    assert not build(tamperable.pipeline, full_refresh=True).failed_tests
    monkeypatch.undo()
    with tampered(tamperable, *FORGET_PRODUCT_302):
        report = build(tamperable.pipeline)
        assert not report.failed_tests
        reasons = {m.name: m.full_reason for m in report.models}
        assert reasons["fct_sales"] == "its SQL, its keys or the build settings changed"
        assert tamperable.query("SELECT DISTINCT product_key FROM fct_sales WHERE product_meta_id = 302") == [
            (None,)
        ]
    assert not build(tamperable.pipeline, full_refresh=True).failed_tests
