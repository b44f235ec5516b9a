"""One set of behaviours every backend must have, run on each (see conftest.py).

Each check reads the result back through the harness — the helpdesk's own storage or API, not
the backend under test — so a write the helpdesk dropped silently fails the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.contracts.adapters import ChangeKind, HistoryReader, Relation, Resolution
from connector.domain.clock import FakeClock
from connector.domain.models import Impact, Priority, Ticket, TicketSource, TicketStatus, Urgency
from connector.kpi.export import OwnLogin
from tests.conformance.harness import Harness, LandsThenTimesOut, an_alert, make_engine, new_key

OUTAGE_END = datetime(2026, 11, 26, 3, 10, tzinfo=UTC)


def a_ticket(key: str, **overrides: Any) -> Ticket:
    values: dict[str, Any] = {
        "title": f"Core switch cs-01 down ({key})",
        "description": "ICMP ping loss 100% on cs-01",
        "key": key,
        "impact": Impact.SEVERE,
        "urgency": Urgency.URGENT,
        "priority": Priority.HIGH,
        "source": TicketSource.MONITORING,
        "ci": "cs-01",
    }
    values.update(overrides)
    return Ticket(**values)


def resolution(note: str = "Zabbix reports the problem resolved") -> Resolution:
    return Resolution(at=OUTAGE_END, note=note, outage_end=OUTAGE_END)


def test_create_then_find_by_key(harness: Harness) -> None:
    backend = harness.backend
    key = new_key()
    assert backend.find_by_key(key) is None

    ref = backend.create_ticket(a_ticket(key))

    assert harness.with_key(key) == [ref.ticket_id]
    assert harness.title(ref.ticket_id) == f"Core switch cs-01 down ({key})"
    assert harness.status(ref.ticket_id) is TicketStatus.OPEN
    found = backend.find_by_key(key)
    assert found is not None and found.ticket_id == ref.ticket_id and found.url == ref.url
    assert backend.find_by_key(key + "-other") is None


def test_a_create_that_landed_before_a_crash_is_found_not_doubled(harness: Harness, tmp_path: Path) -> None:
    """The helpdesk created the ticket but its answer never reached the connector: the engine's
    retry looks the key up (``find_by_key``) and does not create a second ticket."""
    flaky = LandsThenTimesOut(harness.backend)
    clock = FakeClock(datetime(2026, 11, 26, 2, 40, tzinfo=UTC))
    engine = make_engine(flaky, clock, tmp_path / "state.db")  # type: ignore[arg-type]
    alert = an_alert(clock)
    engine.ingest(alert.source, [alert])
    engine.process_pending()

    assert engine.drain_outbox() == 0  # the create "timed out"
    clock.advance(minutes=1)
    assert engine.drain_outbox() == 1  # the retry found the ticket

    [landed] = flaky.landed
    assert flaky.creates == 1
    assert harness.with_key(alert.key) == [landed.ticket_id]
    engine.store.close()


def test_update_sets_status_and_fields_with_a_note(harness: Harness) -> None:
    backend = harness.backend
    ref = backend.create_ticket(a_ticket(new_key()))
    backend.update_ticket(
        ref.ticket_id,
        {"status": TicketStatus.IN_PROGRESS, "impact": Impact.VERY_IMPORTANT, "kb_used": True},
        note="escalated to line 2",
    )
    assert harness.status(ref.ticket_id) is TicketStatus.IN_PROGRESS
    assert any("escalated to line 2" in text for text in harness.texts(ref.ticket_id))


def test_add_note(harness: Harness) -> None:
    backend = harness.backend
    ref = backend.create_ticket(a_ticket(new_key()))
    backend.add_note(ref.ticket_id, "Zabbix: problem still active\nsecond line")
    assert harness.texts(ref.ticket_id) == ["Zabbix: problem still active\nsecond line"]


def test_resolve(harness: Harness) -> None:
    backend = harness.backend
    ref = backend.create_ticket(a_ticket(new_key()))
    backend.resolve_ticket(ref.ticket_id, resolution())
    assert harness.status(ref.ticket_id) is TicketStatus.RESOLVED
    assert any("Zabbix reports the problem resolved" in text for text in harness.texts(ref.ticket_id))
    backend.resolve_ticket(ref.ticket_id, resolution("again"))  # a retry is not an error
    assert harness.status(ref.ticket_id) is TicketStatus.RESOLVED


def test_duplicate_link_and_the_cascade_when_the_master_is_resolved(harness: Harness) -> None:
    """PROCESS §9: resolving the master resolves its duplicates. A backend whose helpdesk does
    it itself says ``resolves_duplicates``; otherwise the duplicates stay for the engine."""
    backend = harness.backend
    master = backend.create_ticket(a_ticket(new_key())).ticket_id
    duplicates = [backend.create_ticket(a_ticket(new_key())).ticket_id for _ in range(2)]
    for dup in duplicates:
        backend.add_relation(dup, master, Relation.DUPLICATES)
    backend.add_relation(duplicates[0], master, Relation.DUPLICATES)  # linking twice is not an error
    assert {(d, master, Relation.DUPLICATES) for d in duplicates} <= harness.links(master)

    backend.resolve_ticket(master, resolution())

    assert harness.status(master) is TicketStatus.RESOLVED
    expected = TicketStatus.RESOLVED if backend.resolves_duplicates else TicketStatus.OPEN
    assert [harness.status(d) for d in duplicates] == [expected, expected]


def test_resolving_a_duplicate_never_resolves_its_master(harness: Harness) -> None:
    """One repeat of a storm recovering is no reason to resolve the master (PROCESS §9: the
    cascade runs master → duplicates only)."""
    backend = harness.backend
    master = backend.create_ticket(a_ticket(new_key())).ticket_id
    early, late = (backend.create_ticket(a_ticket(new_key())).ticket_id for _ in range(2))
    backend.add_relation(early, master, Relation.DUPLICATES)
    backend.add_relation(late, master, Relation.DUPLICATES)

    backend.resolve_ticket(early, resolution("this access switch recovered"))

    assert harness.status(early) is TicketStatus.RESOLVED
    assert harness.status(master) is TicketStatus.OPEN and harness.status(late) is TicketStatus.OPEN


def test_recurrence_link(harness: Harness) -> None:
    backend = harness.backend
    original = backend.create_ticket(a_ticket(new_key())).ticket_id
    backend.resolve_ticket(original, resolution())
    recurrence = backend.create_ticket(a_ticket(new_key())).ticket_id

    backend.add_relation(recurrence, original, Relation.RELATES)
    backend.add_relation(recurrence, original, Relation.RELATES)

    links = harness.links(recurrence)
    assert len(links) == 1
    [(a, b, kind)] = links
    assert kind is Relation.RELATES and {a, b} == {original, recurrence}
    assert harness.status(original) is TicketStatus.RESOLVED and harness.status(recurrence) is TicketStatus.OPEN


def test_changed_since(harness: Harness) -> None:
    backend = harness.backend
    harness.let_time_pass()
    before = harness.clock.now() - timedelta(seconds=1)
    key = new_key()
    ref = backend.create_ticket(a_ticket(key))
    harness.let_time_pass()
    backend.update_ticket(ref.ticket_id, {"status": TicketStatus.IN_PROGRESS})

    snapshots = {s.ticket_id: s for s in backend.changed_since(before)}

    mine = snapshots[ref.ticket_id]
    assert mine.key == key and mine.status is TicketStatus.IN_PROGRESS
    assert mine.updated_at >= before
    assert all(s.updated_at >= before.replace(microsecond=0) for s in snapshots.values())
    later = backend.changed_since(harness.clock.now() + timedelta(days=1))
    assert ref.ticket_id not in {s.ticket_id for s in later}


def test_add_attachment(harness: Harness) -> None:
    backend = harness.backend
    ref = backend.create_ticket(a_ticket(new_key()))
    content = "磁盘报告\n".encode() + bytes(range(256))
    backend.add_attachment(ref.ticket_id, "../../etc/报告 disk.txt", content, "text/plain")
    # the file keeps its name; a helpdesk may drop the path part (the local one keeps it)
    assert [(name.rsplit("/", 1)[-1], data) for name, data in harness.attachments(ref.ticket_id)] == [
        ("报告 disk.txt", content)
    ]


def test_the_history_names_the_connector_and_its_changes(harness: Harness) -> None:
    """Every backend reads back what it wrote as changes by the connector's own login, oldest
    first: the statuses as process statuses, the note, the field (``HistoryReader``)."""
    backend = harness.backend
    ref = backend.create_ticket(a_ticket(new_key()))
    harness.let_time_pass()
    backend.update_ticket(ref.ticket_id, {"status": TicketStatus.IN_PROGRESS, "kb_used": True}, note="on it")
    harness.let_time_pass()
    backend.resolve_ticket(ref.ticket_id, resolution())
    assert isinstance(backend, HistoryReader) and isinstance(backend, OwnLogin)
    me = backend.connector_login()

    h = backend.ticket_history(ref.ticket_id)

    assert me and h.author == me and h.ticket_id == ref.ticket_id
    assert h.status is TicketStatus.RESOLVED and h.fields["kb_used"] is True
    statuses = [(c.old, c.new) for c in h.changes if c.kind is ChangeKind.STATUS]
    assert statuses == [("open", "in_progress"), ("in_progress", "resolved")]
    notes = [c.new or "" for c in h.changes if c.kind is ChangeKind.NOTE]
    assert "on it" in notes[0] and "Zabbix reports the problem resolved" in notes[-1]
    assert {c.actor for c in h.changes} == {me}
    moments = [c.at for c in h.changes]
    assert moments == sorted(moments) and moments[0] > h.created_at - timedelta(seconds=1)
