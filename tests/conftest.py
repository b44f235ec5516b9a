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
    parser.addoption(
        "--state-all",
        action="store_true",
        help="with a state url: run every test, not only the modules whose stores follow it",
    )


def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption("--state-url", default=None)
    if url:
        state_backend.state_url = url


#: what a test module uses when its stores follow the session's engine (tests/state_backend.py)
_STORE_HELPERS = ("make_store", "state_target", "make_engine", "drive_engine_once", "state_backend")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, only the modules whose stores follow the engine run: the others would only
    repeat the SQLite run. The conformance suite runs there on its local and GLPI backends: its
    Redmine runs (two thirds of its time, waiting on the real server) drive the very same store
    calls. ``--state-all`` runs everything anyway."""
    if state_backend.state_url is None or config.getoption("--state-all", default=False):
        return
    keep, skip = [], []
    for item in items:
        module = getattr(item, "module", None)
        follows = module is not None and any(hasattr(module, name) for name in _STORE_HELPERS)
        if "[redmine" in item.nodeid and "tests/conformance/" in item.nodeid:
            follows = False
        (keep if follows else skip).append(item)
    if skip:
        config.hook.pytest_deselected(items=skip)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str:
    url = state_backend.state_url
    return f"state store: {StateTarget.parse(url).display if url else 'SQLite files'}"


@pytest.fixture(autouse=True)
def _state_schemas() -> Iterator[None]:
    """Each test's PostgreSQL schemas (``tests/state_backend.py``) are dropped after it."""
    yield
    state_backend.drop_test_schemas()
