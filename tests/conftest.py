"""Shared fixtures: a fake clock and a fresh plugin manager per test; the state engine the
store-using tests run on (``--state-url``, ``tests/state_backend.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pluggy
import pytest

from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.state.target import StateTarget
from tests import state_backend

T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """A clock at 2026-11-26 02:40 UTC that moves only when told."""
    return FakeClock(T0)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh plugin manager with every installed plugin."""
    return build_plugin_manager()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--state-url",
        default=None,
        help="run the store-using tests on this PostgreSQL database (default: $ITSM_TEST_STATE_URL, else SQLite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption("--state-url", default=None)
    if url:
        state_backend.state_url = url


def pytest_report_header(config: pytest.Config) -> str:
    url = state_backend.state_url
    return f"state store: {StateTarget.parse(url).display if url else 'SQLite files'}"


@pytest.fixture(autouse=True)
def _state_schemas() -> Iterator[None]:
    """Each test's PostgreSQL schemas (``tests/state_backend.py``) are dropped after it."""
    yield
    state_backend.drop_test_schemas()
