"""Redaction installed at start-up: secrets are masked in every record of every logger the project uses.

The record factory is process-wide, so these tests install it the way the CLI does and check records made
afterwards by dlt's own logger (which does not propagate to the root and gets its handler only when a
pipeline is created), by httpx on a real request, and by the project's loggers.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dlt
import pytest
from dlt.common import logger as dlt_logger

from simulator.server import SimulatorServer
from sources.livello.client import ClientSettings, LivelloClient
from sources.livello.redaction import install_redaction
from tests.conftest import fetch_token

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(simulator: SimulatorServer) -> Iterator[LivelloClient]:
    install_redaction()
    client_id, client_secret = simulator.demo_credentials
    settings = ClientSettings(base_url=simulator.base_url, client_id=client_id, client_secret=client_secret)
    with LivelloClient(settings) as livello:
        livello.check_credentials()  # registers the secret and the bearer token
        yield livello


def test_importing_the_client_installs_nothing() -> None:
    probe = (
        "import logging, sources.livello.client; print(logging.getLogRecordFactory() is logging.LogRecord)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "True", result.stderr


def test_dlt_logger_created_after_start_up_is_redacted(
    client: LivelloClient, simulator: SimulatorServer, tmp_path: Path
) -> None:
    secret = simulator.demo_credentials[1]
    dlt.pipeline("redaction_check", pipelines_dir=str(tmp_path), destination="duckdb")  # sets up dlt's logger
    dlt_log = logging.getLogger("dlt")
    # Records of dlt's own handler never pass the root's handlers (nor their filters).
    assert dlt_log.propagate is False and dlt_log.handlers
    handler = dlt_log.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    captured = io.StringIO()
    previous = handler.setStream(captured)
    try:
        dlt_logger.warning("dlt saw %s", secret)
        try:
            raise RuntimeError(f"request failed with {secret}")
        except RuntimeError:
            dlt_logger.exception("and raised")
    finally:
        handler.setStream(previous)
    assert "dlt saw ***" in captured.getvalue()
    assert "RuntimeError: request failed with ***" in captured.getvalue()
    assert secret not in captured.getvalue()


def test_httpx_request_lines_are_redacted(
    client: LivelloClient, simulator: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = simulator.demo_credentials[1]
    caplog.set_level(logging.DEBUG)
    client.get("/organizations", {"note": secret})  # httpx logs the URL, with the query, at INFO
    assert "HTTP Request: GET" in caplog.text and "note=***" in caplog.text
    assert secret not in caplog.text


def test_project_loggers_are_redacted_for_handlers_added_later(
    client: LivelloClient, simulator: SimulatorServer
) -> None:
    token = fetch_token(simulator)  # the server's cached token: the one the client holds
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    names = ("livello.sync", "livello_sync.client", "livello_sim")
    for name in names:
        logging.getLogger(name).addHandler(handler)
    try:
        for name in names:
            logging.getLogger(name).error("%s has %s", name, token)
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(handler)
    assert captured.getvalue().splitlines() == [f"{name} has ***" for name in names]
