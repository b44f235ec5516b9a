"""Problem records (issue 13, item 1; PROCESS §12): which incidents raise one, the same root
cause joining one open problem, once per incident across restarts, and the record's content."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.contracts.adapters import Change, ChangeKind, TicketHistory
from connector.contracts.capabilities import BackendCapabilities
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendUnavailable
from connector.domain.ledger import TicketState
from connector.domain.links import ChangeLink, MemoryLinks, ProblemRecord, problem_key
from connector.domain.models import Alert, ClosureCode, Priority, TicketRef, TicketStatus
from connector.kpi.rebuild import rebuild_record
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.process.problems import problem_record, problem_step, record_problem
from connector.rules.links import LinksFile
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.state_backend import make_store

T0 = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def links() -> LinksFile:
    found = default_rulebook().links
    assert found is not None
    return found


def incident(
    key: str, priority: Priority = Priority.HIGHEST, fingerprint: str | None = "fp-core", **more: Any
) -> TicketState:
    content = {
        "title": "core switch down",
        "ci": "core-sw01",
        "service": "网络",
        "category": "网络",
        "description": "ping lost",
    }
    fields: dict[str, Any] = {"content": content, "created_at": T0, "occurred_at": T0 - timedelta(minutes=2)}
    fields.update(more)
    return TicketState(key, "7", TicketStatus.OPEN, fingerprint, priority=priority, **fields)


# --- the rules -----------------------------------------------------------------------------------


def test_the_shipped_rules_raise_for_a_major_incident_and_a_close_with_a_problem() -> None:
    rules = links()
    assert rules.raises_problem(Priority.HIGHEST)
    assert not rules.raises_problem(Priority.HIGH)
    assert rules.raises_problem(Priority.LOW, ClosureCode.SUCCESS_WITH_PROBLEM)
    assert not rules.raises_problem(Priority.LOW, ClosureCode.SUCCESS)
    off = rules.model_copy(update={"problems": rules.problems.model_copy(update={"enabled": False})})
    assert not off.raises_problem(Priority.HIGHEST, ClosureCode.SUCCESS_WITH_PROBLEM)


# --- the pure step -------------------------------------------------------------------------------


def test_a_p1_raises_one_problem_and_the_same_root_cause_joins_it_within_the_window() -> None:
    ledger = MemoryLinks()
    rules = links()
    first = incident("zabbix:1")
    step = problem_step(first, ledger, rules, T0)
    assert step is not None and step.opens and step.problem_key == problem_key("zabbix:1")
    assert record_problem(ledger, step, T0)
    assert problem_step(first, ledger, rules, T0 + timedelta(hours=1)) is None  # once per incident
    window = rules.problems.root_cause_window
    second = incident("zabbix:2")
    joined = problem_step(second, ledger, rules, T0 + window)  # exactly the window: still the same
    assert joined is not None and not joined.opens and joined.problem_key == "problem:zabbix:1"
    assert joined.problem_note is not None and "zabbix:2" in joined.problem_note
    record_problem(ledger, joined, T0 + window)
    third = incident("zabbix:3")
    later = problem_step(third, ledger, rules, T0 + window + timedelta(seconds=1))
    assert later is not None and later.opens and later.problem_key == "problem:zabbix:3"
    other = problem_step(incident("zabbix:4", fingerprint="fp-other"), ledger, rules, T0 + window)
    assert other is not None and other.opens  # another root cause: a problem of its own
    nameless = problem_step(incident("zabbix:5", fingerprint=None), ledger, rules, T0)
    assert nameless is not None and nameless.opens  # no fingerprint: no root cause to share


def test_a_duplicate_or_a_minor_incident_raises_none() -> None:
    ledger = MemoryLinks()
    assert problem_step(incident("zabbix:9", master_key="zabbix:1"), ledger, links(), T0) is None
    assert problem_step(incident("zabbix:10", Priority.MEDIUM), ledger, links(), T0) is None
    closed = problem_step(
        incident("zabbix:10", Priority.MEDIUM), ledger, links(), T0, closure_code=ClosureCode.SUCCESS_WITH_PROBLEM
    )
    assert closed is not None and "success with a problem" in closed.incident_note


def test_the_record_carries_ci_service_category_timeline_and_solution() -> None:
    state = incident("zabbix:1", assigned_at=T0 + timedelta(minutes=3), resolved_at=T0 + timedelta(minutes=40))
    record = problem_record(state, "problem:zabbix:1", "major incident P1", solution="replaced the line card")
    assert (record.ci, record.service, record.category) == ("core-sw01", "网络", "网络")
    text = record.description
    for expected in (
        "core-sw01",
        "网络",
        "2026-11-25T17:58:00+00:00",
        "2026-11-25T18:03:00+00:00",
        "2026-11-25T18:40:00+00:00",
        "replaced the line card",
        "ping lost",
    ):
        assert expected in text
    assert record.title.endswith("core switch down")


# --- the state file ------------------------------------------------------------------------------


def test_the_store_remembers_problems_and_changes_across_a_restart(tmp_path: Path) -> None:
    store = make_store(tmp_path / "state.db")
    with store.transaction():
        store.problem_add("problem:a", "fp", T0)
        store.problem_add("problem:a", "fp", T0 + timedelta(days=1))  # a repeat changes nothing
        assert store.problem_link("a", "problem:a", T0)
        assert not store.problem_link("a", "problem:b", T0)
        store.problem_set_ref("problem:a", "51", "http://x/51")
        assert store.change_link_add("a", "C1", T0)
        assert not store.change_link_add("a", "C1", T0)
        store.change_link_add("a", "C2", T0)
        store.change_link_close("a", "C1", T0 + timedelta(hours=1))
    store.close()
    store = make_store(tmp_path / "state.db")
    assert store.problem_of("a") == "problem:a"
    assert store.problem_for_root("fp", T0) == "problem:a"
    assert store.problem_for_root("fp", T0 + timedelta(seconds=1)) is None
    assert store.problem_ref("problem:a") == TicketRef(ticket_id="51", url="http://x/51")
    assert store.open_change_links() == [("a", "C2")]
    store.close()


# --- the daemon: the sync-back raises, the outbox writes once --------------------------------------


class Helpdesk(LocalBackend):
    """The local backend with problem records and change links kept in memory — a double of
    the helpdesk side only; the real ones are proved against Redmine and the GLPI contract."""

    problem_records = True
    change_links = True

    def __init__(self, path: Path, clock: FakeClock) -> None:
        super().__init__(path, clock)
        self.problems: dict[str, ProblemRecord] = {}
        self.relations: set[tuple[str, str]] = set()
        self.problem_notes: list[tuple[str, str]] = []
        self.changes: dict[str, tuple[str, bool]] = {}
        self.answer_500_after_commit = False
        self.change_reads = 0

    def find_problem(self, key: str) -> TicketRef | None:
        found = [pid for pid, record in self.problems.items() if record.key == key]
        return TicketRef(ticket_id=found[0], url="") if found else None

    def create_problem(self, problem: ProblemRecord) -> TicketRef:
        number = str(900 + len(self.problems))
        self.problems[number] = problem
        if self.answer_500_after_commit:
            self.answer_500_after_commit = False
            raise BackendUnavailable("HTTP 500 after the commit", backend=self.name, operation="create problem")
        return TicketRef(ticket_id=number, url="")

    def link_problem(self, problem_id: str, ticket_id: str) -> None:
        self.relations.add((problem_id, ticket_id))

    def add_problem_note(self, problem_id: str, text: str) -> None:
        self.problem_notes.append((problem_id, text))

    def linked_changes(self, ticket_ids: Sequence[str]) -> list[ChangeLink]:
        self.change_reads += 1
        return [
            ChangeLink(ticket_id=tid, change_id=cid, title="replace line card")
            for cid, (tid, closed) in self.changes.items()
            if tid in ticket_ids and not closed
        ]

    def closed_changes(self, change_ids: Sequence[str]) -> set[str]:
        return {cid for cid in change_ids if self.changes.get(cid, ("", True))[1]}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def helpdesk(tmp_path: Path, clock: FakeClock) -> Helpdesk:
    return Helpdesk(tmp_path / "tickets.db", clock)


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, helpdesk: Helpdesk) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=helpdesk,
        sources={},
        pipeline=Pipeline.from_manager(build_plugin_manager(), default_rulebook()),
        clock=clock,
    )


def major(clock: FakeClock, eid: str, **more: Any) -> Alert:
    fields: dict[str, Any] = {
        "source": "zabbix",
        "external_id": eid,
        "title": "core switch down",
        "ci": "core-sw01",
        "impact": 1,
        "urgency": 1,
        "occurred_at": clock.now(),
    }
    fields.update(more)
    return Alert(**fields)


def cycle(engine: Engine, sync: SyncBack, *alerts: Alert) -> None:
    if alerts:
        engine.ingest("zabbix", list(alerts))
        engine.process_pending()
    engine.drain_outbox()
    sync.run()
    engine.drain_outbox()


def test_the_capability_is_found_once_and_only_when_configured(helpdesk: Helpdesk) -> None:
    found = BackendCapabilities.of(helpdesk)
    assert found.problems is helpdesk and found.changes is helpdesk
    assert {"ProblemTracker", "ChangeTracker"} <= set(found.names)
    helpdesk.problem_records = False
    assert BackendCapabilities.of(helpdesk).problems is None


def test_a_p1_opens_one_problem_and_a_later_incident_of_the_same_fingerprint_joins_it(
    engine: Engine, clock: FakeClock, helpdesk: Helpdesk, tmp_path: Path
) -> None:
    sync = SyncBack(engine)
    cycle(engine, sync, major(clock, "1"))
    cycle(engine, sync)  # a second pass, and a restart's first pass, find it done
    engine.store.close()
    engine.store = make_store(tmp_path / "state.db")  # the same state, opened again
    sync = SyncBack(engine)
    cycle(engine, sync)
    ((problem_id, record),) = helpdesk.problems.items()
    first = engine.store.ticket_ref("zabbix:1")
    assert first is not None
    assert record.key == "problem:zabbix:1" and record.ci == "core-sw01"
    assert helpdesk.relations == {(problem_id, first.ticket_id)}
    (ticket,) = helpdesk.tickets()
    assert any("problem record problem:zabbix:1 raised" in note for note in ticket["notes"])
    # the incident recovers; the same fault the next day is a new incident of the same root cause
    clock.advance(minutes=30)
    cycle(engine, sync, major(clock, "1", occurred_at=T0, recovered_at=clock.now()))
    clock.advance(days=1)
    cycle(engine, sync, major(clock, "2"))
    second = engine.store.ticket_ref("zabbix:2")
    assert second is not None
    assert len(helpdesk.problems) == 1
    assert helpdesk.relations == {(problem_id, first.ticket_id), (problem_id, second.ticket_id)}
    ((noted_on, note),) = helpdesk.problem_notes
    assert noted_on == problem_id and "zabbix:2" in note


def test_a_problem_create_answered_500_after_the_commit_is_not_doubled(
    engine: Engine, clock: FakeClock, helpdesk: Helpdesk
) -> None:
    sync = SyncBack(engine)
    helpdesk.answer_500_after_commit = True
    cycle(engine, sync, major(clock, "1"))
    assert len(helpdesk.problems) == 1 and not helpdesk.relations  # created, but the answer was lost
    clock.advance(minutes=5)
    engine.drain_outbox()
    assert len(helpdesk.problems) == 1  # the retry found it by its key
    assert len(helpdesk.relations) == 1
    assert engine.store.outbox_rows("pending") == [] and engine.store.dead_letters() == []


def test_a_linked_change_makes_the_incident_pending_until_it_closes(
    engine: Engine, clock: FakeClock, helpdesk: Helpdesk
) -> None:
    sync = SyncBack(engine)
    cycle(engine, sync, major(clock, "1", impact=3, urgency=3))
    ref = engine.store.ticket_ref("zabbix:1")
    assert ref is not None
    clock.advance(minutes=10)
    helpdesk.changes["CHG-1"] = (ref.ticket_id, False)
    cycle(engine, sync)
    state = engine.store.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.PENDING_CHANGE
    assert state.suspended_since == clock.now()  # itil_links.yaml: pending change pauses the SLA
    (ticket,) = helpdesk.tickets()
    assert ticket["status"] == TicketStatus.PENDING_CHANGE
    cycle(engine, sync)  # seen again: nothing new
    assert sum("pending change" in note for note in helpdesk.tickets()[0]["notes"]) == 1
    clock.advance(hours=2)
    helpdesk.changes["CHG-1"] = (ref.ticket_id, True)
    cycle(engine, sync)
    state = engine.store.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.OPEN  # never accepted: back to open
    assert state.suspensions == ((clock.now() - timedelta(hours=2), clock.now()),)
    assert helpdesk.tickets()[0]["status"] == TicketStatus.OPEN
    assert engine.store.open_change_links() == []
    assert not helpdesk.problems  # a P3: no problem record


# --- the reports: pending-change time pauses the SLA as the rule says ---------------------------------


def test_the_report_counts_pending_change_time_as_paused_when_the_rule_says_so() -> None:
    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    def status(minutes: int, old: TicketStatus, new: TicketStatus) -> Change:
        return Change(at=at(minutes), actor="desk", kind=ChangeKind.STATUS, old=old.value, new=new.value)

    changes = (
        status(2, TicketStatus.OPEN, TicketStatus.IN_PROGRESS),
        status(10, TicketStatus.IN_PROGRESS, TicketStatus.PENDING_CHANGE),
        status(70, TicketStatus.PENDING_CHANGE, TicketStatus.IN_PROGRESS),
        status(80, TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED),
    )
    fields = {"title": "disk full", "impact": 3, "urgency": 3, "priority": Priority.MEDIUM, "registered_at": T0}
    history = TicketHistory(
        ticket_id="7",
        key="zabbix:7",
        created_at=T0,
        author="connector",
        status=TicketStatus.RESOLVED,
        assignee="lina",
        group=None,
        fields=fields,
        changes=changes,
    )
    paused = rebuild_record(history, pending_pauses=links().changes.pauses_sla).record
    assert paused.suspensions == ((at(10), at(70)),)
    assert rebuild_record(history).record.suspensions == ()  # the rule off: the clocks ran on
