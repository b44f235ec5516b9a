"""The process applied to what people do in the helpdesk (PROCESS §7, §11): reassignments,
the closing policy, suspensions, reopening — as pure rules, and through the sync-back job with
a helpdesk that tells who did what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.contracts.adapters import Change, ChangeKind, TicketHistory
from connector.domain.clock import FakeClock
from connector.domain.ledger import TicketState
from connector.domain.models import Alert, ClosureCode, ResolverRole, TicketStatus
from connector.domain.notice import NoticeKind, StatusEvent
from connector.plugins.local import LocalBackend
from connector.process.escalation import SweepRules
from connector.process.lifecycle import Event, EventKind, apply_event, events_from_history
from connector.process.pipeline import Pipeline
from connector.rules.ladder import load_escalation, load_notification_rules
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack, events_from_snapshot
from tests.state_backend import make_store

T0 = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Roster:
    """desk1 is 1st line, boss the incident manager; network is 2nd line, vendor a third party."""

    def may_close(self, login: str | None) -> bool | None:
        return None if login is None else login in ("desk1", "boss")

    def line_of(self, group: str | None) -> ResolverRole | None:
        return {"desk": ResolverRole.FIRST_LINE, "network": ResolverRole.SECOND_LINE}.get(group or "")


def state(**fields: Any) -> TicketState:
    values: dict[str, Any] = {
        "key": "zabbix:1",
        "ticket_id": "7",
        "status": TicketStatus.OPEN,
        "fingerprint": None,
        "created_at": T0,
    }
    values.update(fields)
    return TicketState(**values)


# --- reassignment (§7) ---------------------------------------------------------------------------


def test_the_first_assignment_starts_the_acceptance_clock() -> None:
    out = apply_event(state(), Event(EventKind.ASSIGN, at(3), "desk1", assignee="zhangw", group="network"), Roster())
    assert out.life == {"assignee": "zhangw", "assignment_group": "network", "assigned_at": at(3)}
    assert out.notices == [(NoticeKind.STATUS, None, StatusEvent.ASSIGNED, "")] and out.notes == []


def test_a_reassignment_within_the_group_is_not_monitored() -> None:
    assigned = state(assigned_at=at(3), assignee="zhangw", assignment_group="network")
    out = apply_event(assigned, Event(EventKind.ASSIGN, at(9), "zhangw", assignee="lina"), Roster())
    assert out.life == {"assignee": "lina", "assignment_group": "network"}
    assert "reassignments" not in out.life and [n[0] for n in out.notices] == [NoticeKind.STATUS]


def test_cross_group_reassignments_are_reported_and_the_third_escalates() -> None:
    ticket = state(assigned_at=at(3), assignee="zhangw", assignment_group="network")
    kinds = []
    for n, group in enumerate(("apps", "network", "apps"), start=1):
        out = apply_event(ticket, Event(EventKind.ASSIGN, at(10 * n), "zhangw", group=group), Roster())
        assert out.life["reassignments"] == n and out.changes == {"reassignment_count": n}
        kinds.append([k for k, *_ in out.notices].count(NoticeKind.REASSIGNMENT_ALERT))
        assert out.notes[0].startswith(f"跨组转派 cross-group reassignment #{n}: ")
        ticket = state(assigned_at=at(3), assignee="zhangw", assignment_group=group, reassignments=n)
    assert kinds == [1, 1, 2]  # more than 2: reported and escalated to the incident manager
    assert "escalated" in out.notes[1] and "incident manager" in out.notes[1]


# --- closing (§11) -------------------------------------------------------------------------------


def test_only_the_first_line_or_the_incident_manager_may_close() -> None:
    resolved = state(status=TicketStatus.RESOLVED, resolved_at=at(30))
    for login in ("desk1", "boss"):
        out = apply_event(resolved, Event(EventKind.CLOSE, at(60), login, closure_code=ClosureCode.SUCCESS), Roster())
        assert out.status is TicketStatus.CLOSED and out.revert_to is None
        assert out.changes == {"closure_code": ClosureCode.SUCCESS}
    out = apply_event(resolved, Event(EventKind.CLOSE, at(60), "zhangw", closure_code=ClosureCode.SUCCESS), Roster())
    assert out.status is None and out.revert_to is TicketStatus.RESOLVED
    assert out.notes[0].startswith("关闭被撤销 close reverted: zhangw may not close tickets")
    assert out.notices[0][0] is NoticeKind.POLICY_ALERT


def test_a_close_without_a_closure_code_is_reverted_even_by_the_desk() -> None:
    resolved = state(status=TicketStatus.RESOLVED, resolved_at=at(30))
    out = apply_event(resolved, Event(EventKind.CLOSE, at(60), "desk1"), Roster())
    assert out.revert_to is TicketStatus.RESOLVED and "a closure code is required" in out.notes[0]


def test_a_close_straight_from_in_progress_is_reverted_to_in_progress() -> None:
    working = state(status=TicketStatus.IN_PROGRESS, accepted_at=at(5))
    out = apply_event(working, Event(EventKind.CLOSE, at(60), "zhangw", closure_code=ClosureCode.SUCCESS), Roster())
    assert out.revert_to is TicketStatus.IN_PROGRESS


def test_not_completed_opens_a_new_ticket_for_the_original_handler() -> None:
    resolved = state(status=TicketStatus.RESOLVED, assignee="zhangw", assignment_group="network")
    out = apply_event(
        resolved, Event(EventKind.CLOSE, at(60), "desk1", closure_code=ClosureCode.NOT_COMPLETED), Roster()
    )
    assert out.status is TicketStatus.CLOSED
    assert out.new_ticket is not None
    assert (out.new_ticket.key, out.new_ticket.assignee, out.new_ticket.group) == (
        "zabbix:1/reopen-1",
        "zhangw",
        "network",
    )


def test_without_a_roster_a_close_stands_but_still_needs_its_code() -> None:
    resolved = state(status=TicketStatus.RESOLVED)
    assert apply_event(resolved, Event(EventKind.CLOSE, at(1), "x", closure_code=ClosureCode.SUCCESS), None).status is (
        TicketStatus.CLOSED
    )
    assert apply_event(resolved, Event(EventKind.CLOSE, at(1), "x"), None).revert_to is TicketStatus.RESOLVED


# --- clocks ----------------------------------------------------------------------------------------


def test_suspension_and_resolution() -> None:
    working = state(status=TicketStatus.IN_PROGRESS, assigned_at=at(1), accepted_at=at(2), assignment_group="network")
    suspended = apply_event(working, Event(EventKind.SUSPEND, at(10)), Roster())
    assert suspended.life == {"suspended_since": at(10)} and suspended.status is TicketStatus.SUSPENDED
    paused = state(status=TicketStatus.SUSPENDED, accepted_at=at(2), suspended_since=at(10), assignment_group="network")
    resumed = apply_event(paused, Event(EventKind.RESUME, at(40)), Roster())
    assert resumed.life == {"suspensions": ((at(10), at(40)),), "suspended_since": None}
    assert resumed.status is TicketStatus.IN_PROGRESS
    resolved = apply_event(paused, Event(EventKind.RESOLVE, at(50)), Roster())
    assert resolved.life["suspensions"] == ((at(10), at(50)),) and resolved.status is TicketStatus.RESOLVED
    assert resolved.changes == {"resolver_role": ResolverRole.SECOND_LINE}


# --- from a history ---------------------------------------------------------------------------------


def history(*changes: Change, fields: dict[str, Any] | None = None) -> TicketHistory:
    return TicketHistory("7", "zabbix:1", T0, "connector", TicketStatus.OPEN, None, None, fields or {}, changes)


def test_events_from_history_read_one_journal_entry_together_and_skip_our_own() -> None:
    events = events_from_history(
        history(
            Change(at(1), "desk1", ChangeKind.NOTE, None, "applied before: skipped"),
            Change(at(3), "connector", ChangeKind.STATUS, "open", "resolved"),  # our own: not an event
            Change(at(4), "desk1", ChangeKind.ASSIGNEE, None, "zhangw"),
            Change(at(4), "desk1", ChangeKind.GROUP, None, "network"),
            Change(at(6), "zhangw", ChangeKind.STATUS, "open", "in_progress"),
            Change(at(8), "zhangw", ChangeKind.STATUS, "in_progress", "suspended"),
            Change(at(9), "zhangw", ChangeKind.STATUS, "suspended", "in_progress"),
            Change(at(20), "zhangw", ChangeKind.STATUS, "in_progress", "resolved"),
            Change(at(30), "desk1", ChangeKind.STATUS, "resolved", "closed"),
            Change(at(30), "desk1", ChangeKind.FIELD, None, "success_with_problem", field="closure_code"),
            Change(at(35), "boss", ChangeKind.STATUS, "closed", "in_progress"),
        ),
        skip=1,
        own_login="connector",
    )
    assert [(e.kind, e.at, e.actor) for e in events] == [
        (EventKind.ASSIGN, at(4), "desk1"),
        (EventKind.ACCEPT, at(6), "zhangw"),
        (EventKind.SUSPEND, at(8), "zhangw"),
        (EventKind.RESUME, at(9), "zhangw"),
        (EventKind.RESOLVE, at(20), "zhangw"),
        (EventKind.CLOSE, at(30), "desk1"),
        (EventKind.REOPEN, at(35), "boss"),
        (EventKind.ACCEPT, at(35), "boss"),
    ]
    assert (events[0].assignee, events[0].group) == ("zhangw", "network")
    assert events[5].closure_code is ClosureCode.SUCCESS_WITH_PROBLEM


# --- through the sync-back job ------------------------------------------------------------------------


class Desk(LocalBackend):
    """The local helpdesk, plus a history people write (what a HistoryReader answers)."""

    own_login = "connector"
    resolves_duplicates = False

    def __init__(self, path: Path, clock: FakeClock) -> None:
        super().__init__(path, clock)
        self.changes: dict[str, list[Change]] = {}

    def act(self, ticket_id: str, change: Change, **fields: Any) -> None:
        self.changes.setdefault(ticket_id, []).append(change)
        self.update_ticket(ticket_id, fields)

    def ticket_history(self, ticket_id: str) -> TicketHistory:
        row_id, data = self._row(ticket_id)
        return TicketHistory(
            str(row_id),
            data["key"],
            T0,
            "connector",
            TicketStatus(data["status"]),
            None,
            None,
            data,
            tuple(self.changes.get(ticket_id, ())),
        )


@pytest.fixture
def desk(tmp_path: Path, clock: FakeClock) -> Desk:
    return Desk(tmp_path / "desk.db", clock)


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, desk: Desk, pm: pluggy.PluginManager) -> Engine:
    rules = default_rulebook()
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=desk,
        sources={},
        pipeline=Pipeline.from_manager(pm, rules),
        clock=clock,
        sweep_rules=SweepRules(rules.sla, load_escalation(), load_notification_rules()),
    )


def raise_problem(engine: Engine, clock: FakeClock, eid: str, **extra: Any) -> str:
    alert = Alert(
        source="zabbix",
        external_id=eid,
        title=f"Interface down on sw-{eid}",
        ci=f"sw-{eid}",
        host_groups=("Metro/Network core",),
        severity=4,
        occurred_at=clock.now(),
        **extra,
    )
    engine.ingest("zabbix", [alert])
    engine.process_pending()
    engine.drain_outbox()
    ref = engine.store.ticket_ref(f"zabbix:{eid}")
    assert ref is not None
    return ref[0]


def test_sync_back_reverts_an_illegal_close_and_records_the_clocks(
    engine: Engine, clock: FakeClock, desk: Desk
) -> None:
    sync = SyncBack(engine, Roster())
    ticket_id = raise_problem(engine, clock, "1")
    desk.act(ticket_id, Change(at(2), "desk1", ChangeKind.ASSIGNEE, None, "zhangw"), assignee="zhangw")
    desk.act(ticket_id, Change(at(5), "zhangw", ChangeKind.STATUS, "open", "in_progress"), status="in_progress")
    desk.act(ticket_id, Change(at(20), "zhangw", ChangeKind.STATUS, "in_progress", "resolved"), status="resolved")
    desk.act(ticket_id, Change(at(21), "zhangw", ChangeKind.STATUS, "resolved", "closed"), status="closed")
    clock.set(at(22))
    assert sync.run() == 4
    engine.drain_outbox()
    state = engine.store.get("zabbix:1")
    assert state is not None
    assert (state.assigned_at, state.accepted_at, state.resolved_at) == (at(2), at(5), at(20))
    assert state.status is TicketStatus.RESOLVED  # the close did not count
    (ticket,) = desk.tickets()
    assert ticket["status"] == TicketStatus.RESOLVED.value  # and was reverted in the helpdesk
    assert any(n.startswith("关闭被撤销 close reverted: zhangw may not close") for n in ticket["notes"])
    assert sync.run() == 0  # the same history again changes nothing
    # the desk closes it properly
    desk.act(ticket_id, Change(at(30), "desk1", ChangeKind.STATUS, "resolved", "closed"), status="closed")
    desk.act(ticket_id, Change(at(30), "desk1", ChangeKind.FIELD, None, "success", field="closure_code"))
    clock.set(at(31))
    sync.run()
    state = engine.store.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.CLOSED and state.closed_at == at(30)


def test_sync_back_cascades_a_resolved_master_to_its_duplicates_and_reports_reassignments(
    engine: Engine, clock: FakeClock, desk: Desk
) -> None:
    sync = SyncBack(engine, Roster())
    master = raise_problem(engine, clock, "1")
    clock.advance(minutes=1)
    engine.ingest(
        "zabbix",
        [
            Alert(
                source="zabbix",
                external_id="2",
                title="Interface down on sw-1",
                ci="sw-1",
                host_groups=("Metro/Network core",),
                severity=4,
                occurred_at=clock.now(),
            )
        ],
    )
    engine.process_pending()
    engine.drain_outbox()
    desk.act(master, Change(at(2), "desk1", ChangeKind.GROUP, None, "network"), assignment_group="network")
    desk.act(master, Change(at(3), "zhangw", ChangeKind.GROUP, "network", "apps"), assignment_group="apps")
    desk.act(master, Change(at(10), "x", ChangeKind.STATUS, "open", "resolved"), status="resolved")
    clock.set(at(11))
    sync.run()
    engine.drain_outbox()
    tickets = {t["key"]: t for t in desk.tickets()}
    assert tickets["zabbix:2"]["status"] == TicketStatus.RESOLVED.value  # resolved with its master
    assert tickets["zabbix:1"]["reassignment_count"] == 1
    assert any(
        n.startswith("跨组转派 cross-group reassignment #1: network → apps by zhangw")
        for n in tickets["zabbix:1"]["notes"]
    )


def test_events_from_a_snapshot_when_the_helpdesk_has_no_history() -> None:
    from connector.contracts.adapters import TicketSnapshot

    known = state(status=TicketStatus.OPEN)
    snap = TicketSnapshot("7", "zabbix:1", TicketStatus.RESOLVED, at(9), assignee="zhangw", fields={})
    events = events_from_snapshot(known, snap)
    assert [(e.kind, e.at, e.actor) for e in events] == [
        (EventKind.ASSIGN, at(9), None),
        (EventKind.RESOLVE, at(9), None),
    ]


def test_a_close_not_completed_opens_a_new_ticket_for_the_handler(engine: Engine, clock: FakeClock, desk: Desk) -> None:
    sync = SyncBack(engine, Roster())
    ticket_id = raise_problem(engine, clock, "1")
    desk.act(ticket_id, Change(at(2), "desk1", ChangeKind.ASSIGNEE, None, "zhangw"), assignee="zhangw")
    desk.act(ticket_id, Change(at(20), "zhangw", ChangeKind.STATUS, "open", "resolved"), status="resolved")
    desk.act(ticket_id, Change(at(30), "desk1", ChangeKind.STATUS, "resolved", "closed"), status="closed")
    desk.act(ticket_id, Change(at(30), "desk1", ChangeKind.FIELD, None, "not_completed", field="closure_code"))
    clock.set(at(31))
    sync.run()
    engine.drain_outbox()
    tickets = {t["key"]: t for t in desk.tickets()}
    again = tickets["zabbix:1/reopen-1"]
    assert again["assignee"] == "zhangw" and again["title"].startswith("[未完成 not completed] Interface down on sw-1")
    assert again["relations"] == [("relates", tickets["zabbix:1"]["id"])]
    assert again["recurrence_of"] == "zabbix:1"
    state = engine.store.get("zabbix:1/reopen-1")
    assert state is not None and state.assigned_at == at(31) and state.status is TicketStatus.OPEN
    assert any(
        "未完成 not completed: a new ticket zabbix:1/reopen-1 goes to zhangw" in n for n in tickets["zabbix:1"]["notes"]
    )


def test_two_changes_of_the_same_thing_within_a_second_are_two_events() -> None:
    events = events_from_history(
        history(
            Change(at(4), "zhangw", ChangeKind.GROUP, "network", "apps"),
            Change(at(4), "zhangw", ChangeKind.GROUP, "apps", "network"),
        ),
        skip=0,
        own_login=None,
    )
    assert [(e.kind, e.group) for e in events] == [(EventKind.ASSIGN, "apps"), (EventKind.ASSIGN, "network")]
