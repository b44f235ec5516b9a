"""GLPI writes that a retry must not double, refusals that must wait instead of being
dead-lettered, and a failed optional lookup that must not hold a ticket back (issue 17).

Every test runs against the stateful GLPI fake (``glpi_fake``); "answers 500 after the commit"
is ``fake.fail(..., after=True)``: GLPI stores the item, then the answer fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.contracts.adapters import Relation, Resolution
from connector.contracts.delivery import delivering
from connector.domain.clock import FakeClock
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.models import Ticket, TicketSource
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.integrations.glpi.fields import op_marker_of
from connector.integrations.glpi.writes import GlpiRightMissing
from connector.runtime.engine import BACKEND, Engine
from tests.conformance.harness import drive_engine_once
from tests.conftest import T0
from tests.contract.glpi_fake import URL, USER_TOKEN, GlpiFake

SQL_ERROR = ["ERROR_SQL", "Unexpected SQL Error"]


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GlpiFake]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield GlpiFake(rsps, clock)


def make_backend(clock: FakeClock, **overrides: Any) -> GlpiBackend:
    settings = GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN), **overrides)
    return GlpiBackend(settings, clock=clock, session=requests.Session())


@pytest.fixture
def engine(fake: GlpiFake, clock: FakeClock, tmp_path: Path) -> Iterator[tuple[Engine, str, int]]:
    """An engine whose first alert's ticket exists in GLPI: (engine, its key, its GLPI id)."""
    engine, key = drive_engine_once(make_backend(clock), clock, tmp_path)
    (tid,) = fake.tickets
    yield engine, key, tid
    engine.store.close()


def owe(engine: Engine, clock: FakeClock, key: str, op: str, payload: dict[str, Any]) -> int:
    with engine.store.transaction():
        return engine.store.enqueue(BACKEND, op, key, payload, clock.now())


def drain_twice(engine: Engine, clock: FakeClock) -> tuple[int, int]:
    """Drain, then drain again once the outbox's backoff has passed."""
    first = engine.drain_outbox()
    clock.advance(seconds=600)
    return first, engine.drain_outbox()


def texts(contents: list[str]) -> list[str]:
    return [content for content in contents if "hands off" in content or "Resolved" in content]


# --- 4. a write GLPI committed but answered 500 is not doubled by the retry --------------------------


def test_a_note_committed_then_answered_500_appears_once(
    fake: GlpiFake, engine: tuple[Engine, str, int], clock: FakeClock
) -> None:
    eng, key, tid = engine
    op_id = owe(eng, clock, key, "note", {"text": "hands off, the vendor is on site"})
    fake.fail("POST", "ITILFollowup/", 500, SQL_ERROR, after=True)
    assert drain_twice(eng, clock) == (0, 1)
    notes = texts(fake.followups_of(tid))
    assert len(notes) == 1
    assert op_marker_of(notes[0]) is not None and op_marker_of(notes[0]).startswith(f"[itsm-op:{op_id}-")
    assert fake.count("POST", "ITILFollowup/") == 1  # the retry found it and did not post again
    assert fake.count("GET", f"Ticket/{tid}/ITILFollowup") == 1


def test_a_note_that_did_not_land_is_posted_by_the_retry(
    fake: GlpiFake, engine: tuple[Engine, str, int], clock: FakeClock
) -> None:
    eng, key, tid = engine
    owe(eng, clock, key, "note", {"text": "hands off, the vendor is on site"})
    fake.fail("POST", "ITILFollowup/", 500, SQL_ERROR)  # refused before anything was stored
    assert drain_twice(eng, clock) == (0, 1)
    assert len(texts(fake.followups_of(tid))) == 1
    assert fake.count("POST", "ITILFollowup/") == 2


def test_a_first_attempt_costs_one_call(fake: GlpiFake, engine: tuple[Engine, str, int], clock: FakeClock) -> None:
    eng, key, _tid = engine
    before = len(fake.calls)
    owe(eng, clock, key, "note", {"text": "hands off, the vendor is on site"})
    assert eng.drain_outbox() == 1
    assert fake.calls[before:] == [("POST", "ITILFollowup/")]


def test_an_update_note_committed_then_answered_500_appears_once(
    fake: GlpiFake, engine: tuple[Engine, str, int], clock: FakeClock
) -> None:
    eng, key, tid = engine
    owe(eng, clock, key, "update", {"changes": {"ci": "web02"}, "note": "hands off: moved to web02"})
    fake.fail("POST", "ITILFollowup/", 500, SQL_ERROR, after=True)
    assert drain_twice(eng, clock) == (0, 1)
    assert len(texts(fake.followups_of(tid))) == 1


def test_a_solution_committed_then_answered_500_is_not_doubled(
    fake: GlpiFake, engine: tuple[Engine, str, int], clock: FakeClock
) -> None:
    eng, key, tid = engine
    owe(eng, clock, key, "resolve", {"note": "Resolved: recovered", "at": T0.isoformat()})
    fake.fail("POST", "ITILSolution/", 500, SQL_ERROR, after=True)
    assert drain_twice(eng, clock) == (0, 1)
    assert len(fake.solutions_of(tid)) == 1 and fake.ticket(tid)["status"] == 5


def test_a_link_committed_then_answered_500_is_not_doubled(fake: GlpiFake, clock: FakeClock) -> None:
    backend = make_backend(clock)
    one, two = (int(backend.create_ticket(a_ticket(f"k:{n}")).ticket_id) for n in range(2))
    fake.fail("POST", "Ticket_Ticket/", 500, SQL_ERROR, after=True)
    with pytest.raises(BackendUnavailable):
        backend.add_relation(str(one), str(two), Relation.DUPLICATES)
    backend.add_relation(str(one), str(two), Relation.DUPLICATES)  # the retry
    assert [(r["tickets_id_1"], r["tickets_id_2"], r["link"]) for r in fake.links.values()] == [(one, two, 2)]


def test_the_history_does_not_show_the_operation_marker(fake: GlpiFake, clock: FakeClock) -> None:
    backend = make_backend(clock)
    tid = backend.create_ticket(a_ticket("k:1")).ticket_id
    with delivering(41, retry=False):
        backend.add_note(tid, "hands off, the vendor is on site")
    assert "[itsm-op:41-" in fake.followups_of(tid)[-1]
    notes = [c.new for c in backend.ticket_history(tid).changes if c.kind.value == "note"]
    assert notes == ["hands off, the vendor is on site"]


# --- 5. a missing right waits in the outbox --------------------------------------------------------


@pytest.mark.parametrize(
    ("itemtype", "action"),
    [
        ("Ticket", "create tickets (Assistance › Tickets: 'Create')"),
        ("ITILFollowup", "add follow-ups (Assistance › Followups: 'Add to all tickets')"),
        ("Ticket_Ticket", "link tickets (Assistance › Tickets: 'Update' (on both linked tickets))"),
        ("Document", "add documents (Management › Documents: 'Create'"),
        ("ITILSolution", "solve tickets (Assistance › Tickets: 'Update'"),
    ],
)
def test_a_missing_right_on_an_add_is_transient_and_names_the_right(
    fake: GlpiFake, clock: FakeClock, itemtype: str, action: str
) -> None:
    backend = make_backend(clock)
    existing = [backend.create_ticket(a_ticket(f"k:{n}")).ticket_id for n in range(2)]
    fake.deny_add(itemtype)
    calls = {
        "Ticket": lambda: backend.create_ticket(a_ticket("k:3")),
        "ITILFollowup": lambda: backend.add_note(existing[0], "x"),
        "Document": lambda: backend.add_attachment(existing[0], "a.txt", b"x", "text/plain"),
        "Ticket_Ticket": lambda: backend.add_relation(existing[0], existing[1], Relation.RELATES),
        "ITILSolution": lambda: backend.resolve_ticket(existing[0], Resolution(at=T0, note="recovered")),
    }
    with pytest.raises(GlpiRightMissing) as info:
        calls[itemtype]()
    assert isinstance(info.value, BackendUnavailable)
    assert f"the connector's GLPI profile lacks the right to {action}" in str(info.value)
    assert "the work waits in the outbox" in str(info.value)


def test_a_missing_right_waits_through_the_engine_and_lands_once_given(
    fake: GlpiFake, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.deny_add("Ticket")
    with caplog.at_level(logging.WARNING):
        engine, _key = drive_engine_once(make_backend(clock), clock, tmp_path)
    assert fake.tickets == {} and engine.store.dead_letters() == []
    assert "the connector's GLPI profile lacks the right to create tickets" in caplog.text
    fake.denied_add.clear()  # the admin gives the right
    clock.advance(seconds=600)
    assert engine.drain_outbox() >= 1
    assert len(fake.tickets) == 1 and engine.store.dead_letters() == []
    engine.store.close()


def test_a_refusal_on_a_closed_ticket_is_not_a_missing_right(fake: GlpiFake, clock: FakeClock) -> None:
    backend = make_backend(clock)
    tid = backend.create_ticket(a_ticket("k:1")).ticket_id
    fake.tickets[int(tid)]["status"] = 6
    fake.deny_add("ITILFollowup")  # GLPI answers a follow-up on a closed ticket the same way
    with pytest.raises(BackendRejected, match=f"ticket #{tid} is closed"):
        backend.add_note(tid, "too late")


def test_other_add_refusals_are_still_dead_lettered(fake: GlpiFake, clock: FakeClock) -> None:
    fake.mandatory.add("locations_id")
    with pytest.raises(BackendRejected, match="Mandatory field missing"):
        make_backend(clock).create_ticket(a_ticket())


# --- 6. a failed optional lookup does not hold the ticket back -----------------------------------------


def test_a_failed_location_lookup_creates_the_ticket_without_it_and_says_so(fake: GlpiFake, clock: FakeClock) -> None:
    fake.add("Group", completename="IT > Network")
    fake.fail("GET", "Location/", 400, ["ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", "resource Location not found"])
    backend = make_backend(clock, groups={"network": "IT > Network"})
    ref = backend.create_ticket(a_ticket(location="机房 A > 3 楼", assignment_group="network"))
    ticket = fake.ticket(ref.ticket_id)
    assert "locations_id" not in ticket or not ticket["locations_id"]
    assert ticket["_groups_assign"] == [fake.find("Group", "IT > Network")]  # the other lookups still apply
    content = ticket["content"]
    assert "could not look up the location" in content and "机房 A" in content


def test_a_failed_lookup_in_a_change_goes_into_the_follow_up(fake: GlpiFake, clock: FakeClock) -> None:
    backend = make_backend(clock)
    tid = backend.create_ticket(a_ticket()).ticket_id
    fake.fail("GET", "Location/", 400, ["ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", "resource Location not found"])
    backend.update_ticket(tid, {"location": "机房 B"})
    (note,) = fake.followups_of(tid)
    assert "could not look up the location" in note and "机房 B" in note


def test_an_unreachable_glpi_during_a_lookup_still_retries_the_create(fake: GlpiFake, clock: FakeClock) -> None:
    fake.fail("GET", "Location/", 503, "")
    with pytest.raises(BackendUnavailable):
        make_backend(clock).create_ticket(a_ticket(location="机房 A"))
    assert fake.tickets == {}


def a_ticket(key: str = "zabbix:1", **overrides: Any) -> Ticket:
    values: dict[str, Any] = {
        "key": key,
        "title": "Disk full on web01",
        "description": "disk / is 98% full",
        "source": TicketSource.MONITORING,
        "registered_at": T0,
    }
    values.update(overrides)
    return Ticket(**values)


def test_an_attachment_committed_then_answered_500_is_uploaded_once(fake: GlpiFake, clock: FakeClock) -> None:
    """GLPI stored the file and its answer failed: the retry finds a Document of the same name and
    SHA-1 on the ticket and does not upload it again; a different file of the same name still goes up."""
    backend = make_backend(clock)
    ticket = Ticket(key="zabbix:doc-1", title="Disk full on web01", description="df", source=TicketSource.MONITORING)
    ref = backend.create_ticket(ticket)
    tid = int(ref.ticket_id)
    graph = b"\x89PNG graph of the last hour"
    fake.fail("POST", "Document/", 500, SQL_ERROR, after=True)
    with delivering(41, retry=False), pytest.raises(BackendUnavailable):
        backend.add_attachment(ref.ticket_id, "graph.png", graph, "image/png")
    with delivering(41, retry=True):
        backend.add_attachment(ref.ticket_id, "graph.png", graph, "image/png")
    assert [d["filename"] for d in fake.documents.values()] == ["graph.png"]
    assert fake.count("POST", "Document/") == 1
    with delivering(42, retry=True):  # another operation's file: not the one already there
        backend.add_attachment(ref.ticket_id, "graph.png", graph + b" and the next", "image/png")
    assert fake.count("POST", "Document/") == 2
    assert len([d for d in fake.document_items if d["items_id"] == tid]) == 2
    backend.close()


def test_a_first_upload_costs_one_call(fake: GlpiFake, clock: FakeClock) -> None:
    backend = make_backend(clock)
    ticket = Ticket(key="zabbix:doc-2", title="Disk full on web02", description="df", source=TicketSource.MONITORING)
    ref = backend.create_ticket(ticket)
    before = len(fake.calls)
    with delivering(43, retry=False):
        backend.add_attachment(ref.ticket_id, "log.txt", b"disk full", "text/plain")
    assert fake.calls[before:] == [("POST", "Document/")]
    backend.close()
