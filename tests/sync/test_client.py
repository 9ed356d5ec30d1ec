"""The Livello HTTP client against the simulator over real HTTP: auth, errors, retries, paging, secrets.

Pacing has its own module (test_client_pacing.py) because its tests need rate-limited simulators with short
windows.
"""

from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from simulator.config import SimConfig
from simulator.server import SimulatorServer
from sources.livello.client import ClientSettings, LivelloClient
from sources.livello.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExhaustedError,
    NotFoundError,
    ScopeError,
    TransientError,
)
from sources.livello.redaction import install_redaction
from tests.sync.clients import client_settings, one_kiosk_world

DEMO_ID, DEMO_SECRET = "lv_m2m_demo", "sk_live_demo"
NOW = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)


def settings_for(sim: SimulatorServer, **overrides: object) -> ClientSettings:
    # Fast retries keep the fault tests short; the behaviour under test is the same.
    fast = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "max_attempts": 8}
    return client_settings(sim, **{**fast, **overrides})


@pytest.fixture(scope="module", autouse=True)
def redaction() -> None:
    install_redaction()  # what the CLI does at start-up


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    # More than 100 rows for each paging style: ~1900 transactions, ~170 alerts, 150 products. No rate limits:
    # every test builds a new client (and token), more than the token endpoint's 10 per minute would allow.
    config = SimConfig(
        seed=7,
        kiosks=4,
        days=90,
        now=NOW,
        rate_limit_per_hour=0,
        token_rate_limit_per_minute=0,
        sessions_per_kiosk_day=5,
    )
    with SimulatorServer(config) as server:
        yield server


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[LivelloClient]:
    sim.clear_faults()  # every test starts without faults
    with LivelloClient(settings_for(sim)) as livello:
        yield livello
    sim.clear_faults()


def all_transactions(livello: LivelloClient, page_size: int = 100) -> list[dict]:
    rows: list[dict] = []
    for page in livello.paginate("/transactions", "skip", {"sort": 1}, page_size=page_size):
        rows.extend(page)
    return rows


# -- authentication ------------------------------------------------------------------------------------------
def test_one_token_serves_many_calls(client: LivelloClient) -> None:
    for _ in range(12):
        client.get("/organizations")
    assert client.stats.token_requests == 1
    assert client.stats.requests == 12
    assert client.scopes is not None and "transactions:read" in client.scopes


def test_token_invalidated_mid_run_is_refreshed_once_per_401(
    sim: SimulatorServer, client: LivelloClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.set_faults(expire_tokens_after=3)  # the server forgets every token after each 3rd authenticated call
    for _ in range(10):
        assert client.get("/organizations")["total"] > 0
    assert client.stats.token_refreshes >= 3
    assert client.stats.token_requests == client.stats.token_refreshes + 1
    # Neither the secret nor the bearer token reached a log line (the server returns its cached token).
    token = httpx.post(
        sim.token_url,
        json={"client_id": DEMO_ID, "client_secret": DEMO_SECRET, "grant_type": "client_credentials"},
    ).json()["access_token"]
    assert token not in caplog.text and DEMO_SECRET not in caplog.text
    assert "401" in caplog.text


def test_log_filter_redacts_secrets_just_in_case(
    client: LivelloClient, caplog: pytest.LogCaptureFixture
) -> None:
    client.check_credentials()
    logging.getLogger("livello_sync.client").warning("leaked %s and %s", DEMO_SECRET, "sk_live_demo-suffix")
    assert DEMO_SECRET not in caplog.text
    assert "leaked *** and ***-suffix" in caplog.text


def test_short_lived_token_is_renewed_before_it_expires() -> None:
    config = one_kiosk_world(token_lifetime_seconds=2)
    with SimulatorServer(config) as server, LivelloClient(settings_for(server)) as livello:
        livello.get("/organizations")
        time.sleep(2.1)
        livello.get("/organizations")
        assert livello.stats.token_requests == 2
        assert livello.stats.token_refreshes == 0  # renewed proactively: no 401 was needed


def test_revoked_client_fails_with_authentication_error(sim: SimulatorServer) -> None:
    with LivelloClient(
        settings_for(sim, client_id="lv_m2m_limited", client_secret="sk_live_limited")
    ) as livello:
        livello.get("/organizations")
        sim.revoke_client("lv_m2m_limited")
        try:
            with pytest.raises(AuthenticationError) as caught:
                livello.get("/organizations")
        finally:
            sim.revoke_client("lv_m2m_limited", revoked=False)
    assert "sk_live_limited" not in str(caught.value)
    assert livello.stats.token_refreshes == 1  # refreshed once, then gave up


def test_bad_secret_fails_fast_without_leaking_it(
    sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk_live_wrong_secret_value"
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with LivelloClient(settings_for(sim, client_secret=secret)) as livello:
        with pytest.raises(AuthenticationError) as caught:
            livello.check_credentials()
        assert time.monotonic() - started < 2.0
        assert livello.stats.token_requests == 1  # a 401 on the token is not retried
        assert livello.stats.requests == 0
    message = str(caught.value)
    assert DEMO_ID in message and "CLIENT_SECRET" in message
    rendered = "".join(traceback.format_exception(caught.value)) + repr(caught.value) + repr(livello)
    assert secret not in rendered
    assert secret not in repr(settings_for(sim, client_secret=secret))
    assert secret not in caplog.text


def test_missing_scope_raises_scope_error_with_the_scope(sim: SimulatorServer) -> None:
    with LivelloClient(
        settings_for(sim, client_id="lv_m2m_limited", client_secret="sk_live_limited")
    ) as livello:
        with pytest.raises(ScopeError) as caught:
            livello.get("/users")
        assert livello.stats.requests == 1  # a 403 is not retried
    assert caught.value.scope == "users:read"
    assert caught.value.status == 403
    assert "users:read" in str(caught.value)


# -- other errors --------------------------------------------------------------------------------------------
def test_unknown_kiosk_is_not_found(client: LivelloClient) -> None:
    with pytest.raises(NotFoundError):
        client.get("/kiosks/LIV-9999")
    assert client.stats.requests == 1


def test_bad_parameter_is_a_bad_request_with_the_problem_detail(client: LivelloClient) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.get("/transactions", {"startDate": "not-a-date"})
    assert caught.value.status == 400
    assert caught.value.problem.get("status") == 400 and caught.value.detail
    assert client.stats.requests == 1


def test_unreachable_api_gives_up_with_transient_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ClientSettings(
        base_url=f"http://127.0.0.1:{port}/api/v1",
        client_id=DEMO_ID,
        client_secret=DEMO_SECRET,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.02,
        max_attempts=3,
    )
    with LivelloClient(settings) as livello, pytest.raises(TransientError) as caught:
        livello.check_credentials()
    assert livello.stats.token_requests == 3
    assert "ConnectError" in str(caught.value) and "SOURCES__LIVELLO__BASE_URL" in str(caught.value)
    assert DEMO_SECRET not in str(caught.value)


def test_retry_after_longer_than_max_wait_raises_budget_exhausted(sim: SimulatorServer) -> None:
    sim.set_faults(burst_429_every=1, burst_429_length=5, burst_retry_after_seconds=30)
    try:
        with LivelloClient(settings_for(sim, max_wait_seconds=5)) as livello:
            livello.check_credentials()
            with pytest.raises(BudgetExhaustedError) as caught:
                for _ in range(2):  # the 2nd served request starts a burst of 429s with Retry-After 30
                    livello.get("/organizations")
    finally:
        sim.clear_faults()
    assert caught.value.wait_seconds == pytest.approx(30)
    assert "max_wait_seconds" in str(caught.value)


# -- responses -----------------------------------------------------------------------------------------------
def test_money_is_exact_decimal_and_times_are_utc(client: LivelloClient) -> None:
    page = client.get("/transactions", {"limit": 20, "sort": 1})
    purchases = [t for t in page["data"] if t["itemsPurchased"]]
    assert purchases
    assert all(isinstance(t["total"], Decimal | int) for t in purchases)
    assert any(isinstance(t["total"], Decimal) for t in purchases)
    assert all(t["created"].endswith(("Z", "+00:00")) for t in page["data"])  # x-timezone: UTC was sent


def test_per_call_headers_override_the_time_zone_of_that_call_only(client: LivelloClient) -> None:
    berlin = client.get("/transactions", {"limit": 5, "sort": 1}, headers={"x-timezone": "Europe/Berlin"})
    assert all(t["created"].endswith(("+01:00", "+02:00")) for t in berlin["data"])
    utc = client.get("/transactions", {"limit": 5, "sort": 1}, headers={"Authorization": "Bearer forged"})
    assert all(t["created"].endswith("Z") for t in utc["data"])  # back to UTC; the token was not replaced


# -- retries -------------------------------------------------------------------------------------------------
def test_paging_through_faults_returns_exactly_the_fault_free_rows(
    sim: SimulatorServer, client: LivelloClient
) -> None:
    expected = all_transactions(client)
    assert len(expected) > 300  # several pages
    sim.set_faults(seed=3, error_ratio=0.2, drop_ratio=0.1, truncate_ratio=0.1)
    with LivelloClient(settings_for(sim)) as flaky:
        rows = all_transactions(flaky)
        stats = flaky.stats
    assert rows == expected
    assert stats.http_5xx > 0 and stats.transport_errors > 0 and stats.invalid_bodies > 0
    assert stats.retries == stats.http_5xx + stats.transport_errors + stats.invalid_bodies


def test_429_bursts_are_retried_after_retry_after(sim: SimulatorServer, client: LivelloClient) -> None:
    params = {"orderBy": "startDate", "orderDirection": "ASC"}
    expected = [row for page in client.paginate("/alerts", "offset", params) for row in page]
    assert len(expected) > 100  # two pages
    sim.set_faults(burst_429_every=1, burst_429_length=2, burst_retry_after_seconds=1)
    with LivelloClient(settings_for(sim)) as bursty:
        rows = [row for page in bursty.paginate("/alerts", "offset", params) for row in page]
        stats = bursty.stats
    assert rows == expected
    assert stats.http_429 == 2  # the second page was answered twice with 429, then served
    assert stats.slept_seconds_rate_limited >= 2.0
    assert stats.requests == 4


# -- paging --------------------------------------------------------------------------------------------------
def _ids(pages: Iterator[list[dict]], key: str) -> list[object]:
    return [row[key] for page in pages for row in page]


@pytest.mark.parametrize(
    ("path", "style", "params", "key", "table"),
    [
        ("/transactions", "skip", {"sort": 1}, "id", "transactions"),
        ("/alerts", "offset", {"orderBy": "startDate", "orderDirection": "ASC"}, "id", "alerts"),
        ("/products", "page", {}, "id", "products WHERE NOT deleted"),
    ],
)
def test_oversized_page_size_still_yields_every_row_once(
    sim: SimulatorServer, client: LivelloClient, path: str, style: str, params: dict, key: str, table: str
) -> None:
    truth = sorted(row[0] for row in sim.store.query(f"SELECT id FROM {table}"))
    assert len(truth) > 100
    ids = _ids(client.paginate(path, style, params, page_size=500), key)  # type: ignore[arg-type]
    assert len(set(ids)) == len(ids)  # every row exactly once
    assert sorted(ids) == truth  # and every row of the simulator's store
    pages_needed = -(-len(truth) // 100)
    assert client.stats.requests == pages_needed  # the server clamped the oversized pages to 100
    assert ids == _ids(client.paginate(path, style, params, page_size=100), key)  # type: ignore[arg-type]


def test_pages_report_total_and_stop_at_it(client: LivelloClient) -> None:
    pages = list(client.pages("/transactions", "skip", {"sort": 1}, page_size=100))
    total = pages[0].total
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert sum(len(p.data) for p in pages) == total
    assert client.stats.requests == -(-total // 100)  # no extra request for an empty last page
