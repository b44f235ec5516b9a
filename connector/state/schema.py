"""The state store's schema: numbered migrations, applied in order.

A migration is appended, never edited: a state store records the number it is at
(``schema_version``), and ``Database._migrate`` (``connector.state.database``) applies the ones
after it in one transaction, so an interrupted upgrade is rolled back and tried again whole.
They are written in SQLite's DDL, the one source for both engines: on PostgreSQL each statement is
translated (``connector.state.dialect.pg_ddl``; ``itsm-connector state migrate --dry-run`` shows
the result), so a new one keeps to the forms the package docstring of ``connector.state`` lists.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

from collections.abc import Sequence

MIGRATIONS: Sequence[str] = (
    # 1: the foundation
    """
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        event_key TEXT NOT NULL,
        external_id TEXT,
        payload TEXT NOT NULL,
        received_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'dead')),
        outcome TEXT,
        processed_at TEXT,
        UNIQUE (source, event_key)
    );
    CREATE INDEX journal_pending ON journal (status, id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        op TEXT NOT NULL,
        ticket_key TEXT,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT NOT NULL,
        last_error TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'dead')),
        done_at TEXT
    );
    CREATE INDEX outbox_pending ON outbox (status, id);
    CREATE INDEX outbox_by_ticket ON outbox (ticket_key, op, status);
    CREATE TABLE tickets (
        key TEXT PRIMARY KEY,
        backend TEXT NOT NULL,
        ticket_id TEXT,
        url TEXT,
        source TEXT NOT NULL,
        external_id TEXT,
        fingerprint TEXT,
        status TEXT NOT NULL,
        master_key TEXT,
        created_at TEXT NOT NULL,
        resolved_at TEXT,
        closed_at TEXT
    );
    CREATE INDEX tickets_fingerprint ON tickets (fingerprint, created_at);
    CREATE INDEX tickets_open_by_source ON tickets (source, status);
    CREATE TABLE dead_letter (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        source TEXT,
        ref TEXT,
        reason TEXT NOT NULL,
        payload TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE cursors (
        source TEXT PRIMARY KEY,
        cursor TEXT,
        updated_at TEXT NOT NULL
    );
    """,
    # 2: an operation is marked before it is first sent, so only a retry asks "did it land?"
    """
    ALTER TABLE outbox ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: correlation (duplicates, storm guard, recurrence, priority changes)
    """
    ALTER TABLE tickets ADD COLUMN occurred_at TEXT;
    ALTER TABLE tickets ADD COLUMN impact INTEGER;
    ALTER TABLE tickets ADD COLUMN urgency INTEGER;
    ALTER TABLE tickets ADD COLUMN priority INTEGER;
    ALTER TABLE tickets ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN recurrence_of TEXT;
    ALTER TABLE tickets ADD COLUMN content TEXT;
    CREATE INDEX tickets_master ON tickets (master_key, status);
    CREATE INDEX tickets_by_helpdesk_id ON tickets (ticket_id);
    CREATE TABLE aliases (
        key TEXT PRIMARY KEY,
        ticket_key TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
    # 4: a ticket's life in the helpdesk, and the escalation/notice/SLA steps that fired
    """
    ALTER TABLE tickets ADD COLUMN contact TEXT;
    ALTER TABLE tickets ADD COLUMN sla_due TEXT;
    ALTER TABLE tickets ADD COLUMN assigned_at TEXT;
    ALTER TABLE tickets ADD COLUMN accepted_at TEXT;
    ALTER TABLE tickets ADD COLUMN assignee TEXT;
    ALTER TABLE tickets ADD COLUMN assignment_group TEXT;
    ALTER TABLE tickets ADD COLUMN reassignments INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN third_party_at TEXT;
    ALTER TABLE tickets ADD COLUMN suspended_since TEXT;
    ALTER TABLE tickets ADD COLUMN suspensions TEXT;
    ALTER TABLE tickets ADD COLUMN synced_changes INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX tickets_active ON tickets (status);
    CREATE TABLE steps (
        ticket_key TEXT NOT NULL,
        step TEXT NOT NULL,
        due_at TEXT NOT NULL,
        fired_at TEXT NOT NULL,
        late INTEGER NOT NULL,
        PRIMARY KEY (ticket_key, step)
    );
    """,
    # 5: the desk's half of the process (issue 12): rejected assignments ("failed dispatches"), and
    # when a duty-group leader verified the closed record
    """
    ALTER TABLE tickets ADD COLUMN rejections INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tickets ADD COLUMN verified_at TEXT;
    """,
    # 6: the monitoring problem each ticket and appended repeat holds, and when it recovered
    # (a master's recovery waits for the other problems it holds: no active problem without
    # an open ticket); each fingerprint's state changes and the flapping mark (flapping.yaml);
    # the problems held during maintenance (maintenance.yaml); each ticket's CI, upstreams and
    # storm key (topology.yaml)
    """
    ALTER TABLE tickets ADD COLUMN problem TEXT;
    ALTER TABLE tickets ADD COLUMN problem_recovered_at TEXT;
    ALTER TABLE aliases ADD COLUMN problem TEXT;
    ALTER TABLE aliases ADD COLUMN recovered_at TEXT;
    CREATE INDEX aliases_by_ticket ON aliases (ticket_key);
    ALTER TABLE tickets ADD COLUMN flapping_since TEXT;
    CREATE INDEX tickets_flapping ON tickets (flapping_since) WHERE flapping_since IS NOT NULL;
    CREATE TABLE state_changes (
        fingerprint TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX state_changes_by_fingerprint ON state_changes (fingerprint, at);
    CREATE TABLE holds (
        key TEXT PRIMARY KEY,
        payload TEXT NOT NULL,
        until TEXT,
        held_at TEXT NOT NULL,
        recovered_at TEXT,
        released_at TEXT
    );
    CREATE INDEX holds_due ON holds (until) WHERE released_at IS NULL AND recovered_at IS NULL;
    ALTER TABLE tickets ADD COLUMN ci TEXT;
    ALTER TABLE tickets ADD COLUMN storm_key TEXT;
    CREATE INDEX tickets_by_ci ON tickets (ci, status);
    CREATE INDEX tickets_by_storm_key ON tickets (storm_key, status);
    CREATE TABLE ticket_upstreams (
        key TEXT NOT NULL,
        upstream TEXT NOT NULL,
        PRIMARY KEY (upstream, key)
    );
    """,
    # 7: the user's confirmation of a resolution (issue 12, item 4): when the user confirmed it, and
    # whether the 1st line closed the ticket before the user confirmed and before the wait was over
    """
    ALTER TABLE tickets ADD COLUMN confirmed_at TEXT;
    ALTER TABLE tickets ADD COLUMN closed_unconfirmed INTEGER NOT NULL DEFAULT 0;
    """,
    # speed: the storm guard's counted notes, coalesced to one per interval per master (issue 15):
    # when the last one was owed, how many repeats arrived since and when the newest did
    """
    CREATE TABLE storm_notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        master_key TEXT NOT NULL UNIQUE,
        noted_at TEXT NOT NULL,
        pending INTEGER NOT NULL DEFAULT 0,
        last_at TEXT
    );
    CREATE INDEX storm_notes_pending ON storm_notes (pending, last_at);
    """,
    # knowledge (issue 13, branch knowledge): what each solved ticket taught — its title, CI,
    # fingerprint, category and solution — for the similar-incident note of the next one
    # (connector.process.similar), and when its knowledge-base candidate was owed (once per ticket);
    # the category index covers the title scan (key, title), so it reads the index alone
    """
    CREATE TABLE solved (
        key TEXT PRIMARY KEY,
        ticket_id TEXT,
        title TEXT NOT NULL,
        ci TEXT,
        fingerprint TEXT,
        category TEXT,
        solution TEXT NOT NULL,
        resolved_at TEXT NOT NULL,
        kb_candidate_at TEXT
    );
    CREATE INDEX solved_by_fingerprint ON solved (ci, fingerprint, resolved_at);
    CREATE INDEX solved_by_category ON solved (category, resolved_at, key, title);
    """,
    # problems branch (issue 13): the problem records the connector opened (one per root cause
    # and window; ``key`` is the connector key the helpdesk's record carries), which incident
    # links to which problem (once per incident), and the changes people linked to incidents
    # (an incident is pending change while one of its changes is open)
    """
    CREATE TABLE problems (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        root TEXT,
        opened_at TEXT NOT NULL,
        ticket_id TEXT,
        url TEXT
    );
    CREATE INDEX problems_by_root ON problems (root, opened_at);
    CREATE TABLE problem_links (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_key TEXT NOT NULL UNIQUE,
        problem_key TEXT NOT NULL,
        linked_at TEXT NOT NULL
    );
    CREATE TABLE change_links (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_key TEXT NOT NULL,
        change_id TEXT NOT NULL,
        linked_at TEXT NOT NULL,
        closed_at TEXT,
        UNIQUE (incident_key, change_id)
    );
    CREATE INDEX change_links_open ON change_links (closed_at);
    """,
    # speed2: the sweep reads only the tickets with something due (issue 15): the earliest moment
    # the sweep could change anything on the ticket, written by the sweep; every other write to the
    # ticket row sets it back to '' ("sweep me": before every time), so rows of an older file are
    # all swept once; indexed with master_key, which the sweep's query also asks to be NULL
    """
    ALTER TABLE tickets ADD COLUMN next_sweep_at TEXT NOT NULL DEFAULT '';
    CREATE INDEX tickets_next_sweep ON tickets (master_key, next_sweep_at);
    """,
    # leases branch (issue 15, several daemons on one state): who holds each singleton job's lease
    # and until when; the store-level lock rows a transaction takes first to serialise with the other
    # daemons (``decide``); and the claim a daemon puts on an outbox operation before it runs it
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT,
        expires_at TEXT NOT NULL,
        acquired_at TEXT,
        renewed_at TEXT
    );
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        n INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO locks (name, n) VALUES ('decide', 0);
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
    """,
    # writeless (issue 15): per helpdesk ticket, its last-update time ("updated_on", "date_mod") as of
    # the last moment the connector knew every change in it — its own create, or a history read.
    # The sync-back skips a listed ticket whose last update is still that one (no history GET).
    """
    CREATE TABLE helpdesk_seen (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        backend TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (backend, ticket_id)
    );
    """,
    # tidy (issue 15): a dead letter names the journal entry or outbox operation it was written for,
    # so ``dead-letters retry`` puts back that row (two letters of one second and one payload are
    # two rows); NULL on letters written before, which retry still finds by time and payload
    """
    ALTER TABLE dead_letter ADD COLUMN item_id INTEGER;
    """,
)
