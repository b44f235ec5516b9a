"""No active problem without an open ticket (issue 18, item 5).

The shipped dedup rule groups one host's triggers whose names differ only by digits ("metric 7
above 90", "metric 8 above 90") under one master: duplicates first, then repeats appended by the
storm guard. Before this rule, the master's recovery resolved every duplicate with it and the
repeats' own recoveries were ignored, so problems still active at the source were left with
resolved tickets only. These tests play such a storm through the daemon's engine (SQLite store,
local helpdesk) and through ``simulate``'s ledger, recover a part of it, and check every problem
still active against the tickets — the way the acceptance test checks ``problem.get``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.domain.clock import FakeClock
from connector.domain.decision import Action
from connector.domain.ledger import MemoryLedger, TicketLedger, apply_decision
from connector.domain.models import Alert, TicketStatus
from connector.integrations.zabbix.mapping import map_problem
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from tests.state_backend import make_store

STORM = 6  # a master, three duplicates (the shipped storm guard), two appended repeats


def problem(clock: FakeClock, n: int, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "source": "zabbix",
        "external_id": str(n),
        "title": f"metric {n} above 90",
        "ci": "db01",
        "severity": 3,
        "occurred_at": clock.now(),
    }
    values.update(fields)
    return Alert.model_validate(values)


def recovered(alert: Alert, clock: FakeClock) -> Alert:
    return alert.model_copy(update={"recovered_at": clock.now()})


def holder(ledger: TicketLedger, key: str) -> str:
    """The ticket that holds the problem of alert ``key``: its own, or the master it was appended to."""
    return key if ledger.get(key) is not None else (ledger.alias_of(key) or "")


def open_holders(ledger: TicketLedger, active: list[Alert]) -> dict[str, bool]:
    """Per still-active problem: does an open ticket hold it?"""
    out = {}
    for alert in active:
        state = ledger.get(holder(ledger, alert.key))
        out[alert.key] = state is not None and not state.status.is_done
    return out


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )


def run(engine: Engine, clock: FakeClock, *alerts: Alert) -> list[Action]:
    actions = []
    for alert in alerts:
        clock.set(alert.recovered_at or alert.occurred_at)
        engine.ingest(alert.source, [alert])
        actions += [d.action for d in engine.process_pending()]
        engine.drain_outbox()
    return actions


def test_the_master_waits_for_the_problems_it_holds_and_the_last_recovery_resolves_it(
    engine: Engine, clock: FakeClock
) -> None:
    storm = []
    for n in range(1, STORM + 1):
        storm.append(problem(clock, n))
        clock.advance(minutes=1)
    assert run(engine, clock, *storm) == [Action.CREATE] + [Action.DUPLICATE] * 3 + [Action.APPEND] * 2
    store = engine.store
    clock.advance(minutes=10)
    # the master's own trigger and one duplicate's recover; 2, 4, 5 and 6 are still active
    actions = run(engine, clock, recovered(storm[0], clock), recovered(storm[2], clock))
    active = [storm[1], storm[3], storm[4], storm[5]]
    assert open_holders(store, active) == dict.fromkeys((a.key for a in active), True)
    assert [a.value for a in actions] == ["wait", "resolve"]
    helpdesk = {t["key"]: t for t in engine.backend.tickets()}  # type: ignore[attr-defined]
    assert helpdesk["zabbix:1"]["status"] == TicketStatus.OPEN.value
    assert any("5 other problem(s) this ticket holds are still active" in n for n in helpdesk["zabbix:1"]["notes"])
    assert helpdesk["zabbix:3"]["status"] == TicketStatus.RESOLVED.value
    # each recovers in turn; the master stays open until the last of them
    clock.advance(minutes=5)
    for alert in active[:-1]:
        run(engine, clock, recovered(alert, clock))
        still = active[active.index(alert) + 1 :]
        assert open_holders(store, still) == dict.fromkeys((a.key for a in still), True)
    assert run(engine, clock, recovered(active[-1], clock)) == [Action.RESOLVE]
    assert {t.key: t.status for t in store.active_tickets()} == dict.fromkeys(
        ("zabbix:1", "zabbix:2", "zabbix:3", "zabbix:4"), TicketStatus.RESOLVED
    )
    helpdesk = {t["key"]: t for t in engine.backend.tickets()}  # type: ignore[attr-defined]
    assert {k: t["status"] for k, t in helpdesk.items()} == dict.fromkeys(helpdesk, TicketStatus.RESOLVED.value)
    assert store.dead_letters() == []


def test_a_repeat_of_the_same_problem_still_ends_with_its_master(engine: Engine, clock: FakeClock) -> None:
    """The same trigger (or, without one, the same title) is one problem: its master's recovery
    is the repeat's too, as before."""
    first = problem(clock, 1, title="Station gateway unreachable")
    clock.advance(minutes=2)
    second = problem(clock, 2, title="Station gateway unreachable")
    run(engine, clock, first, second)
    clock.advance(minutes=5)
    assert run(engine, clock, recovered(first, clock)) == [Action.RESOLVE]
    assert {t.key: t.status for t in engine.store.active_tickets()} == {
        "zabbix:1": TicketStatus.RESOLVED,
        "zabbix:2": TicketStatus.RESOLVED,
    }


def test_the_simulated_ledger_agrees(clock: FakeClock, pm: pluggy.PluginManager) -> None:
    pipeline = Pipeline.from_manager(pm, default_rulebook())
    ledger = MemoryLedger()

    def decide(alert: Alert) -> Action:
        now = alert.recovered_at or alert.occurred_at
        decision = pipeline.decide(alert, ledger, now)
        apply_decision(ledger, decision, now, "memory")
        return decision.action

    storm = []
    for n in range(1, STORM + 1):
        storm.append(problem(clock, n))
        clock.advance(minutes=1)
    [decide(a) for a in storm]
    assert decide(recovered(storm[0], clock)) is Action.WAIT
    assert decide(recovered(storm[5], clock)) is Action.IGNORED  # an appended repeat: counted, master still waits
    active = storm[1:5]
    assert open_holders(ledger, active) == dict.fromkeys((a.key for a in active), True)
    actions = [decide(recovered(a, clock)) for a in active]
    assert actions == [Action.RESOLVE] * 4  # three duplicates, then the appended repeat releases the master
    state = ledger.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.RESOLVED


def test_a_monitoring_symptom_is_the_trigger_not_the_digit_normalised_title(
    clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    """Two triggers are two problems (two tickets); one trigger whose name carries a changing
    value is one."""
    pipeline = Pipeline.from_manager(pm, default_rulebook())
    ledger = MemoryLedger()
    alerts = [
        problem(clock, 1, title="metric 7 above 90", symptom="trigger:7"),
        problem(clock, 2, title="metric 8 above 90", symptom="trigger:8"),
        problem(clock, 3, title="CPU 97% on db01", symptom="trigger:9"),
        problem(clock, 4, title="CPU 93% on db01", symptom="trigger:9"),
    ]
    actions = []
    for alert in alerts:
        decision = pipeline.decide(alert, ledger, clock.now())
        apply_decision(ledger, decision, clock.now(), "memory")
        actions.append(decision.action)
    assert actions == [Action.CREATE, Action.CREATE, Action.CREATE, Action.DUPLICATE]


def test_the_zabbix_event_names_its_trigger_as_the_symptom() -> None:
    event = {
        "eventid": "501",
        "objectid": "17002",
        "name": "metric 7 above 90",
        "clock": "1764124800",
        "severity": "3",
        "hosts": [{"hostid": "1", "host": "db01"}],
        "tags": [],
    }
    alert = map_problem(event, source="zabbix", groups_by_hostid={})
    assert isinstance(alert, Alert)
    assert alert.symptom == "trigger:17002"
    assert alert.problem == "trigger:17002"
    no_trigger = map_problem({**event, "objectid": ""}, source="zabbix", groups_by_hostid={})
    assert isinstance(no_trigger, Alert) and no_trigger.symptom is None
    assert no_trigger.problem == "metric 7 above 90"
