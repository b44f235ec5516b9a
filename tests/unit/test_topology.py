"""Cause correlation (issue 18, item 1; ``topology.yaml`` and the source's ``depends_on``): an
alert whose CI depends on a CI with an open incident becomes its child; an upstream alarming
after its dependents adopts them, telling the desk once; a storm of one symptom on many CIs is
one incident. Played through the daemon's engine (SQLite store, local helpdesk) and simulate."""

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
from connector.domain.models import Alert, TicketStatus
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.book import RuleBook
from connector.rules.loading import default_rulebook, load_rulebook
from connector.runtime.engine import Engine
from connector.runtime.simulate import simulate
from tests.state_backend import make_store

TOPOLOGY = """\
window_minutes: 10
upstreams:
  station-gw-l2-07: [agg-sw02]
  agg-sw02: [core-sw01]
groups:
  - host_group: Metro/Line2
    upstreams: [core-sw01]
storm: {min_cis: 4, seconds: 60}
"""


def rules(tmp_path: Path, text: str = TOPOLOGY) -> RuleBook:
    site = tmp_path / "rules"
    site.mkdir(exist_ok=True)
    (site / "topology.yaml").write_text(text, encoding="utf-8")
    return load_rulebook(site)


def down(clock: FakeClock, eid: str, ci: str, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "source": "zabbix",
        "external_id": eid,
        "title": f"{ci} is unreachable",
        "symptom": f"trigger:{eid}",
        "ci": ci,
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
        pipeline=Pipeline.from_manager(pm, rules(tmp_path)),
        clock=clock,
    )


def feed(engine: Engine, clock: FakeClock, *alerts: Alert) -> list[Action]:
    actions = []
    for alert in alerts:
        clock.set(alert.recovered_at or alert.occurred_at)
        engine.ingest(alert.source, [alert])
        actions += [d.action for d in engine.process_pending()]
        engine.drain_outbox()
    return actions


def helpdesk(engine: Engine) -> dict[str, dict[str, Any]]:
    return {t["key"]: t for t in engine.backend.tickets()}  # type: ignore[attr-defined]


def test_hosts_behind_a_dead_switch_are_children_of_its_incident(engine: Engine, clock: FakeClock) -> None:
    switch = down(clock, "1", "core-sw01")
    clock.advance(minutes=1)
    by_map = down(clock, "2", "station-gw-l2-07")  # → agg-sw02 → core-sw01, transitively
    by_group = down(clock, "3", "station-gw-l2-08", host_groups=["Metro/Line2"])
    by_source = down(clock, "4", "web01", depends_on=["core-sw01"])  # a Zabbix trigger dependency
    elsewhere = down(clock, "5", "db01")
    assert feed(engine, clock, switch, by_map, by_group, by_source, elsewhere) == [
        Action.CREATE,
        Action.CHILD,
        Action.CHILD,
        Action.CHILD,
        Action.CREATE,
    ]
    desk = helpdesk(engine)
    parent_id = desk["zabbix:1"]["id"]
    for key in ("zabbix:2", "zabbix:3", "zabbix:4"):
        assert desk[key]["relations"] == [("duplicates", parent_id)]
        assert desk[key]["duplicate_of"] == "zabbix:1"  # counted once in the KPIs
        assert "child of zabbix:1" in desk[key]["description"].rsplit("\n---\n", 1)[1]  # in the create
    # escalated with the parent: the sweep does not watch the children
    assert {s.key for s in engine.store.sweep_tickets(clock.now())} == {"zabbix:1", "zabbix:5"}
    # the switch recovers first: its ticket waits for the children still active …
    clock.advance(minutes=5)
    assert feed(engine, clock, switch.model_copy(update={"recovered_at": clock.now()})) == [Action.WAIT]
    # … each child's own recovery resolves it; the last one resolves the parent too
    clock.advance(minutes=1)
    for child in (by_map, by_group, by_source):
        feed(engine, clock, child.model_copy(update={"recovered_at": clock.now()}))
    desk = helpdesk(engine)
    assert {k: desk[k]["status"] for k in ("zabbix:1", "zabbix:2", "zabbix:3", "zabbix:4")} == dict.fromkeys(
        ("zabbix:1", "zabbix:2", "zabbix:3", "zabbix:4"), TicketStatus.RESOLVED.value
    )
    assert desk["zabbix:5"]["status"] == TicketStatus.OPEN.value


def test_an_upstream_alarming_late_adopts_its_children_and_tells_the_desk_once(
    engine: Engine, clock: FakeClock
) -> None:
    hosts = [down(clock, str(n), f"host{n}", host_groups=["Metro/Line2"]) for n in range(1, 4)]
    assert feed(engine, clock, *hosts) == [Action.CREATE] * 3
    clock.advance(minutes=3)
    assert feed(engine, clock, down(clock, "9", "core-sw01")) == [Action.CREATE]
    desk = helpdesk(engine)
    parent = desk["zabbix:9"]
    notes = [n for n in parent["notes"] if "are now its children" in n]
    assert notes == [
        "子事件 3 open incident(s) of CIs depending on this one are now its children: zabbix:1, zabbix:2, zabbix:3"
    ]
    for n in range(1, 4):
        assert desk[f"zabbix:{n}"]["relations"] == [("duplicates", parent["id"])]
        state = engine.store.get(f"zabbix:{n}")
        assert state is not None and state.master_key == "zabbix:9"
    assert {s.key for s in engine.store.sweep_tickets(clock.now())} == {"zabbix:9"}
    # beyond the window, an old incident is not adopted
    clock.advance(minutes=30)
    old = down(clock, "20", "host20", host_groups=["Metro/Line2"])
    feed(engine, clock, old)
    clock.advance(minutes=11)
    feed(engine, clock, down(clock, "21", "core-sw01", title="core-sw01 flaps", symptom="trigger:21x"))
    state = engine.store.get("zabbix:20")
    assert state is not None and state.master_key is None


def test_a_storm_of_one_symptom_on_many_cis_is_one_incident(engine: Engine, clock: FakeClock) -> None:
    alerts = []
    for n in range(1, 7):
        alerts.append(down(clock, str(n), f"pos{n}", title="POS terminal offline", symptom=None))
        clock.advance(seconds=5)
    assert feed(engine, clock, *alerts) == [Action.CREATE] * 3 + [Action.STORM] * 3
    desk = helpdesk(engine)
    head = desk["zabbix:1"]
    storm_notes = [n for n in head["notes"] if n.startswith("风暴 storm")]
    assert storm_notes == [
        "风暴 storm: 4 CIs alarm with the same symptom within 60 s — one incident for them all: pos2, pos3, pos1, pos4"
    ] or (len(storm_notes) == 1 and "4 CIs" in storm_notes[0])
    for n in range(2, 7):
        state = engine.store.get(f"zabbix:{n}")
        assert state is not None and state.master_key == "zabbix:1"
        assert desk[f"zabbix:{n}"]["relations"] == [("duplicates", head["id"])]
    assert {s.key for s in engine.store.sweep_tickets(clock.now())} == {"zabbix:1"}


def test_simulate_shows_child_storm_and_children(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    def line(eid: str, ci: str, minute: int, **extra: Any) -> str:
        return json.dumps(
            {
                "source": "zabbix",
                "external_id": eid,
                "title": f"{ci} down",
                "ci": ci,
                "occurred_at": f"2026-11-26T03:{minute:02d}:00Z",
                **extra,
            }
        )

    lines = [
        line("1", "host1", 0, depends_on=["core-sw01"]),
        line("2", "core-sw01", 2),
        line("3", "host3", 3, depends_on=["core-sw01"]),
    ]
    out = io.StringIO()
    simulate(lines, Pipeline.from_manager(pm, rules(tmp_path)), out)
    results = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["action"] for r in results] == ["create", "create", "child"]
    assert results[1]["children"] == ["zabbix:1"] and results[2]["parent"] == "zabbix:2"
    assert "parent" not in results[0] and "children" not in results[0]


def test_a_bad_topology_is_a_file_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        rules(tmp_path, "window_minutes: 10\nupstreams:\n  sw1: [sw1]\nstorm: {min_cis: 1, seconds: 60}\n")
    text = str(caught.value)
    assert "topology.yaml:4:" in text and "storm.min_cis" in text
    with pytest.raises(ConfigError) as caught:
        rules(tmp_path, "window_minutes: 10\nupstreams:\n  sw1: [sw1]\n")
    assert "its own upstream" in str(caught.value)


def test_without_a_topology_nothing_changes(clock: FakeClock, pm: pluggy.PluginManager) -> None:
    pipeline = Pipeline.from_manager(pm, default_rulebook())
    from connector.domain.ledger import MemoryLedger, apply_decision

    ledger = MemoryLedger()
    for n, ci in enumerate(["core-sw01", "host1"], start=1):
        decision = pipeline.decide(down(clock, str(n), ci), ledger, clock.now())
        apply_decision(ledger, decision, clock.now(), "memory")
        assert decision.action is Action.CREATE
        clock.advance(timedelta(minutes=1))
