"""The shapes of the stateful adapters: sources (where alerts come from) and backends (helpdesks).

Plugins hand the host a *type* (``SourceType`` / ``BackendType``): a name, a pydantic model of
its config section, and a factory. The host validates the section against the model (so errors
name file:line) and calls the factory only when the config asks for that type — nothing is
built for an adapter nobody configured.
"""

from __future__ import annotations

__all__ = [
    "Backend",
    "BackendType",
    "Change",
    "ChangeKind",
    "HelpdeskUser",
    "HistoryReader",
    "IntakeJournal",
    "Journaled",
    "PluginContext",
    "PollResult",
    "PushSource",
    "Rejected",
    "Relation",
    "Resolution",
    "Source",
    "SourceType",
    "TicketHistory",
    "TicketSnapshot",
    "UserDirectory",
]

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from connector.domain.clock import Clock
from connector.domain.models import Alert, ResolutionCode, Ticket, TicketRef, TicketStatus
from connector.rules.book import RuleBook
from connector.state.spool import Spool
from connector.util.unicode_text import valid_text, valid_tree


class Relation(StrEnum):
    """How two tickets are linked."""

    DUPLICATES = "duplicates"  # this ticket duplicates the other (the master)
    RELATES = "relates"  # a recurrence relates to the closed original


@dataclass(frozen=True)
class Resolution:
    """What the connector says when it resolves a ticket (e.g. Zabbix reported recovery).

    ``changes`` are the ``Ticket`` fields the resolve changes besides the status (the SLA
    target ``sla_due`` cleared: nothing runs any more). A backend that declares
    ``writes_resolution_changes`` (``connector.contracts.capabilities.ResolutionWriter``) writes
    them in the resolve itself; for any other the connector sends them as an update after it.
    """

    at: datetime
    note: str
    outage_end: datetime | None = None
    resolution_code: ResolutionCode | None = None
    solution: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketSnapshot:
    """A ticket as read back from the helpdesk by ``Backend.changed_since``."""

    ticket_id: str
    key: str | None
    status: TicketStatus | None
    updated_at: datetime
    assignee: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    # what the sync-back adopts a ticket people made from (issue 12); ``None``: not read
    title: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    tracker: str | None = None  # the helpdesk's kind of ticket: a Redmine tracker, a GLPI type
    entity: str | None = None  # the GLPI entity's complete name ("Root entity > Finance"); None: none or unread
    # the helpdesk's own clock when it listed the ticket (an HTTP ``Date``); ``None``: unknown.
    # Later than ``updated_at`` by a whole second, it proves no change of that same second is
    # still to come, so the sync-back may remember the ticket as read (``connector.state.seen``)
    listed_at: datetime | None = None


@dataclass(frozen=True)
class Rejected:
    """An input a source could not turn into an Alert; it goes to the dead-letter table.

    Its strings are made ``valid_text`` here, once for every source: a bad input is often bad
    because of a lone surrogate, and the dead letter must still be written.
    """

    source: str
    external_id: str | None
    reason: str
    raw: Any

    def __post_init__(self) -> None:
        if self.external_id is not None:
            object.__setattr__(self, "external_id", valid_text(self.external_id))
        object.__setattr__(self, "reason", valid_text(self.reason))
        object.__setattr__(self, "raw", valid_tree(self.raw))


@dataclass(frozen=True)
class PollResult:
    """What one poll produced, and the cursor to persist once it is journaled."""

    items: Sequence[Alert | Rejected]
    cursor: str | None


@dataclass(frozen=True)
class PluginContext:
    """What the host gives an adapter factory: the clock, its instance name, a state dir,
    a way to register secret values so the log redactor hides them, and the spool where a
    source stores the files (attachments) its alerts name before it journals them. ``rules``
    is the rule book the connector runs with, for an adapter that writes what a rule decides
    (GLPI's response deadline from ``sla.yaml``); ``None``: the shipped rules."""

    clock: Clock
    name: str
    data_dir: Path
    register_secret: Callable[[str], None]
    spool: Spool
    rules: RuleBook | None = None


class Backend(Protocol):
    """A helpdesk the connector writes tickets into.

    Every method is one logical operation; raise ``BackendUnavailable`` when retrying later can
    help and ``BackendRejected`` when it cannot. Methods must be safe to repeat after a crash:
    ``create_ticket`` is always preceded by ``find_by_key``.

    ``resolves_duplicates`` says whether resolving a master in this helpdesk resolves the
    tickets linked to it as ``DUPLICATES`` by itself (GLPI does; Redmine only closes them when
    the master is *closed*). When it is false the connector resolves them itself.
    """

    name: str
    resolves_duplicates: bool

    def find_by_key(self, key: str) -> TicketRef | None:
        """Return the ticket that carries the connector key ``key``, if one exists."""
        ...

    def create_ticket(self, ticket: Ticket) -> TicketRef:
        """Create the ticket with every field the helpdesk can hold; return where it lives."""
        ...

    def update_ticket(self, ticket_id: str, changes: dict[str, Any], note: str | None = None) -> None:
        """Set the named ``Ticket`` fields (and add ``note`` in the same change, if given)."""
        ...

    def add_note(self, ticket_id: str, text: str) -> None:
        """Append a note (journal / follow-up) to the ticket."""
        ...

    def add_relation(self, ticket_id: str, other_id: str, relation: Relation) -> None:
        """Link ``ticket_id`` to ``other_id``; linking twice is not an error."""
        ...

    def resolve_ticket(self, ticket_id: str, resolution: Resolution) -> None:
        """Move the ticket to resolved, with the outage end and a note saying why."""
        ...

    def add_attachment(self, ticket_id: str, filename: str, content: bytes, content_type: str) -> None:
        """Attach a file (an e-mail's attachment, a report) to the ticket."""
        ...

    def changed_since(self, since: datetime) -> Iterator[TicketSnapshot]:
        """Yield the tickets changed in the helpdesk at or after ``since``."""
        ...

    def close(self) -> None:
        """Release sessions and connections."""
        ...


class Source(Protocol):
    """Where alerts come from (a Zabbix server, a mailbox, a file)."""

    name: str

    def poll(self, cursor: str | None, open_ids: Sequence[str]) -> PollResult:
        """Return what is new since ``cursor``, and recoveries among ``open_ids`` (the external
        ids of problems this source reported that have not recovered yet)."""
        ...

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        """Tell the source that a ticket exists for its problem (e.g. Zabbix event.acknowledge).

        An empty ``message`` means: use the source's own configured text for ``ref``."""
        ...

    def close(self) -> None:
        """Release sessions and connections."""
        ...


@dataclass(frozen=True)
class Journaled:
    """What one ``IntakeJournal.ingest`` call recorded."""

    new: int  # alerts journaled now
    repeats: int  # alerts whose (source, event key) was journaled before: dropped
    dead: int  # rejects dead-lettered now (a reject seen before is not counted again)


class IntakeJournal(Protocol):
    """How a push source records what it received, from its own threads.

    ``ingest`` has the semantics of ``Engine.ingest`` (alerts and rejects in one transaction,
    repeats dropped) and returns only once the transaction is committed, so a push source may
    answer "accepted" right after it. ``connector.runtime.intake.ThreadedJournal`` implements it on its
    own connection to the state file: the engine's ``Store`` stays in the engine's thread.
    """

    def ingest(self, items: Sequence[Alert | Rejected]) -> Journaled:
        """Journal ``items`` durably; raises ``StoreError`` when that is not possible."""
        ...

    def ticket_ref(self, key: str) -> TicketRef | None:
        """The helpdesk ticket made for connector key ``key``, once it exists."""
        ...


@runtime_checkable
class PushSource(Protocol):
    """A source that is called (a webhook, a mailbox in IDLE) instead of, or besides, polled.

    The daemon calls ``serve`` once at start with the journal to record into, and ``shutdown``
    when it stops; ``poll`` still runs on the schedule (it may return nothing). ``serve`` must
    return at once (start a thread), and ``shutdown`` must wait until no request is half-done.
    """

    def serve(self, journal: IntakeJournal) -> None:
        """Start accepting input, journaling it through ``journal``."""
        ...

    def shutdown(self) -> None:
        """Stop accepting input and wait for what is in flight."""
        ...


class ChangeKind(StrEnum):
    """What one entry of a ticket's history changed."""

    STATUS = "status"  # old/new: process statuses (``TicketStatus`` values)
    ASSIGNEE = "assignee"  # old/new: the helpdesk login of the assignee (or None)
    GROUP = "group"  # old/new: the assignment group's name as tickets name it (or None)
    FIELD = "field"  # ``field``: the ``Ticket`` field; old/new: its stored text
    NOTE = "note"  # new: the note's text


@dataclass(frozen=True)
class Change:
    """One change in the helpdesk, with when it happened and who made it.

    ``actor`` is the helpdesk login of the person (or the connector's own user); the closing
    policy and the reassignment rules read it, the KPI work log counts it.
    """

    at: datetime
    actor: str | None
    kind: ChangeKind
    old: str | None = None
    new: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class TicketHistory:
    """A ticket as the helpdesk knows it, with every change since it was created, oldest first.

    ``fields`` holds the current values of the ``Ticket`` fields the helpdesk keeps (decoded,
    as in ``TicketSnapshot``), ``status`` included; ``author`` is who registered it.
    """

    ticket_id: str
    key: str | None
    created_at: datetime
    author: str | None
    status: TicketStatus | None
    assignee: str | None
    group: str | None
    fields: dict[str, Any]
    changes: tuple[Change, ...]


@runtime_checkable
class HistoryReader(Protocol):
    """A backend that can tell what happened to a ticket: who changed what, and when.

    The sync-back (reassignments, the closing policy, SLA stops) and ``export-history`` (the
    KPI input) read it; kept out of ``Backend`` so a helpdesk without a readable history still
    works, with the coarser ``changed_since`` snapshots.
    """

    def ticket_history(self, ticket_id: str) -> TicketHistory:
        """The ticket and its changes; raises ``BackendUnavailable`` / ``BackendRejected``."""
        ...


@dataclass(frozen=True)
class HelpdeskUser:
    """A person known to the helpdesk (the reporter of an e-mail, IM 1.1)."""

    user_id: str
    login: str
    name: str
    email: str


@runtime_checkable
class UserDirectory(Protocol):
    """A backend that can say who an e-mail address belongs to.

    Kept out of ``Backend`` on purpose: a backend without a user list (or without the right to
    read it) simply does not implement it, and the connector then treats every sender as
    unknown (``unknown_senders`` of the e-mail source).
    """

    def find_user_by_email(self, email: str) -> HelpdeskUser | None:
        """The active user with this address (compared case-insensitively), or ``None``.

        Returns ``None`` too when the directory cannot be read for lack of permission (that is
        logged once); raises ``BackendUnavailable`` when asking again later can help."""
        ...


@dataclass(frozen=True)
class BackendType:
    """A kind of helpdesk a plugin can build, and the config section it reads."""

    name: str
    settings: type[BaseModel]
    factory: Callable[[Any, PluginContext], Backend]
    description: str = ""


@dataclass(frozen=True)
class SourceType:
    """A kind of source a plugin can build, and the config section it reads."""

    name: str
    settings: type[BaseModel]
    factory: Callable[[Any, PluginContext], Source]
    description: str = ""
