"""Flapping (issue 18, item 3; ``flapping.yaml``): a trigger that changes state more than N
times in M minutes keeps one ticket, marked flapping with one counted note, instead of
resolve/re-open churn or recurrence tickets; when it settles, normal rules resume."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.domain.clock import FakeClock
from connector.domain.decision import Action
from connector.domain.errors import ConfigError
from connector.domain.ledger import MemoryLedger, apply_decision
from connector.domain.models import Alert, TicketStatus
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook, load_rulebook, shipped_rules_dir
from connector.runtime.engine import Engine
from connector.runtime.simulate import simulate
from tests.state_backend import make_store


def problem(clock: FakeClock, n: int, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "source": "zabbix",
        "external_id": str(n),
        "title": "Interface Gi0/1 down",
        "symptom": "trigger:4711",
        "ci": "core-sw01",
        "severity": 4,
        "occurred_at": clock.now(),
    }
    values.update(fields)
    return Alert.model_validate(values)


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )


def feed(engine: Engine, clock: FakeClock, alert: Alert) -> list[Action]:
    clock.set(alert.recovered_at or alert.occurred_at)
    engine.ingest(alert.source, [alert])
    actions = [d.action for d in engine.process_pending()]
    engine.drain_outbox()
    return actions


def flaps(engine: Engine, clock: FakeClock, times: int, every: timedelta) -> list[Action]:
    """``times`` problems of one trigger, each recovering half-way to the next."""
    actions: list[Action] = []
    for n in range(1, times + 1):
        alert = problem(clock, n)
        actions += feed(engine, clock, alert)
        clock.advance(every / 2)
        actions += feed(engine, clock, alert.model_copy(update={"recovered_at": clock.now()}))
        clock.advance(every / 2)
    return actions


def test_ten_flaps_in_twenty_minutes_are_one_ticket_with_one_counted_note(engine: Engine, clock: FakeClock) -> None:
    actions = flaps(engine, clock, 10, timedelta(minutes=2))
    assert actions[:3] == [Action.CREATE, Action.RESOLVE, Action.FLAPPING]
    assert Action.RECURRENCE not in actions and actions.count(Action.CREATE) == 1
    tickets = engine.backend.tickets()  # type: ignore[attr-defined]
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket["status"] == TicketStatus.IN_PROGRESS.value  # recoveries no longer resolve it
    flapping_notes = [n for n in ticket["notes"] if n.startswith("抖动 flapping")]
    assert len(flapping_notes) == 1
    assert "changed state 3 times within 20 min" in flapping_notes[0]
    # quiet for less than quiet_minutes: still flapping
    clock.advance(minutes=10)
    engine.sweep()
    assert engine.store.get("zabbix:1").status is TicketStatus.IN_PROGRESS  # type: ignore[union-attr]
    # quiet long enough: it settled, resolved once with the total count
    clock.advance(minutes=15)
    engine.sweep()
    engine.drain_outbox()
    state = engine.store.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.RESOLVED and state.flapping_since is None
    ticket = engine.backend.tickets()[0]  # type: ignore[attr-defined]
    assert ticket["status"] == TicketStatus.RESOLVED.value
    assert any(n.startswith("抖动结束 flapping settled: 20 state changes") for n in ticket["notes"])
    # the normal rules resume: a problem after the quiet time is a new ticket (the flapping one is
    # resolved, not closed: a recurrence is of a closed incident, PROCESS §10)
    clock.advance(hours=2)
    assert feed(engine, clock, problem(clock, 99)) == [Action.CREATE]


def test_a_flapping_ticket_is_not_settled_while_its_problem_is_active(engine: Engine, clock: FakeClock) -> None:
    flaps(engine, clock, 3, timedelta(minutes=2))
    feed(engine, clock, problem(clock, 50))  # it stops flapping in the problem state
    clock.advance(hours=3)
    engine.sweep()
    state = engine.store.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.IN_PROGRESS
    assert [t.key for t in engine.store.flapping_tickets()] == ["zabbix:1"]


def test_the_clock_asks_only_for_flapping_tickets_that_may_have_settled(engine: Engine, clock: FakeClock) -> None:
    """The decide job settles flaps before every entry: it reads the flapping tickets whose
    problem recovered and whose trigger has been quiet since the cutoff, not all of them."""
    flaps(engine, clock, 4, timedelta(minutes=2))
    last = clock.now() - timedelta(minutes=1)  # the last recovery: half a period ago
    store = engine.store
    assert [t.key for t in store.flapping_tickets()] == ["zabbix:1"]
    assert store.flapping_quiet_since(last - timedelta(minutes=5)) == []  # changed after the cutoff
    assert [t.key for t in store.flapping_quiet_since(last)] == ["zabbix:1"]
    assert [t.key for t in store.flapping_quiet_since(last + timedelta(hours=1))] == ["zabbix:1"]
    feed(engine, clock, problem(clock, 50))  # active again: not a candidate at any cutoff
    assert store.flapping_quiet_since(clock.now() + timedelta(days=1)) == []
    assert [t.key for t in store.flapping_tickets()] == ["zabbix:1"]


def test_slow_changes_are_not_flapping_but_tickets_of_their_own(engine: Engine, clock: FakeClock) -> None:
    """Slow changes follow the normal rules: each problem after a resolved (not closed) ticket is a
    ticket of its own (a recurrence is of a closed incident, PROCESS §10), none is flapping."""
    actions = flaps(engine, clock, 3, timedelta(minutes=30))
    assert actions == [Action.CREATE, Action.RESOLVE] + [Action.CREATE, Action.RESOLVE] * 2


def test_the_thresholds_are_the_rule_books(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager) -> None:
    site = tmp_path / "rules"
    site.mkdir()
    text = (shipped_rules_dir() / "flapping.yaml").read_text(encoding="utf-8")
    (site / "flapping.yaml").write_text(text.replace("max_changes: 2", "max_changes: 5"), encoding="utf-8")
    pipeline = Pipeline.from_manager(pm, load_rulebook(site))
    ledger = MemoryLedger()
    actions = []
    for n in range(1, 5):
        alert = problem(clock, n)
        for item in (alert, alert.model_copy(update={"recovered_at": clock.now() + timedelta(minutes=1)})):
            now = item.recovered_at or item.occurred_at
            decision = pipeline.decide(item, ledger, now)
            apply_decision(ledger, decision, now, "memory")
            actions.append(decision.action)
        clock.advance(minutes=2)
    # changes: P1 R1 P2 R2 P3 (5, not more than 5: the normal rules, a new ticket) R3 P4 (7: flapping)
    assert actions[4] is Action.CREATE and actions[6] is Action.FLAPPING
    off = (site / "flapping.yaml").read_text(encoding="utf-8").replace("enabled: true", "enabled: false")
    (site / "flapping.yaml").write_text(off, encoding="utf-8")
    assert load_rulebook(site).dedup.flapping is None


def test_a_bad_flapping_file_is_a_file_line_error(tmp_path: Path) -> None:
    site = tmp_path / "rules"
    site.mkdir()
    (site / "flapping.yaml").write_text("enabled: true\nmax_changes: 0\nwindow_minutes: 20\nquiet_minutes: 20\n")
    with pytest.raises(ConfigError) as caught:
        load_rulebook(site)
    assert f"{site / 'flapping.yaml'}:2:" in str(caught.value)


def test_simulate_shows_flapping_with_its_parent_and_settles_it(pm: pluggy.PluginManager) -> None:
    lines = []
    for n in range(1, 4):
        start = f"2026-11-26T03:{2 * n:02d}:00+00:00"
        end = f"2026-11-26T03:{2 * n + 1:02d}:00+00:00"
        base = {"source": "zabbix", "external_id": str(n), "title": "Gi0/1 down", "ci": "sw1", "occurred_at": start}
        lines += [json.dumps(base), json.dumps({**base, "recovered_at": end})]
    later = {"source": "zabbix", "external_id": "9", "title": "Gi0/1 down", "ci": "sw1"}
    lines.append(json.dumps({**later, "occurred_at": "2026-11-26T05:00:00+00:00"}))
    out = io.StringIO()
    simulate(lines, Pipeline.from_manager(pm, default_rulebook()), out)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["action"] for r in results] == [
        "create",
        "resolve",
        "flapping",
        "ignored",
        "flapping",
        "ignored",
        "create",  # after it settled (quiet 20 min), the normal rules: resolved, not closed, no recurrence
    ]
    assert results[2]["parent"] == results[0]["ticket"] == "zabbix:1"
    assert "parent" not in results[0] and results[6]["recurrence_of"] is None
