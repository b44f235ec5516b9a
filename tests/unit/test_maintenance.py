"""Maintenance (issue 18, item 2; ``maintenance.yaml`` and the source's maintenance flag):
an alert in planned work opens no ticket (journaled, counted), a priority of
``open_priorities`` opens anyway, and a problem still active when the window ends opens its
ticket then, with the original occurrence time; one that recovered first opens nothing."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.cli.main import main
from connector.domain.clock import FakeClock
from connector.domain.decision import Action
from connector.domain.errors import ConfigError
from connector.domain.models import Alert
from connector.integrations.zabbix.mapping import map_problem
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook, load_rulebook
from connector.runtime.engine import Engine
from connector.runtime.simulate import simulate
from tests.state_backend import make_store

WINDOWS = """\
open_priorities: [1]
timezone: Asia/Shanghai
windows:
  - name: nightly backup
    host_groups: [Databases]
    weekly: {days: [thu], start: "23:00", end: "01:00"}
  - name: switch replacement
    cis: [core-sw01]
    start: 2026-11-26T10:00:00+08:00
    end: 2026-11-26T11:00:00+08:00
"""


def site(tmp_path: Path, text: str = WINDOWS) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "maintenance.yaml").write_text(text, encoding="utf-8")
    return rules


def alert(eid: str, at: datetime, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "source": "zabbix",
        "external_id": eid,
        "title": "Disk I/O is overloaded",
        "ci": "db01",
        "host_groups": ["Databases"],
        "severity": 3,
        "occurred_at": at,
    }
    values.update(fields)
    return Alert.model_validate(values)


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(
            pm, dataclasses.replace(default_rulebook(), dedup=load_rulebook(site(tmp_path)).dedup)
        ),
        clock=clock,
    )


def feed(engine: Engine, clock: FakeClock, item: Alert) -> list[Action]:
    clock.set(item.recovered_at or item.occurred_at)
    engine.ingest(item.source, [item])
    actions = [d.action for d in engine.process_pending()]
    engine.drain_outbox()
    return actions


# Thursday 2026-11-26 23:30 in Shanghai is 15:30 UTC: inside the nightly backup window
IN_BACKUP = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
BACKUP_ENDS = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # 01:00 on Friday, Shanghai


def test_an_alert_in_a_weekly_window_opens_no_ticket_and_opens_one_when_still_active_after(
    engine: Engine, clock: FakeClock
) -> None:
    held = alert("1", IN_BACKUP)
    assert feed(engine, clock, held) == [Action.SUPPRESSED]
    assert engine.backend.tickets() == []  # type: ignore[attr-defined]
    assert engine.store.hold_counts() == {"held": 1, "recovered": 0, "opened": 0}
    assert engine.store.journal_outcomes()[0][3].startswith("suppressed: in maintenance (nightly backup")
    # a second problem recovers inside the window: nothing is ever opened for it
    short = alert("2", IN_BACKUP + timedelta(minutes=5), title="Backup job slow")
    feed(engine, clock, short)
    assert feed(engine, clock, short.model_copy(update={"recovered_at": IN_BACKUP + timedelta(minutes=20)})) == [
        Action.IGNORED
    ]
    clock.set(BACKUP_ENDS - timedelta(minutes=1))
    engine.sweep()
    assert engine.backend.tickets() == []  # type: ignore[attr-defined]
    clock.set(BACKUP_ENDS + timedelta(seconds=30))
    engine.sweep()
    engine.drain_outbox()
    (ticket,) = engine.backend.tickets()  # type: ignore[attr-defined]
    assert ticket["key"] == "zabbix:1"
    state = engine.store.get("zabbix:1")
    assert state is not None and state.occurred_at == IN_BACKUP  # the original occurrence time
    assert engine.store.hold_counts() == {"held": 0, "recovered": 1, "opened": 1}
    assert engine.store.dead_letters() == []


def test_a_priority_that_opens_anyway_and_the_dated_window(engine: Engine, clock: FakeClock) -> None:
    in_change = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
    assert feed(engine, clock, alert("1", in_change, ci="core-sw01", host_groups=[], severity=3)) == [Action.SUPPRESSED]
    assert feed(engine, clock, alert("2", in_change, ci="core-sw01", host_groups=[], severity=5, title="Down")) == [
        Action.CREATE
    ]
    tickets = engine.backend.tickets()  # type: ignore[attr-defined]
    assert [t["key"] for t in tickets] == ["zabbix:2"]
    after = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # the window's end is not in it
    assert feed(engine, clock, alert("3", after, ci="core-sw01", host_groups=[], title="Other")) == [
        Action.CREATE,  # zabbix:1, opened because the window ended and it is still active …
        Action.CREATE,  # … then zabbix:3 itself
    ]


def test_the_zabbix_maintenance_flag_holds_until_its_end(engine: Engine, clock: FakeClock) -> None:
    event = {
        "eventid": "900",
        "objectid": "13",
        "name": "Zabbix agent is not available",
        "clock": str(int(datetime(2026, 11, 26, 4, 0, tzinfo=UTC).timestamp())),
        "severity": "3",
        "suppressed": "1",
        "suppression_data": [{"maintenanceid": "5", "suppress_until": "1764133200"}],
        "hosts": [{"hostid": "1", "host": "web01"}],
        "tags": [],
    }
    problem = map_problem(event, source="zabbix", groups_by_hostid={})
    assert isinstance(problem, Alert) and problem.maintenance
    assert problem.maintenance_until == datetime.fromtimestamp(1764133200, UTC)
    assert feed(engine, clock, problem) == [Action.SUPPRESSED]
    clock.set(datetime.fromtimestamp(1764133200, UTC))
    engine.sweep()
    engine.drain_outbox()
    assert [t["key"] for t in engine.backend.tickets()] == ["zabbix:900"]  # type: ignore[attr-defined]
    forever = map_problem(
        {**event, "eventid": "901", "suppression_data": [{"suppress_until": "0"}]}, source="z", groups_by_hostid={}
    )
    assert isinstance(forever, Alert) and forever.maintenance and forever.maintenance_until is None


def test_simulate_shows_suppressed_and_the_opening(tmp_path: Path, pm: pluggy.PluginManager) -> None:
    lines = [
        json.dumps(
            {
                "source": "zabbix",
                "external_id": "1",
                "title": "maintenance",
                "ci": "db01",
                "occurred_at": "2026-11-26T04:00:00Z",
                "maintenance": True,
                "maintenance_until": "2026-11-26T05:00:00Z",
            }
        ),
        json.dumps(
            {
                "source": "zabbix",
                "external_id": "2",
                "title": "later",
                "ci": "web01",
                "occurred_at": "2026-11-26T05:30:00Z",
            }
        ),
    ]
    out = io.StringIO()
    simulate(lines, Pipeline.from_manager(pm, default_rulebook()), out)
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["line"], r["external_id"], r["action"]) for r in results] == [
        (1, "1", "suppressed"),
        (2, "1", "create"),
        (2, "2", "create"),
    ]
    assert results[1]["reason"].startswith("still active when its maintenance ended: new problem")


HEAD = "open_priorities: [1]\ntimezone: UTC\nwindows:\n"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("open_priorities: [1]\ntimezone: Mars/Olympus\n", 2, "unknown time zone"),
        (
            HEAD + "  - name: x\n    weekly: {days: [mon], start: '01:00', end: '02:00'}\n",
            4,
            "cis",
        ),
        (
            HEAD + "  - name: x\n    cis: [a]\n    weekly: {days: [mon], start: '25:00', end: '02:00'}\n",
            6,
            "pattern",
        ),
    ],
)
def test_a_bad_maintenance_file_is_a_file_line_error(tmp_path: Path, text: str, where: int, what: str) -> None:
    rules = site(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_rulebook(rules)
    message = str(caught.value)
    assert f"{rules / 'maintenance.yaml'}:{where}:" in message and what in message


def test_status_shows_the_held_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text("state: {path: state.db}\nbackend: {type: local, path: tickets.db}\nsources: []\n")
    assert main(["status", "--config", str(config)]) == 0
    assert "maintenance   0 held, 0 opened, 0 recovered" in capsys.readouterr().out
    assert main(["status", "--json", "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["maintenance"] == {"held": 0, "recovered": 0, "opened": 0}


def test_a_problem_begun_and_over_within_the_window_and_first_seen_recovered_opens_nothing(
    engine: Engine, clock: FakeClock
) -> None:
    seen_late = alert("7", IN_BACKUP, recovered_at=IN_BACKUP + timedelta(minutes=10))
    clock.set(BACKUP_ENDS + timedelta(hours=1))  # a backlog read after the window
    engine.ingest("zabbix", [seen_late])
    assert [d.action for d in engine.process_pending()] == [Action.SUPPRESSED]
    engine.sweep()
    engine.drain_outbox()
    assert engine.backend.tickets() == []  # type: ignore[attr-defined]
    assert engine.store.hold_counts() == {"held": 0, "recovered": 1, "opened": 0}


def test_a_problem_first_seen_recovered_that_outlived_its_window_opens_resolved(
    engine: Engine, clock: FakeClock
) -> None:
    outlived = alert("8", IN_BACKUP, recovered_at=BACKUP_ENDS + timedelta(minutes=30))
    clock.set(BACKUP_ENDS + timedelta(hours=1))
    engine.ingest("zabbix", [outlived])
    assert [d.action for d in engine.process_pending()] == [Action.CREATE]


def test_held_alerts_are_a_metric(engine: Engine, clock: FakeClock) -> None:
    """``/metrics`` shows what maintenance holds back, as ``status`` does."""
    from prometheus_client.parser import text_string_to_metric_families

    def held() -> dict[str, float]:
        engine.metrics.refresh(engine.store, clock.now())
        text = engine.metrics.exposition().decode("utf-8")
        family = next(f for f in text_string_to_metric_families(text) if f.name == "itsm_maintenance_held")
        return {sample.labels["state"]: sample.value for sample in family.samples}

    feed(engine, clock, alert("1", IN_BACKUP))
    assert held() == {"held": 1.0, "recovered": 0.0, "opened": 0.0}
    clock.set(BACKUP_ENDS + timedelta(seconds=30))
    engine.sweep()
    assert held() == {"held": 0.0, "recovered": 0.0, "opened": 1.0}
