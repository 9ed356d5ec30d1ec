"""Every GET operation of the contract, over real HTTP, answers with a body valid against the contract's
schema
(JSON Schema 2020-12, components resolved, date/date-time formats checked) and carries the RateLimit
headers."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:livello-openapi"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@pytest.fixture(scope="module")
def validate(openapi_spec: dict[str, Any]):
    registry = Registry().with_resource(SPEC_URI, Resource(openapi_spec, specification=DRAFT202012))

    def check(path_template: str, status: int, body: Any, method: str = "get") -> None:
        operation = openapi_spec["paths"][path_template][method]
        response = operation["responses"][str(status)]
        if "$ref" in response:
            pointer = response["$ref"] + "/content/application~1problem+json/schema"
        else:
            media = (
                "application/json"
                if "application/json" in response["content"]
                else "application/problem+json"
            )
            pointer = _pointer(
                "paths", path_template, method, "responses", str(status), "content", media, "schema"
            )
        validator = Draft202012Validator(
            {"$ref": SPEC_URI + pointer}, registry=registry, format_checker=FORMATS
        )
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{path_template} {status}: " + "; ".join(
            f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]
        )

    return check


@pytest.fixture(scope="module")
def ids(simulator) -> dict[str, Any]:
    store = simulator.store
    return {
        "serial": store.scalar("SELECT serial_number FROM kiosks ORDER BY id LIMIT 1"),
        "product": store.scalar("SELECT id FROM products WHERE NOT deleted ORDER BY id LIMIT 1"),
        "transaction": store.scalar("SELECT max(id) FROM transactions"),
        "refill": store.scalar("SELECT max(id) FROM refills"),
        "organization": store.scalar(
            "SELECT id FROM organizations WHERE parent_id IS NULL ORDER BY id LIMIT 1"
        ),
        "user": store.scalar("SELECT min(id) FROM users"),
        "promocode": store.scalar("SELECT code FROM promocodes ORDER BY id LIMIT 1"),
    }


def _requests(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(contract path, concrete path, query) for every GET operation, several variants where it matters."""
    s = ids["serial"]
    window = {"startDate": "2026-02-26", "endDate": "2026-03-02"}
    return [
        ("/kiosks", "/kiosks", {}),
        ("/kiosks", "/kiosks", {"sortColumn": "todaySalesTotal", "sort": "-1", "limit": "2", "page": "2"}),
        ("/kiosks/{serialNumber}", f"/kiosks/{s}", {}),
        ("/kiosks/{serialNumber}/inventory", f"/kiosks/{s}/inventory", {}),
        ("/kiosks/{serialNumber}/session", f"/kiosks/{s}/session", {"maxAgeMinutes": "100000"}),
        ("/products", "/products", {"limit": "100"}),
        ("/products/{id}", f"/products/{ids['product']}", {}),
        ("/transactions", "/transactions", {"limit": "100"}),
        (
            "/transactions",
            "/transactions",
            {**window, "kioskSerialNumbers": s, "sortBy": "total", "sort": "1"},
        ),
        ("/transactions/{id}", f"/transactions/{ids['transaction']}", {}),
        ("/refills", "/refills", {"limit": "100"}),
        ("/refills/{id}", f"/refills/{ids['refill']}", {}),
        ("/organizations", "/organizations", {"limit": "100"}),
        ("/organizations/{id}", f"/organizations/{ids['organization']}", {}),
        ("/organizations/{id}/vat", f"/organizations/{ids['organization']}/vat", {}),
        ("/organizations/{id}/product-lines", f"/organizations/{ids['organization']}/product-lines", {}),
        ("/users", "/users", {"limit": "100"}),
        ("/users/{id}", f"/users/{ids['user']}", {}),
        ("/alerts", "/alerts", {"limit": "100"}),
        ("/alerts/types", "/alerts/types", {}),
        ("/promocodes/{code}", f"/promocodes/{ids['promocode']}", {}),
        ("/analytics/sales", "/analytics/sales", {"granularity": "daily", **window}),
        (
            "/analytics/sales",
            "/analytics/sales",
            {"granularity": "hourly", "aggregateBy": "product", **window},
        ),
        ("/analytics/sales", "/analytics/sales", {"granularity": "weekly", "aggregateBy": "kiosk"}),
        ("/analytics/sales/top-kiosks", "/analytics/sales/top-kiosks", window),
        ("/analytics/sales/top-products", "/analytics/sales/top-products", window),
        ("/analytics/transactions/kpis", "/analytics/transactions/kpis", window),
        ("/analytics/transactions/peak-hour", "/analytics/transactions/peak-hour", window),
        ("/analytics/transactions/daily-profit", "/analytics/transactions/daily-profit", window),
        ("/analytics/transactions/payment-types", "/analytics/transactions/payment-types", window),
        ("/analytics/transactions/product-lifecycle", "/analytics/transactions/product-lifecycle", window),
        (
            "/analytics/transactions/product-lifecycle",
            "/analytics/transactions/product-lifecycle",
            {"startDate": "2020-01-01", "endDate": "2020-01-02"},
        ),
        ("/analytics/refills/stats", "/analytics/refills/stats", window),
        ("/analytics/inventory/low-stock", "/analytics/inventory/low-stock", {"threshold": "5"}),
        (
            "/analytics/inventory/product-stats",
            "/analytics/inventory/product-stats",
            {**window, "includeZeroActivity": "true", "sortColumn": "sold", "sortDirection": "DESC"},
        ),
        ("/analytics/temperature/{granularity}", "/analytics/temperature/minutely", {"kioskSerialNumber": s}),
        (
            "/analytics/temperature/{granularity}",
            "/analytics/temperature/hourly",
            {"kioskSerialNumber": s, "startDate": "2026-02-27", "endDate": "2026-03-01"},
        ),
        (
            "/analytics/temperature/{granularity}",
            "/analytics/temperature/daily",
            {"kioskSerialNumber": s, "startDate": "2026-02-26"},
        ),
    ]


def test_every_get_operation_is_exercised(openapi_spec, ids) -> None:
    covered = {template for template, _, _ in _requests(ids)}
    declared = {p for p, item in openapi_spec["paths"].items() if "get" in item}
    assert declared == covered


@pytest.mark.parametrize("timezone", ["Europe/Berlin", "UTC"])
def test_get_responses_match_the_contract(client, ids, validate, timezone) -> None:
    for template, path, query in _requests(ids):
        response = client.get(path, params=query, headers={"x-timezone": timezone})
        assert response.status_code == 200, f"{path} {query}: {response.status_code} {response.text[:300]}"
        assert response.headers["content-type"].startswith("application/json")
        for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
            assert int(response.headers[header]) >= 0
        validate(template, 200, response.json())


def test_list_envelopes_are_not_empty(client) -> None:
    # A schema passes on empty lists; make sure the conformance run above saw real rows.
    for path in ("/kiosks", "/products", "/transactions", "/refills", "/organizations", "/users", "/alerts"):
        body = client.get(path).json()
        assert body["total"] > 0 and body["data"], path


def test_error_responses_are_problem_json(client, simulator, validate) -> None:
    cases = [
        ("/kiosks/{serialNumber}", "/kiosks/LIV-9999", 404, {}),
        ("/transactions/{id}", "/transactions/999999999", 404, {}),
        ("/transactions", "/transactions", 400, {"limit": "0"}),
        ("/transactions", "/transactions", 400, {"startDate": "yesterday"}),
        ("/promocodes/{code}", "/promocodes/abc", 400, {}),
    ]
    for template, path, status, query in cases:
        response = client.get(path, params=query)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        validate(template, status, body)
        assert body["instance"] == "/api/v1" + path
    anonymous = httpx.get(simulator.base_url + "/kiosks", timeout=10)
    assert anonymous.status_code == 401
    validate("/kiosks", 401, anonymous.json())


def test_every_operation_of_the_contract_is_routed(openapi_spec) -> None:
    from simulator.routes import API_PREFIX, ROUTES, load_all

    load_all()
    routed = {(r.method, r.template.removeprefix(API_PREFIX)) for r in ROUTES.routes}
    declared = {
        (method.upper(), path)
        for path, item in openapi_spec["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    }
    assert declared == routed


def test_the_repository_copy_of_the_contract_is_current() -> None:
    """tests/contract/openapi.yaml stands in for ../shared on a clone without it; it must never drift."""
    from tests.conftest import SHARED_CONTRACT, VENDORED_CONTRACT

    if not SHARED_CONTRACT.exists():
        pytest.skip("no ../shared/livello-api beside this clone: the repository copy is the contract here")
    assert VENDORED_CONTRACT.read_bytes() == SHARED_CONTRACT.read_bytes(), (
        f"copy {SHARED_CONTRACT} to {VENDORED_CONTRACT}"
    )
