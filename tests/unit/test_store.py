"""The state store: journal idempotency, outbox bookkeeping, ticket map, migrations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.domain.clock import FakeClock
from connector.domain.errors import StoreError
from connector.domain.models import TicketStatus
from connector.rules.book import TicketState
from connector.state.store import MIGRATIONS
from tests.state_backend import make_store


def test_journal_takes_each_event_once(tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(tmp_path / "s.db")
    assert store.journal_add("zabbix", "101", "101", "{}", clock.now()) is True
    assert store.journal_add("zabbix", "101", "101", "{}", clock.now()) is False
    assert store.journal_add("zabbix", "101/recovery", "101", "{}", clock.now()) is True
    assert store.journal_add("email", "101", "101", "{}", clock.now()) is True
    assert [e.event_key for e in store.journal_pending()] == ["101", "101/recovery", "101"]


def test_state_survives_reopen_and_schema_is_versioned(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.db"
    store = make_store(path)
    store.journal_add("zabbix", "1", "1", "{}", clock.now())
    store.set_cursor("zabbix", "1", clock.now())
    store.close()
    again = make_store(path)
    assert again.schema_version == len(MIGRATIONS)
    assert again.get_cursor("zabbix") == "1"
    assert again.journal_add("zabbix", "1", "1", "{}", clock.now()) is False


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = make_store(path)
    store._exec("INSERT INTO schema_version (version) VALUES (99)")
    store.close()
    with pytest.raises(StoreError, match="schema version 99"):
        make_store(path)


def test_outbox_retry_done_and_dead(tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(tmp_path / "s.db")
    first = store.enqueue("backend", "create", "zabbix:1", {"ticket": {}}, clock.now())
    second = store.enqueue("backend", "note", "zabbix:1", {"text": "x"}, clock.now())
    store.op_retry(first, clock.now() + timedelta(seconds=30), "HTTP 503")
    (op, _) = store.pending_ops(10)
    assert op.attempts == 1 and op.last_error == "HTTP 503"
    assert op.next_try_at == clock.now() + timedelta(seconds=30)
    assert store.has_pending_op("zabbix:1", "create")
    store.op_done(first, clock.now())
    assert not store.has_pending_op("zabbix:1", "create")
    store.op_dead(store.pending_ops(10)[0], "HTTP 422: bad", clock.now())
    assert store.outbox_counts() == {"done": 1, "dead": 1}
    (dead,) = store.dead_letters()
    assert dead["kind"] == "outbox" and dead["reason"] == "note: HTTP 422: bad"
    assert dead["ref"] == "zabbix:1" and second != first


def test_ticket_map_and_open_ids(tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(tmp_path / "s.db")
    for eid in ("1", "2"):
        store.ticket_add(
            TicketState(
                key=f"zabbix:{eid}",
                ticket_id=None,
                status=TicketStatus.OPEN,
                fingerprint="f",
                created_at=clock.now(),
                source="zabbix",
                external_id=eid,
            ),
            backend="redmine",
        )
    assert store.ticket_ref("zabbix:1") is None
    store.ticket_set_ref("zabbix:1", "42", "http://r/issues/42")
    assert store.ticket_ref("zabbix:1") == ("42", "http://r/issues/42")
    store.ticket_set_status("zabbix:2", TicketStatus.RESOLVED, clock.now())
    assert store.open_external_ids("zabbix") == ["1"]
    state = store.get("zabbix:2")
    assert state is not None and state.status is TicketStatus.RESOLVED and state.resolved_at == clock.now()


def test_transaction_rolls_back_on_error(tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(tmp_path / "s.db")
    with pytest.raises(RuntimeError), store.transaction():
        store.journal_add("zabbix", "1", "1", "{}", clock.now())
        raise RuntimeError("crash before commit")
    assert store.journal_pending() == []


def test_dead_journal_entry_is_dead_lettered_once(tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(tmp_path / "s.db")
    assert store.journal_dead("zabbix", "rejected:7", "7", "{}", "event 7 has no host", clock.now())
    assert not store.journal_dead("zabbix", "rejected:7", "7", "{}", "event 7 has no host", clock.now())
    assert [d["reason"] for d in store.dead_letters()] == ["event 7 has no host"]
