"""Store helpers: per-day counts narrow a page's `created` range without changing the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator import clock
from simulator.config import SimConfig
from simulator.generator import generate
from simulator.store import Store, add_range

NOW = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def store() -> Store:
    s = Store()
    config = SimConfig(seed=13, kiosks=3, days=6, now=NOW)
    generate(s, config)
    clock.upload_backlog(s, "LIV-0002", 30, sessions=20, config=config)  # late rows: new ids, old `created`
    yield s
    s.close()


def _page(store: Store, table: str, where: str, params: list, skip: int, limit: int, desc: bool) -> list[int]:
    direction = "DESC" if desc else "ASC"
    return [
        r[0]
        for r in store.query(
            f"SELECT id FROM {table} WHERE {where} "
            f"ORDER BY created {direction}, id {direction} LIMIT ? OFFSET ?",
            [*params, limit, skip],
        )
    ]


@pytest.mark.parametrize("desc", [True, False])
@pytest.mark.parametrize("skip", [0, 150, 2_000, 100_000])
@pytest.mark.parametrize("case", ["all", "scoped", "kiosks", "window"])
def test_page_slice_holds_exactly_the_page(store: Store, case: str, skip: int, desc: bool):
    org_ids = kiosk_ids = start = end = None
    if case == "scoped":
        org_ids = store.descendant_org_ids(3)
    if case == "kiosks":
        kiosk_ids = [1, 2]
    if case == "window":
        start, end = NOW - timedelta(days=3, hours=5, minutes=7), NOW - timedelta(hours=30, seconds=1)
    where, params = ["TRUE"], []
    for column, values in (("organization_id", org_ids), ("kiosk_id", kiosk_ids)):
        if values is not None:
            where.append(f"{column} IN (SELECT unnest(?))")
            params.append(values)
    add_range(where, params, "created", start, end)
    for table in ("transactions", "refills"):
        full_where = " AND ".join(where)
        window = store.page_slice(
            table,
            org_ids=org_ids,
            kiosk_ids=kiosk_ids,
            start=start,
            end=end,
            skip=skip,
            limit=100,
            descending=desc,
        )
        assert window.total == store.scalar(f"SELECT count(*) FROM {table} WHERE {full_where}", params)
        narrowed, narrowed_params = list(where), list(params)
        add_range(narrowed, narrowed_params, "created", window.lo, window.hi)
        expected = _page(store, table, full_where, params, skip, 100, desc)
        if window.empty:
            assert expected == []
            continue
        narrowed_page = _page(store, table, " AND ".join(narrowed), narrowed_params, window.offset, 100, desc)
        assert narrowed_page == expected


def test_page_slice_narrows_recent_pages(store: Store):
    window = store.page_slice("transactions", skip=0, limit=100)
    assert window.lo is not None and window.lo >= NOW - timedelta(days=1)
    assert window.offset < 100
