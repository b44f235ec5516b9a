"""Shared fixtures: a fake clock and a fresh plugin manager per test."""

from __future__ import annotations

from datetime import UTC, datetime

import pluggy
import pytest

from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock

T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """A clock at 2026-11-26 02:40 UTC that moves only when told."""
    return FakeClock(T0)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh plugin manager with every installed plugin."""
    return build_plugin_manager()
