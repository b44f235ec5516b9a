"""What ``/readyz`` checks (``connector.runtime.health``), on a FakeClock: nothing is ready
before the first cycle; a backend is ready while one of its last N attempts reached it; the
sweep is late past its schedule plus ``sweep_late_seconds``; a state file that takes no write."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from connector.domain.clock import FakeClock
from connector.runtime.health import Health, probe_writable


def _failing(health: Health, state: str | None = None) -> dict[str, str]:
    return {c.name: c.detail for c in health.checks(state) if not c.ok}


def test_startup_then_the_last_n_attempts_decide() -> None:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    health = Health(clock, attempts=3, sweep_seconds=60, sweep_late_seconds=300)
    assert set(_failing(health)) == {"startup"}
    health.mark_started()
    assert _failing(health) == {}
    health.record("backend:redmine", True)
    health.record("backend:redmine", False, "refused")
    health.record("backend:redmine", False, "refused")
    assert _failing(health) == {}  # one of the last three reached it
    health.record("backend:redmine", False, "cannot connect")
    assert _failing(health) == {"backend:redmine": "not reached in its last 3 attempt(s): cannot connect"}
    health.record("backend:redmine", True)
    assert _failing(health) == {}


def test_the_sweep_is_late_past_its_schedule_and_the_margin() -> None:
    clock = FakeClock(datetime(2026, 12, 1, tzinfo=UTC))
    health = Health(clock, sweep_seconds=60, sweep_late_seconds=300)
    health.mark_started()
    health.sweep_done()
    clock.advance(seconds=360)
    assert health.sweep_lag() == 300 and _failing(health) == {}
    clock.advance(seconds=1)
    assert _failing(health) == {"sweep": "the sweep is 301s behind its schedule"}
    health.sweep_done()
    assert health.sweep_lag() == 0 and _failing(health) == {}


def test_a_state_file_that_takes_no_write(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        assert probe_writable(str(path)) is None
        holder.execute("BEGIN IMMEDIATE")  # another writer holds it (a stuck transaction)
        assert "takes no write: database is locked" in (probe_writable(str(path), timeout=0.05) or "")
    finally:
        holder.close()
    assert "does not exist" in (probe_writable(str(tmp_path / "nope.db")) or "")
