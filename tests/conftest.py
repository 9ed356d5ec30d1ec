"""Fixtures shared by every test package.

- `openapi_spec`: the contract (env LIVELLO_OPENAPI, else ../shared/livello-api/openapi.yaml beside the
  repository, else the copy in tests/contract/ so that a clone anywhere runs the suite; a test keeps that copy
  identical to ../shared while both exist).
- `simulator`: one small simulator (3 kiosks x 5 days, fixed seed, fixed `now` in the past) per test module,
  served over real HTTP on 127.0.0.1. Read-only use: tests that move the clock, write or inject faults use
  `simulator_factory` to get their own.
- `simulator_factory(**SimConfig overrides)`: a started `SimulatorServer` stopped after the test.
- `postgres_dsn`: a fresh database on 127.0.0.1:5432 (user postgres) per test module, dropped afterwards. When
  PostgreSQL is unreachable the test skips, unless LIVELLO_REQUIRE_POSTGRES=1 (CI), where it fails; a
  test marked `postgres` that skips for any reason under LIVELLO_REQUIRE_POSTGRES=1 is reported as failed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.config import SimConfig
from simulator.server import SimulatorServer

REPO_ROOT = Path(__file__).resolve().parent.parent


def without_configuration(monkeypatch: pytest.MonkeyPatch, workdir: Path, *also: str) -> None:
    """`workdir` as the working directory (no .dlt/ of the repository) and no SOURCES__/DESTINATION__
    variable (nor the variables named in `also`) of the environment the suite was started in: what a test
    sets is then the whole configuration."""
    monkeypatch.chdir(workdir)
    for key in list(os.environ):
        if key.startswith(("SOURCES__", "DESTINATION__")) or key in also:
            monkeypatch.delenv(key)


POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_USER = "postgres"

# The small default world of the tests: fast to generate, deterministic, and in the past so that nothing
# depends on today.
SMALL_SIMULATOR: dict[str, Any] = {
    "seed": 7,
    "kiosks": 3,
    "days": 5,
    "now": datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
}


def _require_postgres() -> bool:
    return os.environ.get("LIVELLO_REQUIRE_POSTGRES") == "1"


SHARED_CONTRACT = REPO_ROOT.parent / "shared" / "livello-api" / "openapi.yaml"
# A copy of the contract in the repository: CI runs on a fresh clone that may have no ../shared beside it.
VENDORED_CONTRACT = REPO_ROOT / "tests" / "contract" / "openapi.yaml"


def openapi_path() -> Path:
    env = os.environ.get("LIVELLO_OPENAPI")
    if env:
        return Path(env)
    return SHARED_CONTRACT if SHARED_CONTRACT.exists() else VENDORED_CONTRACT


@pytest.fixture(scope="session")
def openapi_spec() -> dict[str, Any]:
    path = openapi_path()
    if not path.exists():
        pytest.fail(f"contract not found at {path}; set LIVELLO_OPENAPI")
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def small_config(**overrides: Any) -> SimConfig:
    return SimConfig(**{**SMALL_SIMULATOR, **overrides})


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(small_config()) as sim:
        yield sim


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., SimulatorServer]]:
    started: list[SimulatorServer] = []

    def factory(**overrides: Any) -> SimulatorServer:
        sim = SimulatorServer(small_config(**overrides)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


# -- PostgreSQL ----------------------------------------------------------------------------------------------
def _admin_connection() -> Any:
    import psycopg2

    conn = psycopg2.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname="postgres", connect_timeout=3
    )
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def postgres_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    import psycopg2

    try:
        admin = _admin_connection()
    except psycopg2.OperationalError as error:
        message = f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT} unreachable: {error}".strip()
        if _require_postgres():
            pytest.fail(message + " (LIVELLO_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(message)
    module = request.module.__name__.rsplit(".", 1)[-1].lower()
    name = f"livello_test_{module[:30]}_{secrets.token_hex(4)}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test that needs the PostgreSQL fixture is a postgres test, marked or not.
    for item in items:
        if (
            "postgres_dsn" in getattr(item, "fixturenames", ())
            and item.get_closest_marker("postgres") is None
        ):
            item.add_marker(pytest.mark.postgres)


_SKIPPED_POSTGRES: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _require_postgres() and item.get_closest_marker("postgres") is not None:
        _SKIPPED_POSTGRES.append(item.nodeid)
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid}: PostgreSQL test skipped while LIVELLO_REQUIRE_POSTGRES=1 "
            f"(skip reason: {report.longrepr})"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED_POSTGRES and _require_postgres():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SKIPPED_POSTGRES and _require_postgres():
        terminalreporter.write_line(
            f"LIVELLO_REQUIRE_POSTGRES=1 but {len(_SKIPPED_POSTGRES)} postgres test(s) skipped: "
            + ", ".join(_SKIPPED_POSTGRES[:10]),
            red=True,
        )


# -- HTTP helpers --------------------------------------------------------------------------------
def fetch_token(sim: SimulatorServer, client_id: str | None = None, client_secret: str | None = None) -> str:
    """A bearer token from the simulator's token endpoint (demo client unless told otherwise)."""
    import httpx

    demo_id, demo_secret = sim.demo_credentials
    response = httpx.post(
        sim.token_url,
        timeout=10,
        json={
            "client_id": client_id or demo_id,
            "client_secret": client_secret or demo_secret,
            "grant_type": "client_credentials",
        },
    )
    response.raise_for_status()
    return response.json()["access_token"]


@pytest.fixture
def api_client_factory() -> Iterator[Callable[..., Any]]:
    """`factory(sim, client_id=None, client_secret=None)`: an httpx.Client on base_url with a token."""
    import httpx

    clients: list[httpx.Client] = []

    def factory(
        sim: SimulatorServer, client_id: str | None = None, client_secret: str | None = None, **kwargs: Any
    ) -> httpx.Client:
        token = fetch_token(sim, client_id, client_secret)
        client = httpx.Client(
            base_url=sim.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=kwargs.pop("timeout", 10),
            **kwargs,
        )
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()
