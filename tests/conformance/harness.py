"""What the conformance suite needs of each backend: the backend itself, and a way to read
what it wrote *without* going through it (the local SQLite file, Redmine's REST API with the
admin key, the GLPI fake's state) — so a write the helpdesk dropped fails the test.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests

from connector.contracts.adapters import Backend, Relation
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import Clock, FakeClock
from connector.domain.errors import BackendUnavailable
from connector.domain.models import Alert, Ticket, TicketRef, TicketStatus
from connector.integrations.glpi.fields import key_from_content
from connector.integrations.redmine.settings import DEFAULT_STATUS_MAP as REDMINE_STATUSES
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.state.store import Store
from tests.contract.glpi_fake import GlpiFake
from tests.state_backend import make_store

#: (ticket, other, relation) as the process sees a link: a duplicate points at its master
Link = tuple[str, str, Relation]


class Harness(Protocol):
    """One backend under test and an independent view of the helpdesk behind it."""

    name: str
    backend: Backend
    clock: Clock  # the clock the helpdesk stamps changes with

    def status(self, ticket_id: str) -> TicketStatus | None: ...

    def title(self, ticket_id: str) -> str: ...

    def texts(self, ticket_id: str) -> list[str]: ...

    def attachments(self, ticket_id: str) -> list[tuple[str, bytes]]: ...

    def links(self, ticket_id: str) -> set[Link]: ...

    def with_key(self, key: str) -> list[str]: ...

    def let_time_pass(self) -> None: ...


def new_key(prefix: str = "zabbix") -> str:
    """A key no earlier run used (the Redmine database outlives test runs)."""
    return f"{prefix}:{uuid.uuid4()}"


# --- local ---------------------------------------------------------------------------------------


@dataclass
class LocalHarness:
    backend: LocalBackend
    clock: FakeClock
    path: Path
    name: str = "local"

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def _data(self, ticket_id: str) -> dict[str, Any]:
        with self._db() as db:
            row = db.execute("SELECT data FROM tickets WHERE id = ?", (int(ticket_id),)).fetchone()
        data: dict[str, Any] = json.loads(row[0])
        return data

    def status(self, ticket_id: str) -> TicketStatus | None:
        return TicketStatus(self._data(ticket_id)["status"])

    def title(self, ticket_id: str) -> str:
        return str(self._data(ticket_id)["title"])

    def texts(self, ticket_id: str) -> list[str]:
        with self._db() as db:
            return [r[0] for r in db.execute("SELECT text FROM notes WHERE ticket_id = ?", (int(ticket_id),))]

    def attachments(self, ticket_id: str) -> list[tuple[str, bytes]]:
        with self._db() as db:
            rows = db.execute("SELECT filename, content FROM attachments WHERE ticket_id = ?", (int(ticket_id),))
            return [(r[0], bytes(r[1])) for r in rows]

    def links(self, ticket_id: str) -> set[Link]:
        with self._db() as db:
            rows = db.execute(
                "SELECT ticket_id, other_id, relation FROM relations WHERE ticket_id = ? OR other_id = ?",
                (int(ticket_id), int(ticket_id)),
            ).fetchall()
        return {(str(a), str(b), Relation(r)) for a, b, r in rows}

    def with_key(self, key: str) -> list[str]:
        with self._db() as db:
            return [str(r[0]) for r in db.execute("SELECT id FROM tickets WHERE key = ?", (key,))]

    def let_time_pass(self) -> None:
        self.clock.advance(seconds=2)


# --- Redmine -------------------------------------------------------------------------------------


@dataclass
class RedmineHarness:
    backend: Backend
    env: dict[str, str]
    clock: Clock
    name: str = "redmine"
    _statuses: dict[str, TicketStatus] = field(default_factory=dict)

    def _get(self, path: str, **params: str) -> dict[str, Any]:
        response = requests.get(
            self.env["REDMINE_URL"] + path,
            params=params,
            headers={"X-Redmine-API-Key": self.env["REDMINE_API_KEY"]},
            timeout=30,
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def _issue(self, ticket_id: str, include: str = "") -> dict[str, Any]:
        issue: dict[str, Any] = self._get(f"/issues/{ticket_id}.json", include=include)["issue"]
        return issue

    def status(self, ticket_id: str) -> TicketStatus | None:
        name = self._issue(ticket_id)["status"]["name"]
        # the first process status the default map gives that Redmine status
        return next((status for status, mapped in REDMINE_STATUSES.items() if mapped == name), None)

    def title(self, ticket_id: str) -> str:
        return str(self._issue(ticket_id)["subject"])

    def texts(self, ticket_id: str) -> list[str]:
        journals = self._issue(ticket_id, include="journals")["journals"]
        return [html.unescape(re.sub(r"</?pre>", "", j["notes"])) for j in journals if j.get("notes")]

    def attachments(self, ticket_id: str) -> list[tuple[str, bytes]]:
        out = []
        for item in self._issue(ticket_id, include="attachments")["attachments"]:
            download = requests.get(
                item["content_url"], headers={"X-Redmine-API-Key": self.env["REDMINE_API_KEY"]}, timeout=30
            )
            download.raise_for_status()
            out.append((item["filename"], download.content))
        return out

    def links(self, ticket_id: str) -> set[Link]:
        relations = self._get(f"/issues/{ticket_id}/relations.json")["relations"]
        kinds = {"duplicates": Relation.DUPLICATES, "relates": Relation.RELATES}
        return {
            (str(r["issue_id"]), str(r["issue_to_id"]), kinds[r["relation_type"]])
            for r in relations
            if r["relation_type"] in kinds
        }

    def with_key(self, key: str) -> list[str]:
        field_id = self.env["REDMINE_CF_EXTERNAL_ID"]
        issues = self._get("/issues.json", status_id="*", **{f"cf_{field_id}": key})["issues"]
        return [
            str(i["id"])
            for i in issues
            if any(cf["id"] == int(field_id) and cf.get("value") == key for cf in i["custom_fields"])
        ]

    def let_time_pass(self) -> None:
        time.sleep(1.1)  # Redmine stamps changes with whole seconds of the real clock


# --- GLPI ----------------------------------------------------------------------------------------


#: GLPI's ticket statuses (glpi-rest.md §4) as the process reads them
_GLPI_STATUSES = {
    1: TicketStatus.OPEN,
    2: TicketStatus.IN_PROGRESS,
    3: TicketStatus.IN_PROGRESS,
    4: TicketStatus.PENDING_CHANGE,
    5: TicketStatus.RESOLVED,
    6: TicketStatus.CLOSED,
}


@dataclass
class GlpiHarness:
    backend: Backend
    fake: GlpiFake
    clock: FakeClock
    name: str = "glpi"

    def status(self, ticket_id: str) -> TicketStatus | None:
        return _GLPI_STATUSES.get(self.fake.ticket(ticket_id)["status"])

    def title(self, ticket_id: str) -> str:
        return str(self.fake.ticket(ticket_id)["name"])

    def texts(self, ticket_id: str) -> list[str]:
        return self.fake.followups_of(ticket_id) + self.fake.solutions_of(ticket_id)

    def attachments(self, ticket_id: str) -> list[tuple[str, bytes]]:
        return [(d["filename"], d["content"]) for d in self.fake.documents_of(ticket_id)]

    def links(self, ticket_id: str) -> set[Link]:
        kinds = {2: Relation.DUPLICATES, 1: Relation.RELATES}
        return {
            (str(r["tickets_id_1"]), str(r["tickets_id_2"]), kinds[r["link"]])
            for r in self.fake.links.values()
            if int(ticket_id) in (r["tickets_id_1"], r["tickets_id_2"]) and r["link"] in kinds
        }

    def with_key(self, key: str) -> list[str]:
        return [str(i) for i, t in self.fake.tickets.items() if key_from_content(self.fake.ticket(i)["content"]) == key]

    def let_time_pass(self) -> None:
        self.clock.advance(seconds=2)


# --- the engine ----------------------------------------------------------------------------------


def an_alert(clock: Clock, external_id: str | None = None, **overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "source": "zabbix",
        "external_id": external_id or str(uuid.uuid4()),
        "title": "Core switch cs-01 down",
        "description": "ICMP ping loss 100% on cs-01",
        "ci": "cs-01",
        "severity": 5,
        "occurred_at": clock.now(),
    }
    values.update(overrides)
    return Alert(**values)


def make_engine(backend: Backend, clock: Clock, state: Path, *, store: Store | None = None) -> Engine:
    """The real engine over a fresh state file (or ``store``: a test about the SQLite file
    itself), default rules, no sources."""
    return Engine(
        store=store or make_store(state),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(build_plugin_manager(), default_rulebook()),
        clock=clock,
    )


def drive_engine_once(backend: Backend, clock: Clock, tmp_path: Path, alert: Alert | None = None) -> tuple[Engine, str]:
    """Ingest one alert, decide, drain once; returns the engine and the ticket key."""
    engine = make_engine(backend, clock, tmp_path / "state.db")
    alert = alert or an_alert(clock)
    engine.ingest(alert.source, [alert])
    engine.process_pending()
    engine.drain_outbox()
    return engine, alert.key


class LandsThenTimesOut:
    """A backend whose first create reaches the helpdesk but whose answer is lost (a timeout
    after the helpdesk acted, or a crash before the local commit)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.landed: list[TicketRef] = []
        self.creates = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_ticket(self, ticket: Ticket) -> TicketRef:
        self.creates += 1
        ref = self.inner.create_ticket(ticket)
        if not self.landed:
            self.landed.append(ref)
            raise BackendUnavailable("read timed out after the helpdesk acted", backend="test", operation="create")
        return ref
