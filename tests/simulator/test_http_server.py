"""`livello-sim serve` as a process: prints credentials, then READY, then answers; gone after SIGKILL."""

from __future__ import annotations

import httpx
import pytest

from simulator.server import SimulatorProcess
from tests.simulator.helpers import DEMO_TOKEN_REQUEST


def test_serve_prints_credentials_then_ready_and_answers() -> None:
    with SimulatorProcess(
        [
            "--seed",
            "3",
            "--kiosks",
            "2",
            "--days",
            "2",
            "--now",
            "2026-03-02T12:00:00Z",
            "--control-key",
            "test-key",
            "--client-id",
            "my_client",
            "--client-secret",
            "my_secret",
        ]
    ) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/api/v1")
        assert (sim.client_id, sim.client_secret, sim.control_key) == ("my_client", "my_secret", "test-key")
        token = httpx.post(
            sim.base_url + "/auth/token",
            timeout=10,
            json={"client_id": "my_client", "client_secret": "my_secret", "grant_type": "client_credentials"},
        )
        assert token.status_code == 200
        kiosks = httpx.get(
            sim.base_url + "/kiosks",
            timeout=10,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert kiosks.status_code == 200 and kiosks.json()["total"] == 2
        # The replaced demo credentials no longer work.
        old = httpx.post(
            sim.base_url + "/auth/token",
            timeout=10,
            json=DEMO_TOKEN_REQUEST,
        )
        assert old.status_code == 401
        state = httpx.get(
            sim.base_url.removesuffix("/api/v1") + "/_sim/state",
            timeout=10,
            headers={"X-Sim-Control-Key": "test-key"},
        )
        assert state.status_code == 200 and state.json()["kiosks"] == 2
        sim.kill()
        with pytest.raises(httpx.TransportError):
            httpx.get(sim.base_url + "/kiosks", timeout=5)


def test_invalid_options_fail_fast() -> None:
    with pytest.raises(RuntimeError):
        SimulatorProcess(["--fault-5xx-ratio", "2"], startup_timeout=30).start()
