"""The token as an httpx.Auth and the one retry loop shared by API and token calls, against the simulator.

test_client.py covers reuse, proactive renewal and bad credentials; these follow single requests through the
authentication flow (a 401 answered by one new token and one re-send) and the token request through the retry
loop (5xx, 429, giving up), next to a POST that the same loop must not repeat.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulator.server import SimulatorServer
from sources.livello.client import ClientSettings, LivelloClient
from sources.livello.errors import AuthenticationError, TransientError
from tests.conftest import small_config
from tests.sync.clients import client_settings

UNLIMITED = {"rate_limit_per_hour": 0, "token_rate_limit_per_minute": 0}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(small_config(**UNLIMITED)) as server:
        yield server


@pytest.fixture(autouse=True)
def no_faults(sim: SimulatorServer) -> Iterator[None]:
    sim.clear_faults()
    yield
    sim.clear_faults()


def settings_for(sim: SimulatorServer, **overrides: object) -> ClientSettings:
    return client_settings(sim, **{"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, **overrides})


def record_answers(livello: LivelloClient) -> list[tuple[str, int]]:
    """(path, status) of every response on the wire, in order (an httpx event hook: observation only)."""
    answers: list[tuple[str, int]] = []
    livello._http.event_hooks["response"].append(
        lambda response: answers.append((response.request.url.path, response.status_code))
    )
    return answers


def test_a_401_mid_run_gets_one_new_token_and_one_resend(sim: SimulatorServer) -> None:
    with LivelloClient(settings_for(sim)) as livello:
        answers = record_answers(livello)
        livello.get("/organizations")
        sim.expire_tokens()  # the server forgets the token the client holds
        assert livello.get("/organizations")["total"] > 0
        stats = livello.stats
    assert answers == [
        ("/api/v1/auth/token", 200),
        ("/api/v1/organizations", 200),
        ("/api/v1/organizations", 401),
        ("/api/v1/auth/token", 200),
        ("/api/v1/organizations", 200),
    ]
    assert stats.token_refreshes == 1
    assert stats.requests == 3 and stats.token_requests == 2  # the re-send is paced and counted like any call
    assert stats.retries == 0  # re-sent by the authentication flow, not by the retry loop


def test_a_fresh_token_rejected_again_is_an_authentication_error(sim: SimulatorServer) -> None:
    # Tokens from another simulator's token endpoint: the API rejects every one of them, the new one too.
    with (
        SimulatorServer(small_config(**UNLIMITED)) as issuer,
        LivelloClient(settings_for(sim, token_url=issuer.token_url)) as livello,
    ):
        answers = record_answers(livello)
        with pytest.raises(AuthenticationError) as caught:
            livello.get("/organizations")
    assert "freshly issued token" in str(caught.value) and caught.value.status == 401
    assert [status for path, status in answers if path == "/api/v1/organizations"] == [401, 401]
    assert livello.stats.token_refreshes == 1 and livello.stats.token_requests == 2


def test_a_5xx_of_the_token_endpoint_is_retried_like_an_api_call(sim: SimulatorServer) -> None:
    # Seed 4: the first request of the fault sequence gets a 5xx, the second does not.
    sim.set_faults(seed=4, error_ratio=0.5, include_token_endpoint=True)
    with LivelloClient(settings_for(sim)) as livello:
        livello.check_credentials()
        stats = livello.stats
    assert livello.scopes
    assert stats.token_requests == 2 and stats.http_5xx == 1 and stats.retries == 1
    assert stats.requests == 0


def test_a_token_endpoint_that_keeps_failing_gives_up_after_max_attempts(sim: SimulatorServer) -> None:
    sim.set_faults(error_ratio=1.0, error_statuses=[503], include_token_endpoint=True)
    with LivelloClient(settings_for(sim, max_attempts=3)) as livello, pytest.raises(TransientError) as caught:
        livello.check_credentials()
    assert "POST /auth/token failed 3 times" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert livello.stats.token_requests == 3 and livello.stats.retries == 2


def test_a_429_of_the_token_endpoint_waits_retry_after(sim: SimulatorServer) -> None:
    sim.set_faults(
        burst_429_every=1, burst_429_length=1, burst_retry_after_seconds=1, include_token_endpoint=True
    )
    httpx.get(f"{sim.base_url}/alerts/types")  # served first in the cycle: the token request comes second
    with LivelloClient(settings_for(sim)) as livello:
        livello.check_credentials()
        stats = livello.stats
    assert stats.http_429 == 1 and stats.token_requests == 2 and stats.retries == 1
    assert stats.slept_seconds_rate_limited == pytest.approx(1.0)


def test_a_post_that_may_have_taken_effect_is_not_retried(sim: SimulatorServer) -> None:
    with LivelloClient(settings_for(sim)) as livello:
        livello.check_credentials()
        sim.set_faults(error_ratio=1.0, error_statuses=[503])  # answered before the write is applied
        with pytest.raises(TransientError) as caught:
            livello.request("POST", "/promocodes/eligibility", json={"organizationId": 1, "enabled": True})
        stats = livello.stats
    assert "is not retried" in str(caught.value)
    assert stats.requests == 1 and stats.retries == 0
