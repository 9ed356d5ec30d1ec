"""OAuth2 client credentials over HTTP: token cache, lifetime, revocation, forced expiry, scopes, scoping."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from simulator.app import TOP_LEVEL_CLIENT_ORGS_SQL
from simulator.auth import (
    ALL_SCOPES,
    LIMITED_CLIENT_ID,
    LIMITED_CLIENT_SECRET,
    organization_client_id,
    organization_client_secret,
)
from tests.simulator.helpers import DEMO_TOKEN_REQUEST


def _token(sim, client_id="lv_m2m_demo", secret="sk_live_demo", grant_type="client_credentials", **kw):
    return httpx.post(
        sim.token_url,
        timeout=10,
        json={"client_id": client_id, "client_secret": secret, "grant_type": grant_type},
        **kw,
    )


def _get(sim, path, token, **kwargs):
    return httpx.get(sim.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)


def test_token_is_a_jwt_with_the_contract_claims(simulator) -> None:
    response = _token(simulator)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert set(body["scope"].split()) == set(ALL_SCOPES)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "lv_m2m_demo"
    assert claims["scope"] == body["scope"]
    assert 86_400 <= claims["exp"] - claims["iat"] <= 86_401
    assert 86_390 <= body["expires_in"] <= 86_400


def test_same_credentials_get_the_same_token_with_remaining_lifetime(simulator_factory) -> None:
    sim = simulator_factory(token_lifetime_seconds=30)
    first = _token(sim).json()
    time.sleep(1.1)
    second = _token(sim).json()
    assert second["access_token"] == first["access_token"]
    assert second["expires_in"] < first["expires_in"]


def test_expired_token_gets_401_and_a_new_token_is_issued(simulator_factory) -> None:
    sim = simulator_factory(token_lifetime_seconds=2)
    first = _token(sim).json()
    assert _get(sim, "/kiosks", first["access_token"]).status_code == 200
    time.sleep(3.1)
    expired = _get(sim, "/kiosks", first["access_token"])
    assert expired.status_code == 401
    assert expired.headers["content-type"] == "application/problem+json"
    second = _token(sim).json()
    assert second["access_token"] != first["access_token"]
    assert _get(sim, "/kiosks", second["access_token"]).status_code == 200


@pytest.mark.parametrize("client_id,secret", [("lv_m2m_demo", "wrong"), ("lv_m2m_nobody", "sk_live_demo")])
def test_bad_credentials_get_401_invalid_client(simulator, client_id, secret) -> None:
    response = _token(simulator, client_id, secret)
    assert response.status_code == 401
    body = response.json()
    assert body["type"].endswith("/errors/invalid-client")
    assert secret not in response.text  # secrets never echo back


def test_other_grant_type_gets_400(simulator) -> None:
    response = _token(simulator, grant_type="password")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_malformed_token_requests_get_400(simulator) -> None:
    assert httpx.post(simulator.token_url, content=b"{not json", timeout=10).status_code == 400
    assert httpx.post(simulator.token_url, json={"client_id": "lv_m2m_demo"}, timeout=10).status_code == 400


def test_form_encoded_token_request_works(simulator) -> None:
    response = httpx.post(
        simulator.token_url,
        timeout=10,
        data=DEMO_TOKEN_REQUEST,
    )
    assert response.status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer not-a-jwt"])
def test_missing_or_malformed_bearer_gets_401(simulator, header) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(simulator.base_url + "/kiosks", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_forged_token_gets_401(simulator) -> None:
    forged = jwt.encode(
        {
            "sub": "lv_m2m_demo",
            "scope": " ".join(ALL_SCOPES),
            "iat": int(time.time()),
            "exp": int(time.time()) + 3600,
        },
        "a-guessed-signing-key-of-32-bytes!!",
        algorithm="HS256",
    )
    assert _get(simulator, "/kiosks", forged).status_code == 401


def test_missing_scope_gets_403_with_the_contract_detail(simulator) -> None:
    token = _token(simulator, LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET).json()
    assert "users:read" not in token["scope"].split()
    assert _get(simulator, "/kiosks", token["access_token"]).status_code == 200
    for path, scope in (("/users", "users:read"), ("/analytics/transactions/kpis", "reports:read")):
        response = _get(simulator, path, token["access_token"])
        assert response.status_code == 403
        body = response.json()
        assert body["detail"] == f"Insufficient scope. Required: {scope}"
        assert body["type"].endswith("/errors/forbidden")


def test_revoked_client_gets_401_on_calls_and_token_requests(simulator_factory) -> None:
    sim = simulator_factory()
    token = _token(sim).json()["access_token"]
    sim.revoke_client("lv_m2m_demo")
    assert _get(sim, "/kiosks", token).status_code == 401
    response = _token(sim)
    assert response.status_code == 401 and response.json()["type"].endswith("/errors/invalid-client")
    sim.revoke_client("lv_m2m_demo", revoked=False)
    assert _get(sim, "/kiosks", _token(sim).json()["access_token"]).status_code == 200


def test_revocation_through_the_control_route(simulator_factory) -> None:
    sim = simulator_factory()
    token = _token(sim).json()["access_token"]
    denied = httpx.post(sim.root_url + "/_sim/revoke", json={"client_id": "lv_m2m_demo"}, timeout=10)
    assert denied.status_code == 401  # no control key
    ok = httpx.post(
        sim.root_url + "/_sim/revoke",
        json={"client_id": "lv_m2m_demo"},
        timeout=10,
        headers={"X-Sim-Control-Key": sim.control_key},
    )
    assert ok.status_code == 200 and ok.json()["revoked"] == ["lv_m2m_demo"]
    assert _get(sim, "/kiosks", token).status_code == 401


def test_organization_client_sees_only_its_organization_tree(simulator) -> None:
    store = simulator.store
    tops = [r[0] for r in store.query(TOP_LEVEL_CLIENT_ORGS_SQL)]
    assert len(tops) >= 2, "the generated world needs two operator organizations"
    demo = _token(simulator).json()["access_token"]
    all_serials = {k["serialNumber"] for k in _get(simulator, "/kiosks", demo).json()["data"]}
    seen: dict[int, set[str]] = {}
    for org_id in tops:
        token = _token(simulator, organization_client_id(org_id), organization_client_secret(org_id))
        token = token.json()["access_token"]
        tree = set(store.descendant_org_ids(org_id))
        kiosks = _get(simulator, "/kiosks", token).json()["data"]
        assert all(int(k["orgId"]) in tree for k in kiosks)
        seen[org_id] = {k["serialNumber"] for k in kiosks}
        orgs = _get(simulator, "/organizations", token, params={"limit": 100}).json()
        assert {o["id"] for o in orgs["data"]} == tree
        txs = _get(simulator, "/transactions", token, params={"limit": 100}).json()
        assert {t["kiosk"]["serialNumber"] for t in txs["data"]} <= seen[org_id]
        expected = store.scalar(
            "SELECT count(*) FROM transactions WHERE organization_id IN (SELECT unnest(?))", [sorted(tree)]
        )
        assert txs["total"] == expected
        # Another organization's kiosk is invisible, not forbidden.
        foreign = sorted(all_serials - seen[org_id])
        if foreign:
            assert _get(simulator, f"/kiosks/{foreign[0]}", token).status_code == 404
    first, second = tops[:2]
    assert seen[first] and seen[second] and not seen[first] & seen[second]
