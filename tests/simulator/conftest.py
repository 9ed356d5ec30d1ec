"""Fixtures of the simulator's tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.simulator.helpers import bearer_client


@pytest.fixture(scope="module")
def client(simulator) -> Iterator[httpx.Client]:
    """The demo client on the module's read-only `simulator`."""
    with bearer_client(simulator) as c:
        yield c
