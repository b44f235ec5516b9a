"""A state file an older connector wrote is migrated and read by column name: every row kind
comes back as a named record, whatever the columns' order on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from connector.domain.clock import FakeClock, parse_time
from connector.domain.models import TicketStatus
from connector.state.schema import MIGRATIONS
from connector.state.store import Store


def test_a_version_1_file_is_migrated_and_read_by_name(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.db"
    at = clock.now().isoformat()
    with sqlite3.connect(path) as db:  # what the first release left on disk
        db.executescript(MIGRATIONS[0])
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (1)")
        db.execute(
            "INSERT INTO journal (source, event_key, external_id, payload, received_at, status)"
            " VALUES ('zabbix', 'zabbix:7', '7', '{}', ?, 'pending')",
            (at,),
        )
        db.execute(
            "INSERT INTO outbox (target, op, ticket_key, payload, created_at, next_try_at, status, attempts,"
            " last_error) VALUES ('backend', 'note', 'zabbix:7', '{\"text\": \"hi\"}', ?, ?, 'pending', 2, 'HTTP 503')",
            (at, at),
        )
        db.execute(
            "INSERT INTO tickets (key, backend, ticket_id, url, source, external_id, fingerprint, status, created_at)"
            " VALUES ('zabbix:7', 'redmine', '42', 'http://r/issues/42', 'zabbix', '7', 'fp', 'open', ?)",
            (at,),
        )
        db.execute("INSERT INTO cursors VALUES ('zabbix', '1700000000', ?)", (at,))
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    (entry,) = store.journal_pending()
    assert (entry.source, entry.event_key, entry.payload, entry.received_at) == (
        "zabbix",
        "zabbix:7",
        "{}",
        clock.now(),
    )
    (op,) = store.pending_ops(10)
    assert (op.target, op.op, op.ticket_key, op.payload) == ("backend", "note", "zabbix:7", {"text": "hi"})
    assert (op.attempts, op.last_error, op.sent, op.next_try_at) == (2, "HTTP 503", False, parse_time(at))
    state = store.get("zabbix:7")
    assert state is not None
    assert (state.ticket_id, state.status, state.fingerprint, state.url) == (
        "42",
        TicketStatus.OPEN,
        "fp",
        "http://r/issues/42",
    )
    assert (state.repeats, state.reassignments, state.suspensions, state.content) == (0, 0, (), {})
    ref = store.ticket_ref("zabbix:7")
    assert ref is not None and (ref.ticket_id, ref.url) == ("42", "http://r/issues/42")
    assert store.get_cursor("zabbix") == "1700000000"
    assert [tuple(o) for o in store.journal_outcomes()] == [("zabbix", "zabbix:7", "pending", None)]
    assert store.journal_counts() == {"pending": 1} and store.outbox_counts() == {"pending": 1}
    store.close()
