"""A storm's repeats cost the helpdesk a few notes, not one request each, and no repeat goes uncounted.

``storm_guard.note_interval_seconds`` (``dedup.yaml``, shipped 300): the counted note of a repeat
past the storm guard is owed at most once per interval per master; the count of the repeats in
between goes with the next note, before the master's resolution, or on its own once the storm went
quiet (the sweep). The backend's calls are counted on the real local backend.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.contracts.adapters import Resolution, TicketRef
from connector.domain.clock import FakeClock
from connector.domain.models import Alert, Ticket, TicketStatus
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.book import RuleBook
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.state.spool import Spool
from tests.state_backend import make_store


class CountingBackend(LocalBackend):
    """The local backend, counting each helpdesk request it is asked to make."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()

    def create_ticket(self, ticket: Ticket, *, actor: str | None = None) -> TicketRef:
        self.calls["create"] += 1
        return super().create_ticket(ticket, actor=actor)

    def add_note(self, ticket_id: str, text: str, *, actor: str | None = None) -> None:
        self.calls["note"] += 1
        super().add_note(ticket_id, text, actor=actor)

    def update_ticket(self, ticket_id: str, changes: dict[str, Any], note: str | None = None, **kw: Any) -> None:
        self.calls["update"] += 1
        super().update_ticket(ticket_id, changes, note, **kw)

    def resolve_ticket(self, ticket_id: str, resolution: Resolution, *, actor: str | None = None) -> None:
        self.calls["resolve"] += 1
        super().resolve_ticket(ticket_id, resolution, actor=actor)


def make_engine(tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager, rules: RuleBook) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=CountingBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(pm, rules),
        clock=clock,
        spool=Spool(tmp_path / "spool"),
    )


def down(clock: FakeClock, eid: str) -> Alert:
    return Alert.model_validate(
        {
            "source": "zabbix",
            "external_id": eid,
            "title": "Station gateway unreachable (ICMP)",
            "ci": "station-gw-l2-07",
            "host_groups": ["Metro/Stations"],
            "severity": 4,
            "occurred_at": clock.now(),
        }
    )


def cycle(engine: Engine, clock: FakeClock, alert: Alert) -> None:
    clock.set(alert.recovered_at or alert.occurred_at)
    engine.ingest(alert.source, [alert])
    engine.process_pending()
    engine.drain_outbox()


def storm(engine: Engine, clock: FakeClock, repeats: int, every_seconds: float) -> tuple[Alert, Counter[str]]:
    """A master, the duplicates the storm guard allows, then ``repeats`` counted repeats; the
    master's alert and the helpdesk requests the counted repeats cost."""
    backend = engine.backend
    assert isinstance(backend, CountingBackend)
    master = down(clock, "1")
    cycle(engine, clock, master)
    allowed = engine.pipeline.rules.dedup.storm_max or 0
    for n in range(2, 2 + allowed):
        clock.advance(seconds=every_seconds)
        cycle(engine, clock, down(clock, str(n)))
    before = Counter(backend.calls)
    for n in range(2 + allowed, 2 + allowed + repeats):
        clock.advance(seconds=every_seconds)
        cycle(engine, clock, down(clock, str(n)))
    return master, backend.calls - before


def master_notes(engine: Engine) -> list[str]:
    backend = engine.backend
    assert isinstance(backend, CountingBackend)
    master = next(t for t in backend.tickets() if t["key"] == "zabbix:1")
    return [n for n in master["notes"] if "storm guard" in n]


def counted(notes: list[str]) -> int:
    """The repeats the notes account for: a repeat's own note is one, plus any count it carries."""
    total = 0
    for note in notes:
        if note.startswith("repeat #"):
            total += 1
            extra = re.search(r"with (\d+) earlier repeat\(s\) counted", note)
            total += int(extra.group(1)) if extra else 0
        else:
            found = re.search(r"storm guard: (\d+) more repeat\(s\) counted since the last note", note)
            assert found is not None, note
            total += int(found.group(1))
    return total


def test_the_shipped_rules_write_one_note_per_five_minutes(tmp_path: Path, clock: FakeClock, pm: Any) -> None:
    rules = default_rulebook()
    assert rules.dedup.storm_note_interval is not None
    assert rules.dedup.storm_note_interval.total_seconds() == 300


def test_a_storm_costs_a_note_per_interval_and_the_resolution_carries_the_rest(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    engine = make_engine(tmp_path, clock, pm, default_rulebook())
    backend = engine.backend
    assert isinstance(backend, CountingBackend)
    master, calls = storm(engine, clock, repeats=600, every_seconds=2)  # 20 minutes of repeats
    assert calls == Counter({"note": 4})  # at 0, 5, 10 and 15 minutes of the storm
    assert sum(calls.values()) / 600 <= 0.05
    assert len(master_notes(engine)) == 4
    clock.advance(seconds=30)
    cycle(engine, clock, master.model_copy(update={"recovered_at": clock.now()}))
    notes = master_notes(engine)
    assert counted(notes) == 600  # every repeat is accounted for, the last ones before the resolution
    tickets = {t["key"]: t for t in backend.tickets()}
    assert tickets["zabbix:1"]["status"] == TicketStatus.RESOLVED.value
    assert engine.store.storm_note("zabbix:1") is not None
    assert engine.store.storm_note("zabbix:1").pending == 0  # type: ignore[union-attr]


def test_a_storm_that_went_quiet_has_its_count_written_by_the_sweep(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    engine = make_engine(tmp_path, clock, pm, default_rulebook())
    storm(engine, clock, repeats=50, every_seconds=1)
    assert counted(master_notes(engine)) == 1  # the first note; 49 are counted, not written yet
    clock.advance(seconds=100)
    engine.sweep()
    engine.drain_outbox()
    assert counted(master_notes(engine)) == 1  # not quiet for an interval yet
    clock.advance(seconds=300)
    engine.sweep()
    engine.drain_outbox()
    assert counted(master_notes(engine)) == 50
    engine.sweep()  # owed once
    engine.drain_outbox()
    assert counted(master_notes(engine)) == 50


@pytest.mark.parametrize("interval", [None])
def test_without_an_interval_every_repeat_is_a_note_as_before(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager, interval: None
) -> None:
    book = default_rulebook()
    rules = dataclasses.replace(book, dedup=dataclasses.replace(book.dedup, storm_note_interval=interval))
    engine = make_engine(tmp_path, clock, pm, rules)
    _, calls = storm(engine, clock, repeats=20, every_seconds=2)
    assert calls == Counter({"note": 20})
    notes = master_notes(engine)
    assert len(notes) == 20
    assert counted(notes) == 20
