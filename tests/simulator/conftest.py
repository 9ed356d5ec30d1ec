"""Fixtures of the simulator's tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulator.server import SimulatorServer
from tests.conftest import small_config
from tests.simulator.helpers import bearer_client


@pytest.fixture(scope="module")
def client(simulator) -> Iterator[httpx.Client]:
    """The demo client on the module's read-only `simulator`."""
    with bearer_client(simulator) as c:
        yield c


@pytest.fixture(scope="module")
def own_simulator() -> Iterator[SimulatorServer]:
    """A simulator of the module's own (the small default world), which its tests may change: clock, writes,
    faults. Cheaper than one per test when the tests do not disturb each other."""
    with SimulatorServer(small_config()) as sim:
        yield sim
