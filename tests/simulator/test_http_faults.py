"""Rate limits and injected faults over real HTTP, with short windows so the tests stay fast."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from simulator.config import FaultConfig
from tests.conftest import fetch_token
from tests.simulator.helpers import bearer_client, status_with


def test_rate_limit_headers_on_success_and_error_responses(simulator) -> None:
    with bearer_client(simulator) as client:
        for path in ("/kiosks", "/kiosks/LIV-9999", "/transactions?limit=0", "/no-such-route"):
            response = client.get(path)
            assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(response.headers), (
                path
            )
            assert int(response.headers["ratelimit-limit"]) == 1000
            assert 0 <= int(response.headers["ratelimit-reset"]) <= 3600
    token = httpx.post(
        simulator.token_url,
        json={"client_id": "x", "client_secret": "y", "grant_type": "client_credentials"},
        timeout=10,
    )
    assert token.status_code == 401 and int(token.headers["ratelimit-limit"]) == 10


def test_remaining_counts_down_then_429_with_retry_after_then_window_resets(simulator_factory) -> None:
    sim = simulator_factory(rate_limit_per_hour=5, rate_limit_window_seconds=3)
    with bearer_client(sim) as client:
        remaining = [int(client.get("/kiosks").headers["ratelimit-remaining"]) for _ in range(5)]
        assert remaining == [4, 3, 2, 1, 0]
        limited = client.get("/kiosks")
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 3
        assert limited.headers["ratelimit-remaining"] == "0"
        time.sleep(retry_after + 0.05)
        assert client.get("/kiosks").status_code == 200


def test_limits_are_perbearer_client(simulator_factory) -> None:
    sim = simulator_factory(rate_limit_per_hour=2, rate_limit_window_seconds=60)
    demo = fetch_token(sim)
    limited = fetch_token(sim, "lv_m2m_limited", "sk_live_limited")
    for _ in range(2):
        status_with(sim, "/kiosks", demo)
    assert status_with(sim, "/kiosks", demo) == 429
    assert status_with(sim, "/kiosks", limited) == 200


def test_token_endpoint_has_its_own_limit(simulator_factory) -> None:
    sim = simulator_factory(token_rate_limit_per_minute=3)
    body = {"client_id": "lv_m2m_demo", "client_secret": "sk_live_demo", "grant_type": "client_credentials"}
    statuses = [httpx.post(sim.token_url, json=body, timeout=10).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # The API budget is separate.
    with bearer_client(simulator_factory(token_rate_limit_per_minute=3)) as client:
        assert client.get("/kiosks").status_code == 200


def test_rate_limit_zero_disables_limiting(simulator_factory) -> None:
    sim = simulator_factory(rate_limit_per_hour=0)
    with bearer_client(sim) as client:
        responses = [client.get("/alerts/types") for _ in range(30)]
    assert all(r.status_code == 200 for r in responses)
    assert int(responses[-1].headers["ratelimit-remaining"]) > 0


def test_error_ratio_is_deterministic_given_the_seed(simulator_factory) -> None:
    sim = simulator_factory(faults=FaultConfig(seed=3, error_ratio=0.3))
    with bearer_client(sim) as client:
        first = [client.get("/alerts/types").status_code for _ in range(40)]
        sim.set_faults(FaultConfig(seed=3, error_ratio=0.3))
        second = [client.get("/alerts/types").status_code for _ in range(40)]
    assert first == second
    assert set(first) <= {200, 500, 502, 503}
    assert 4 <= sum(s != 200 for s in first) <= 24
    assert len(set(first) - {200}) >= 2


def test_errors_are_problem_json_with_rate_limit_headers(simulator_factory) -> None:
    sim = simulator_factory(faults=FaultConfig(error_ratio=1.0, error_statuses=(503,)))
    with bearer_client(sim) as client:
        response = client.get("/kiosks")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert "ratelimit-remaining" in response.headers


def test_429_bursts_follow_the_configured_rhythm(simulator_factory) -> None:
    sim = simulator_factory()
    with bearer_client(sim) as client:
        sim.set_faults(burst_429_every=3, burst_429_length=2, burst_retry_after_seconds=1)
        statuses = [client.get("/alerts/types") for _ in range(10)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429, 200, 200, 200, 429, 429]
    assert statuses[3].headers["retry-after"] == "1"


def test_added_latency(simulator_factory) -> None:
    sim = simulator_factory()
    with bearer_client(sim) as client:
        sim.set_faults(latency_ms=300)
        started = time.monotonic()
        assert client.get("/alerts/types").status_code == 200
        assert time.monotonic() - started >= 0.3


def test_dropped_connections_close_without_response(simulator_factory) -> None:
    sim = simulator_factory()
    with bearer_client(sim) as client:
        sim.set_faults(drop_ratio=1.0)
        with pytest.raises(httpx.TransportError):
            client.get("/alerts/types")
        sim.clear_faults()
        assert client.get("/alerts/types").status_code == 200


def test_truncated_bodies_keep_status_and_content_length(simulator_factory) -> None:
    sim = simulator_factory()
    with bearer_client(sim) as client:
        sim.set_faults(truncate_ratio=1.0)
        response = client.get("/alerts/types")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_tokens_expire_mid_run(simulator_factory) -> None:
    sim = simulator_factory()
    sim.set_faults(expire_tokens_after=3)
    token = fetch_token(sim)
    statuses = [status_with(sim, "/alerts/types", token) for _ in range(4)]
    assert statuses == [200, 200, 200, 401]
    fresh = fetch_token(sim)
    assert fresh != token
    assert status_with(sim, "/alerts/types", fresh) == 200


def test_faults_through_the_control_route(simulator_factory) -> None:
    sim = simulator_factory()
    key = {"X-Sim-Control-Key": sim.control_key}
    assert httpx.get(sim.root_url + "/_sim/faults", timeout=10).status_code == 401
    response = httpx.post(
        sim.root_url + "/_sim/faults",
        json={"error_ratio": 1.0, "error_statuses": [502]},
        headers=key,
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["error_ratio"] == 1.0
    with bearer_client(sim) as client:
        assert client.get("/kiosks").status_code == 502
        # The control surface itself is never faulted.
        assert httpx.get(sim.root_url + "/_sim/state", headers=key, timeout=10).status_code == 200
        bad = httpx.post(sim.root_url + "/_sim/faults", json={"error_ratio": 7}, headers=key, timeout=10)
        assert bad.status_code == 400
        httpx.post(sim.root_url + "/_sim/faults", json={"reset": True}, headers=key, timeout=10)
        assert client.get("/kiosks").status_code == 200


def test_request_counts_per_path(simulator_factory) -> None:
    sim = simulator_factory()
    with bearer_client(sim) as client:
        for _ in range(3):
            client.get("/kiosks", params={"page": 1})
        client.get("/alerts/types")
    assert sim.request_count["/api/v1/kiosks"] == 3
    assert sim.requests_to("/alerts") == 1
    assert sim.request_count["/api/v1/auth/token"] == 1
