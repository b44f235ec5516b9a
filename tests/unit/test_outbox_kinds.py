"""Outbox operations are typed: one handler per kind, rows already in a state file keep
working, and a row this connector cannot read is dead-lettered with the reason (never an
AttributeError in the middle of a drain, never a stuck queue)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.domain.clock import FakeClock, parse_time
from connector.domain.models import Alert, TicketRef, TicketStatus
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.drain import read_op
from connector.runtime.engine import Engine
from connector.runtime.handlers import HANDLERS, CannotLand
from connector.runtime.outbox_ops import NotePayload, OpKind
from connector.state.store import OutboxOp, Store


class Zabbix:
    """A source that records its acknowledgements."""

    name = "zabbix"

    def __init__(self) -> None:
        self.acks: list[tuple[str, str]] = []

    def poll(self, cursor: str | None, open_ids: Any) -> Any:
        raise AssertionError("not polled here")

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        self.acks.append((external_id, ref.ticket_id))

    def close(self) -> None:
        pass


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> LocalBackend:
    return LocalBackend(tmp_path / "tickets.db", clock)


@pytest.fixture
def source() -> Zabbix:
    return Zabbix()


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, backend: LocalBackend, source: Zabbix, pm: pluggy.PluginManager) -> Engine:
    return Engine(
        store=Store(tmp_path / "state.db"),
        backend=backend,
        sources={"zabbix": source},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )


def problem(clock: FakeClock, eid: str) -> Alert:
    return Alert(
        source="zabbix",
        external_id=eid,
        title=f"Disk full on web{eid}",
        ci=f"web{eid}",
        severity=4,
        occurred_at=clock.now(),
    )


def write_row(path: Path, target: str, op: str, key: str | None, payload: str, at: str) -> None:
    """An outbox row as the connector before typed operations wrote it: plain SQL, JSON text."""
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO outbox (target, op, ticket_key, payload, created_at, next_try_at, status)"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending')",
            (target, op, key, payload, at, at),
        )


def test_every_kind_has_its_own_handler() -> None:
    assert set(HANDLERS) == set(OpKind)
    assert all(handler.kind is kind for kind, handler in HANDLERS.items())


def test_rows_in_the_existing_format_are_executed(
    tmp_path: Path, engine: Engine, clock: FakeClock, backend: LocalBackend, source: Zabbix
) -> None:
    engine.ingest("zabbix", [problem(clock, "1"), problem(clock, "2")])
    engine.process_pending()
    engine.drain_outbox()
    assert source.acks == [("1", "1"), ("2", "2")]
    at = clock.now().isoformat()
    state = tmp_path / "state.db"
    write_row(state, "backend", "note", "zabbix:1", '{"text": "检查磁盘 checked the disk"}', at)
    write_row(state, "backend", "link", "zabbix:2", '{"related_key": "zabbix:1", "relation": "relates"}', at)
    write_row(
        state,
        "backend",
        "update",
        "zabbix:2",
        '{"changes": {"outage_end": "2026-11-26T02:50:00+00:00"}, "note": null}',
        at,
    )
    write_row(
        state,
        "backend",
        "resolve",
        "zabbix:1",
        '{"at": "2026-11-26T02:55:00+00:00", "outage_end": "2026-11-26T02:55:00+00:00", "note": "recovered"}',
        at,
    )
    write_row(state, "source:zabbix", "ack", "zabbix:2", '{"external_id": "2"}', at)
    write_row(state, "backend", "note", "helpdesk:1", '{"text": "a reply to the desk\'s ticket"}', at)

    assert engine.drain_outbox() == 6
    assert engine.store.dead_letters() == []
    first, second = backend.tickets()
    assert "检查磁盘 checked the disk" in first["notes"] and "a reply to the desk's ticket" in first["notes"]
    assert first["status"] == TicketStatus.RESOLVED
    assert second["relations"] == [("relates", 1)]
    assert second["outage_end"] == "2026-11-26 02:50:00+00:00"
    assert source.acks[-1] == ("2", "2")


def test_an_unknown_kind_is_dead_lettered_with_the_reason_and_the_queue_goes_on(
    tmp_path: Path, engine: Engine, clock: FakeClock, backend: LocalBackend
) -> None:
    engine.ingest("zabbix", [problem(clock, "1")])
    engine.process_pending()
    engine.drain_outbox()
    at = clock.now().isoformat()
    write_row(tmp_path / "state.db", "backend", "reopen", "zabbix:1", '{"why": "a newer connector wrote it"}', at)
    write_row(tmp_path / "state.db", "backend", "note", "zabbix:1", '{"text": "after it"}', at)
    assert engine.drain_outbox() == 1
    (dead,) = engine.store.dead_letters()
    assert dead["reason"].startswith("reopen: unknown outbox operation 'reopen' (this connector knows create, link,")
    assert "after it" in backend.tickets()[0]["notes"]
    assert engine.store.outbox_counts() == {"done": 3, "dead": 1}  # create, ack, the note; the reopen


@pytest.mark.parametrize(
    ("target", "op", "payload", "reason"),
    [
        ("backend", "note", {"txt": "typo"}, "its payload does not fit a note operation: text: Field required"),
        (
            "backend",
            "link",
            {"related_key": "zabbix:1", "relation": "blocks"},
            "link operation: relation: Input should be",
        ),
        ("notify:email", "note", {"text": "x"}, "unknown outbox target 'notify:email' for a note operation"),
        ("backend", "notice", {"notice": {}, "channel": "email"}, "unknown outbox target 'backend' for a notice"),
        ("source:zabbix", "create", {"ticket": {}}, "unknown outbox target 'source:zabbix' for a create"),
    ],
)
def test_a_row_that_cannot_be_read_says_why(
    clock: FakeClock, target: str, op: str, payload: dict[str, Any], reason: str
) -> None:
    row = OutboxOp(1, target, op, "zabbix:1", payload, 0, clock.now(), None)
    with pytest.raises(CannotLand, match=re.escape(reason)):
        read_op(row)


def test_a_row_is_read_into_its_kinds_payload(clock: FakeClock) -> None:
    row = OutboxOp(1, "backend", "note", "zabbix:1", {"text": "hello", "later": "ignored"}, 0, clock.now(), None)
    handler, payload = read_op(row)
    assert handler.kind is OpKind.NOTE
    assert payload == NotePayload(text="hello")


class SlowBackend(LocalBackend):
    """A helpdesk that takes 7 seconds per ticket (the fake clock moves while it answers)."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        super().__init__(path, clock)
        self._fake = clock

    def create_ticket(self, ticket: Any) -> TicketRef:
        self._fake.advance(seconds=7)
        return super().create_ticket(ticket)


def test_an_operation_is_done_when_it_landed_not_when_the_pass_began(
    tmp_path: Path, clock: FakeClock, source: Zabbix, pm: pluggy.PluginManager
) -> None:
    """Measured against the real Redmine: ``done_at`` was the start of the drain pass, so behind a
    slow helpdesk the connector's own timings were up to a pass early."""
    start = clock.now()
    engine = Engine(
        store=Store(tmp_path / "state.db"),
        backend=SlowBackend(tmp_path / "tickets.db", clock),
        sources={"zabbix": source},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )
    engine.ingest("zabbix", [problem(clock, str(n)) for n in range(3)])
    engine.process_pending()
    engine.drain_outbox()
    creates = [row for row in engine.store.outbox_rows("done") if row["op"] == "create"]
    landed = sorted(round((parse_time(row["done_at"]) - start).total_seconds()) for row in creates)
    assert landed == [7, 14, 21]
