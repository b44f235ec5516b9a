"""Built-in ``local`` backend: tickets in a SQLite file, for the demo and for sites trying the
connector before pointing it at a helpdesk.

Plugs in ``register_backend_types`` (type ``local``). Reads ``backend: {type: local, path: …}``.

It keeps a history like a real helpdesk's journal (``HistoryReader``): every change it makes —
status, assignee, assignment group, any other field, a note — is a row with the time (its
clock) and who made it. The connector acts as ``connector``; a test or the demo plays the desk
with ``as_user(login)`` or the ``actor=`` keyword of the writing methods, so ``export-history``
and the sync-back can be tested end to end without a helpdesk server.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from connector import hookimpl
from connector.contracts.adapters import (
    BackendType,
    Change,
    ChangeKind,
    HelpdeskUser,
    HistoryReader,
    PluginContext,
    Relation,
    Resolution,
    TicketHistory,
    TicketSnapshot,
)
from connector.domain.clock import Clock, parse_time
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.models import Ticket, TicketRef, TicketStatus

#: who the connector is in the local helpdesk's history
CONNECTOR_LOGIN = "connector"
#: fields that have a kind of change of their own; every other field is a ``FIELD`` change
_KINDS = {"status": ChangeKind.STATUS, "assignee": ChangeKind.ASSIGNEE, "assignment_group": ChangeKind.GROUP}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notes (ticket_id INTEGER NOT NULL, at TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attachments (
    ticket_id INTEGER NOT NULL, filename TEXT NOT NULL, content_type TEXT NOT NULL, content BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS relations (
    ticket_id INTEGER NOT NULL, other_id INTEGER NOT NULL, relation TEXT NOT NULL,
    UNIQUE (ticket_id, other_id, relation)
);
CREATE TABLE IF NOT EXISTS authors (ticket_id INTEGER PRIMARY KEY, login TEXT);
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL, at TEXT NOT NULL, actor TEXT, kind TEXT NOT NULL,
    field TEXT, old TEXT, new TEXT
);
CREATE INDEX IF NOT EXISTS changes_by_ticket ON changes (ticket_id, id);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE
);
"""


class LocalUser(BaseModel):
    """A person the local helpdesk knows (so e-mail senders can be identified, IM 1.1)."""

    model_config = ConfigDict(extra="forbid")

    login: str = Field(min_length=1)
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class LocalSettings(BaseModel):
    """Settings of the ``local`` backend."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="SQLite file holding the tickets; relative to the config file")
    users: list[LocalUser] = Field(default_factory=list, description="the helpdesk's users (login, name, email)")


def _text(value: Any) -> str | None:
    """A field value as the history stores it: text as is, anything else as its JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


class LocalBackend:
    """A helpdesk in one SQLite file, with the same operations as the real ones."""

    #: resolving a master resolves its duplicates here, as GLPI does natively
    resolves_duplicates = True

    def __init__(self, path: Path | str, clock: Clock, name: str = "local", *, actor: str = CONNECTOR_LOGIN) -> None:
        self.name = name
        self._clock = clock
        self._actor = actor
        self._path = str(path)
        self._owner = threading.get_ident()
        try:
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            self._local = threading.local()
            # in memory, every connection is another database: one connection, any thread
            self._shared = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False, timeout=30)
            self._shared.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise BackendUnavailable(str(exc), backend=name, operation="open") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection: the daemon's jobs call the backend from threads of their own
        (connector.runtime.jobs), and a SQLite connection belongs to the thread that opened it."""
        if self._path == ":memory:" or threading.get_ident() == self._owner:
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "db", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=30)
            self._local.db = conn
        return conn

    def _now(self) -> str:
        return self._clock.now().isoformat()

    @contextmanager
    def as_user(self, login: str) -> Iterator[None]:
        """Make the changes inside the ``with`` block as the helpdesk user ``login`` (the desk
        playing its part in a test or the demo); the connector's own login comes back after."""
        before, self._actor = self._actor, login
        try:
            yield
        finally:
            self._actor = before

    def connector_login(self) -> str:
        """The login the connector's own changes carry (the KPI work log leaves it out)."""
        return CONNECTOR_LOGIN

    def _record(
        self,
        row_id: int,
        kind: ChangeKind,
        actor: str | None,
        *,
        field: str | None = None,
        old: str | None = None,
        new: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO changes (ticket_id, at, actor, kind, field, old, new) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row_id, self._now(), actor if actor is not None else self._actor, kind.value, field, old, new),
        )

    def _row(self, ticket_id: str) -> tuple[int, dict[str, Any]]:
        row = self._db.execute("SELECT id, data FROM tickets WHERE id = ?", (int(ticket_id),)).fetchone()
        if row is None:
            raise BackendRejected(f"no ticket #{ticket_id}", backend=self.name, operation="read")
        return int(row[0]), json.loads(row[1])

    def ticket_url(self, ticket_id: str) -> str:
        """A file URL people can read (the demo prints the table instead)."""
        return f"local:{self._path}#{ticket_id}"

    def find_by_key(self, key: str) -> TicketRef | None:
        row = self._db.execute("SELECT id FROM tickets WHERE key = ?", (key,)).fetchone()
        return None if row is None else TicketRef(ticket_id=str(row[0]), url=self.ticket_url(str(row[0])))

    def create_ticket(self, ticket: Ticket, *, actor: str | None = None) -> TicketRef:
        """Store the ticket; ``actor`` (default: who is acting now) is its author."""
        now = self._now()
        data = ticket.model_dump(mode="json")
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO tickets (key, status, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (ticket.key, ticket.status.value, json.dumps(data, ensure_ascii=False), now, now),
            )
            self._db.execute(
                "INSERT INTO authors VALUES (?, ?)", (cursor.lastrowid, actor if actor is not None else self._actor)
            )
        ticket_id = str(cursor.lastrowid)
        return TicketRef(ticket_id=ticket_id, url=self.ticket_url(ticket_id))

    def update_ticket(
        self, ticket_id: str, changes: dict[str, Any], note: str | None = None, *, actor: str | None = None
    ) -> None:
        """Set the fields and add ``note``; each field that really changes is a history row."""
        row_id, data = self._row(ticket_id)
        unknown = set(changes) - set(Ticket.model_fields)
        if unknown:
            raise BackendRejected(f"unknown ticket fields {sorted(unknown)}", backend=self.name, operation="update")
        before = Ticket.model_validate(data).model_dump(mode="json")
        data.update(changes)
        after = Ticket.model_validate(data).model_dump(mode="json")
        with self._db:
            self._db.execute(
                "UPDATE tickets SET data = ?, status = ?, updated_at = ? WHERE id = ?",
                (json.dumps(data, ensure_ascii=False, default=str), data["status"], self._now(), row_id),
            )
            self._record_fields(row_id, changes, before, after, actor)
            if note:
                self._db.execute("INSERT INTO notes VALUES (?, ?, ?)", (row_id, self._now(), note))
                self._record(row_id, ChangeKind.NOTE, actor, new=note)

    def _record_fields(
        self,
        row_id: int,
        changes: Mapping[str, Any],
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        actor: str | None,
    ) -> None:
        for key in changes:
            if before[key] == after[key]:
                continue  # setting a field to what it holds is no change
            kind = _KINDS.get(key, ChangeKind.FIELD)
            field = key if kind is ChangeKind.FIELD else None
            self._record(row_id, kind, actor, field=field, old=_text(before[key]), new=_text(after[key]))

    def add_note(self, ticket_id: str, text: str, *, actor: str | None = None) -> None:
        """Append a note (a history row too)."""
        row_id, _ = self._row(ticket_id)
        with self._db:
            self._db.execute("INSERT INTO notes VALUES (?, ?, ?)", (row_id, self._now(), text))
            self._db.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (self._now(), row_id))
            self._record(row_id, ChangeKind.NOTE, actor, new=text)

    def add_relation(self, ticket_id: str, other_id: str, relation: Relation) -> None:
        row_id, _ = self._row(ticket_id)
        other_row, _ = self._row(other_id)
        self._db.execute("INSERT OR IGNORE INTO relations VALUES (?, ?, ?)", (row_id, other_row, relation.value))

    def resolve_ticket(self, ticket_id: str, resolution: Resolution, *, actor: str | None = None) -> None:
        """Resolve the ticket (and its open duplicates, as a helpdesk with native links does)."""
        changes: dict[str, Any] = {"status": TicketStatus.RESOLVED.value}
        if resolution.outage_end is not None:
            changes["outage_end"] = resolution.outage_end.isoformat()
        if resolution.resolution_code is not None:
            changes["resolution_code"] = resolution.resolution_code.value
        if resolution.solution is not None:
            changes["solution"] = resolution.solution
        self.update_ticket(ticket_id, changes, resolution.note, actor=actor)
        # resolving a master resolves its duplicates, as a helpdesk with native duplicate links does
        for (dup_id,) in self._db.execute(
            "SELECT ticket_id FROM relations WHERE other_id = ? AND relation = ?",
            (int(ticket_id), Relation.DUPLICATES.value),
        ).fetchall():
            _, dup = self._row(str(dup_id))
            if dup["status"] not in (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value):
                self.update_ticket(
                    str(dup_id),
                    {"status": TicketStatus.RESOLVED.value},
                    f"Resolved with its master #{ticket_id}.",
                    actor=actor,
                )

    def add_attachment(self, ticket_id: str, filename: str, content: bytes, content_type: str) -> None:
        row_id, _ = self._row(ticket_id)
        self._db.execute("INSERT INTO attachments VALUES (?, ?, ?, ?)", (row_id, filename, content_type, content))
        self._db.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (self._now(), row_id))

    def changed_since(self, since: datetime) -> Iterator[TicketSnapshot]:
        """Every ticket changed at or after ``since``. A ticket a person created (its author is
        not the connector) carries no connector key, as in a real helpdesk: the sync-back adopts it."""
        for row_id, key, status, data, created, updated, author in self._db.execute(
            "SELECT t.id, t.key, t.status, t.data, t.created_at, t.updated_at, a.login FROM tickets t"
            " LEFT JOIN authors a ON a.ticket_id = t.id WHERE t.updated_at >= ? ORDER BY t.updated_at, t.id",
            (since.isoformat(),),
        ).fetchall():
            fields = json.loads(data)
            yield TicketSnapshot(
                ticket_id=str(row_id),
                key=key if author in (None, CONNECTOR_LOGIN) else None,
                status=TicketStatus(status),
                updated_at=parse_time(updated),
                assignee=fields.get("assignee"),
                fields=fields,
                title=fields.get("title"),
                description=fields.get("description"),
                created_at=parse_time(created),
            )

    def ticket_history(self, ticket_id: str) -> TicketHistory:
        """The ticket as stored now, with every change recorded since it was created
        (``HistoryReader``); raises ``BackendRejected`` for an unknown ticket."""
        try:
            row_id = int(ticket_id)
        except ValueError as exc:
            raise BackendRejected(f"no ticket #{ticket_id}", backend=self.name, operation="history") from exc
        found = self._db.execute(
            "SELECT t.key, t.data, t.created_at, a.login FROM tickets t LEFT JOIN authors a ON a.ticket_id = t.id "
            "WHERE t.id = ?",
            (row_id,),
        ).fetchone()
        if found is None:
            raise BackendRejected(f"no ticket #{ticket_id}", backend=self.name, operation="history")
        key, data, created_at, author = found
        ticket = Ticket.model_validate(json.loads(data))
        rows = self._db.execute(
            "SELECT at, actor, kind, field, old, new FROM changes WHERE ticket_id = ? ORDER BY id", (row_id,)
        ).fetchall()
        changes = tuple(
            Change(at=parse_time(at), actor=actor, kind=ChangeKind(kind), old=old, new=new, field=field)
            for at, actor, kind, field, old, new in rows
        )
        fields = {name: getattr(ticket, name) for name in Ticket.model_fields if name not in ("ticket_id", "key")}
        return TicketHistory(
            ticket_id=str(row_id),
            key=key,
            created_at=parse_time(created_at),
            author=author,
            status=ticket.status,
            assignee=ticket.assignee,
            group=ticket.assignment_group,
            fields=fields,
            changes=changes,
        )

    def add_user(self, login: str, name: str, email: str) -> HelpdeskUser:
        """Add a user (or keep the one with this login); returns it."""
        self._db.execute(
            "INSERT OR IGNORE INTO users (login, name, email) VALUES (?, ?, ?)", (login, name, email.strip().lower())
        )
        row = self._db.execute("SELECT id, login, name, email FROM users WHERE login = ?", (login,)).fetchone()
        return HelpdeskUser(user_id=str(row[0]), login=row[1], name=row[2], email=row[3])

    def find_user_by_email(self, email: str) -> HelpdeskUser | None:
        """The user with this address (case-insensitive), or ``None`` (``UserDirectory``)."""
        row = self._db.execute(
            "SELECT id, login, name, email FROM users WHERE email = ?", (email.strip().lower(),)
        ).fetchone()
        return None if row is None else HelpdeskUser(user_id=str(row[0]), login=row[1], name=row[2], email=row[3])

    def tickets(self) -> list[dict[str, Any]]:
        """Every ticket with its notes and relations (for the demo table and tests)."""
        out = []
        for row_id, data in self._db.execute("SELECT id, data FROM tickets ORDER BY id").fetchall():
            fields = json.loads(data)
            fields["id"] = row_id
            fields["notes"] = [n for (n,) in self._db.execute("SELECT text FROM notes WHERE ticket_id = ?", (row_id,))]
            fields["attachments"] = [
                (name, ctype, len(blob))
                for name, ctype, blob in self._db.execute(
                    "SELECT filename, content_type, content FROM attachments WHERE ticket_id = ?", (row_id,)
                )
            ]
            fields["relations"] = [
                (rel, other)
                for rel, other in self._db.execute(
                    "SELECT relation, other_id FROM relations WHERE ticket_id = ?", (row_id,)
                )
            ]
            out.append(fields)
        return out

    def close(self) -> None:
        self._db.close()  # this thread's; another thread's connection goes with its thread


@hookimpl(trylast=True)
def register_backend_types() -> list[BackendType]:
    """The ``local`` backend type."""
    return [
        BackendType(
            name="local",
            settings=LocalSettings,
            factory=_build,
            description="tickets in a local SQLite file (demo, trials)",
        )
    ]


def _build(settings: LocalSettings, ctx: PluginContext) -> LocalBackend:
    path = settings.path if settings.path.is_absolute() else ctx.data_dir / settings.path
    backend = LocalBackend(path, ctx.clock, name=ctx.name)
    for user in settings.users:
        backend.add_user(user.login, user.name, user.email)
    return backend


if TYPE_CHECKING:  # the optional capabilities mypy holds the class to
    _reader: type[HistoryReader] = LocalBackend
