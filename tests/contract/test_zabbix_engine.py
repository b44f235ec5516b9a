"""Zabbix → engine → local backend with a fake Zabbix API: malformed problems (no host, bad
clock) are dead-lettered with their reason; the problems after them still become tickets, the
cursor moves past them, and a second poll changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy

from connector.domain.clock import FakeClock
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from tests.contract.test_zabbix_contract import NOW, FakeZabbix, api, fake, make_source
from tests.state_backend import make_store

__all__ = ["api", "fake"]  # fixtures re-used from the source's contract tests


def test_malformed_problems_are_dead_lettered_and_the_next_flow(
    fake: FakeZabbix, api: Any, tmp_path: Path, pm: pluggy.PluginManager
) -> None:
    fake.add_problem(1, name="Disk full on db01")
    fake.add_problem(2, hostid=None)
    fake.add_problem(3, clock=-5)
    fake.add_problem(4, name="Replication lag on db01")
    clock = FakeClock(NOW)
    backend = LocalBackend(tmp_path / "tickets.db", clock)
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={"zbx": make_source()},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )

    engine.store.set_cursor("zbx", "0", clock.now())  # read by event id (the lookback would skip clock -5)
    assert engine.poll("zbx") == 2
    engine.process_pending()
    engine.drain_outbox()

    assert [t["title"] for t in backend.tickets()] == ["Disk full on db01", "Replication lag on db01"]
    assert {(d["ref"], d["reason"]) for d in engine.store.dead_letters()} == {
        ("2", "event 2 has no host"),
        ("3", "event 3 has a bad clock: '-5'"),
    }
    assert engine.store.get_cursor("zbx") == "4"
    assert [m for m in fake.methods() if m == "event.acknowledge"] == ["event.acknowledge"] * 2

    assert engine.poll("zbx") == 0
    engine.process_pending()
    engine.drain_outbox()
    assert len(backend.tickets()) == 2
    assert len(engine.store.dead_letters()) == 2
