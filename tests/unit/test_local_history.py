"""The local backend's history: every change it makes, with its time and who made it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.contracts.adapters import ChangeKind, HistoryReader, Relation, Resolution
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendRejected
from connector.domain.models import ClosureCode, Impact, Ticket, TicketStatus
from connector.plugins.local import LocalBackend

T0 = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)


def a_ticket(key: str = "zabbix:1", **values: object) -> Ticket:
    return Ticket.model_validate({"title": "Core switch down", "description": "ping loss", "key": key, **values})


def test_every_change_is_recorded_with_its_time_and_actor(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    backend = LocalBackend(tmp_path / "helpdesk.db", clock)
    assert isinstance(backend, HistoryReader)
    ref = backend.create_ticket(a_ticket(assignment_group="network"))
    clock.advance(minutes=5)
    with backend.as_user("desk"):
        backend.update_ticket(ref.ticket_id, {"assignee": "zhangw"})
    clock.advance(minutes=3)
    backend.update_ticket(
        ref.ticket_id, {"status": TicketStatus.IN_PROGRESS, "impact": Impact.SEVERE}, "on it", actor="zhangw"
    )
    clock.advance(minutes=1)
    backend.update_ticket(ref.ticket_id, {"impact": Impact.SEVERE}, actor="zhangw")  # no change: no row
    backend.add_note(ref.ticket_id, "Zabbix: still down")  # the connector again, outside as_user
    clock.advance(minutes=30)
    backend.resolve_ticket(ref.ticket_id, Resolution(at=clock.now(), note="fixed"), actor="zhangw")
    clock.advance(minutes=20)
    with backend.as_user("desk"):
        backend.update_ticket(
            ref.ticket_id, {"status": TicketStatus.CLOSED, "closure_code": ClosureCode.SUCCESS, "kb_used": True}
        )
        backend.update_ticket(ref.ticket_id, {"assignment_group": "service-desk"})

    h = backend.ticket_history(ref.ticket_id)
    assert (h.ticket_id, h.key, h.created_at, h.author) == (ref.ticket_id, "zabbix:1", T0, "connector")
    assert (h.status, h.assignee, h.group) == (TicketStatus.CLOSED, "zhangw", "service-desk")
    assert h.fields["closure_code"] is ClosureCode.SUCCESS and h.fields["kb_used"] is True
    assert h.fields["title"] == "Core switch down" and "key" not in h.fields
    seen = [(c.at, c.actor, c.kind, c.field, c.old, c.new) for c in h.changes]
    assert seen == [
        (T0.replace(minute=5), "desk", ChangeKind.ASSIGNEE, None, None, "zhangw"),
        (T0.replace(minute=8), "zhangw", ChangeKind.STATUS, None, "open", "in_progress"),
        (T0.replace(minute=8), "zhangw", ChangeKind.FIELD, "impact", "3", "2"),
        (T0.replace(minute=8), "zhangw", ChangeKind.NOTE, None, None, "on it"),
        (T0.replace(minute=9), "connector", ChangeKind.NOTE, None, None, "Zabbix: still down"),
        (T0.replace(minute=39), "zhangw", ChangeKind.STATUS, None, "in_progress", "resolved"),
        (T0.replace(minute=39), "zhangw", ChangeKind.NOTE, None, None, "fixed"),
        (T0.replace(minute=59), "desk", ChangeKind.STATUS, None, "resolved", "closed"),
        (T0.replace(minute=59), "desk", ChangeKind.FIELD, "closure_code", None, "success"),
        (T0.replace(minute=59), "desk", ChangeKind.FIELD, "kb_used", "false", "true"),
        (T0.replace(minute=59), "desk", ChangeKind.GROUP, None, "network", "service-desk"),
    ]
    assert backend.connector_login() == "connector"


def test_the_cascade_to_duplicates_is_recorded_on_each(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    backend = LocalBackend(tmp_path / "helpdesk.db", clock)
    master = backend.create_ticket(a_ticket("zabbix:1"))
    dup = backend.create_ticket(a_ticket("zabbix:2", duplicate_of="zabbix:1"), actor="desk")
    backend.add_relation(dup.ticket_id, master.ticket_id, Relation.DUPLICATES)
    clock.advance(minutes=10)
    backend.resolve_ticket(master.ticket_id, Resolution(at=clock.now(), note="recovered"))
    h = backend.ticket_history(dup.ticket_id)
    assert h.author == "desk" and h.status is TicketStatus.RESOLVED
    assert [(c.kind, c.new, c.actor) for c in h.changes] == [
        (ChangeKind.STATUS, "resolved", "connector"),
        (ChangeKind.NOTE, f"Resolved with its master #{master.ticket_id}.", "connector"),
    ]


def test_an_unknown_ticket_is_refused(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "helpdesk.db", FakeClock(T0))
    with pytest.raises(BackendRejected):
        backend.ticket_history("7")
    with pytest.raises(BackendRejected):
        backend.ticket_history("not-a-number")


def test_a_file_from_before_the_history_still_reads(tmp_path: Path) -> None:
    """A helpdesk file written by an earlier version has tickets but no history rows."""
    path = tmp_path / "helpdesk.db"
    old = LocalBackend(path, FakeClock(T0))
    ref = old.create_ticket(a_ticket())
    old._db.execute("DELETE FROM authors")
    old.close()
    h = LocalBackend(path, FakeClock(T0)).ticket_history(ref.ticket_id)
    assert h.author is None and h.changes == () and h.status is TicketStatus.OPEN
