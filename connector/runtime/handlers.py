"""One handler per kind of outbox operation, registered by kind (``HANDLERS``).

The drain (``connector.runtime.drain``) reads a row's kind and payload into types
(``OpKind``, the kind's payload model) and calls the kind's handler; a handler performs the
one write and marks the operation done in the state file. Two exceptions tell the drain what
else can happen besides the connector's error tree: ``WaitForTicket`` (the ticket is not in
the helpdesk yet: try after its create) and ``CannotLand`` (it never can: dead-letter it with
the reason).

Why this module is long: it is the one table the drain reads — every kind's handler beside the
few helpers they all share (marking done, writing once, finding the ticket's id) — and each
handler is a dozen lines; split by kind, the helpers would become a module of their own that
every handler file imports, for no handler that is easier to read.
"""

from __future__ import annotations

__all__ = ["HANDLERS", "CannotLand", "OpHandler", "WaitForTicket", "ticket_ref", "with_creation_note"]

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from connector.contracts.adapters import Resolution
from connector.contracts.delivery import delivering
from connector.domain.clock import parse_time
from connector.domain.decision import HELPDESK_KEY_PREFIX
from connector.domain.errors import ConnectorError, StoreError
from connector.domain.knowledge import KbArticle
from connector.domain.models import Attachment, Ticket, TicketRef, TicketSource, ticket_changes
from connector.runtime.knowledge import owe_after_create
from connector.runtime.outbox_ops import (
    SOURCE_PREFIX,
    AckPayload,
    CiLinkPayload,
    CreatePayload,
    KbCandidatePayload,
    LinkPayload,
    NotePayload,
    NoticePayload,
    OpKind,
    ProblemPayload,
    ResolvePayload,
    UpdatePayload,
    source_target,
)
from connector.state.store import OutboxOp
from connector.util.failpoints import failpoint

if TYPE_CHECKING:
    from connector.runtime.engine import Engine

log = logging.getLogger("connector")

P = TypeVar("P", bound=BaseModel)


class WaitForTicket(ConnectorError):
    """The operation's ticket (or related ticket) is not in the helpdesk yet."""


class CannotLand(ConnectorError):
    """The operation can never land: its ticket will never exist (its create was dead-lettered),
    what it carries is gone, or the row itself cannot be read (unknown kind, bad payload)."""


@dataclass(frozen=True)
class OpHandler(Generic[P]):
    """How one kind of operation is carried out: the model its payload is read with, and the
    function that performs it (``engine``, the row, the typed payload, the drain's now)."""

    kind: OpKind
    payload: type[P]
    run: Callable[[Engine, OutboxOp, P, datetime], None]

    def __call__(self, engine: Engine, op: OutboxOp, payload: BaseModel, now: datetime) -> None:
        assert isinstance(payload, self.payload)
        self.run(engine, op, payload, now)


def ticket_ref(engine: Engine, key: str) -> TicketRef:
    """Where the connector's ticket ``key`` lives in the helpdesk; ``WaitForTicket`` while its
    create is still owed, ``CannotLand`` when it never will be."""
    if key.startswith(HELPDESK_KEY_PREFIX):  # a helpdesk ticket the connector did not make
        return TicketRef(ticket_id=key[len(HELPDESK_KEY_PREFIX) :], url="")
    store = engine.store
    found = store.ticket_ref(key)
    if found is not None:
        return TicketRef(ticket_id=found.ticket_id, url=found.url)
    if store.get(key) is None:
        raise CannotLand(f"the connector made no ticket {key}")
    if not store.has_pending_op(key, OpKind.CREATE):
        raise CannotLand(f"ticket {key} was never created (its create operation was dead-lettered)")
    raise WaitForTicket(key)


def _key(op: OutboxOp) -> str:
    if op.ticket_key is None:
        raise CannotLand(f"a {op.op} operation needs a ticket and this one names none")
    return op.ticket_key


def _extra(op: OutboxOp, external_id: str | None = None, key: str | None = None) -> dict[str, Any]:
    """What a JSON log line about this operation carries besides its text (``--log-format json``)."""
    extra: dict[str, Any] = {"key": key or op.ticket_key, "operation": op.op}
    if external_id:
        extra["external_id"] = external_id
    return extra


def _done(engine: Engine, op: OutboxOp, now: datetime) -> None:
    """Mark ``op`` done when it landed — the clock read now, not ``now``, the start of the drain
    pass: a pass behind a slow helpdesk lasts many seconds, and the connector's own timings
    (how long an operation waited, the storm benchmark) were up to a pass early."""
    with engine.store.transaction():
        engine.store.op_done(op.id, engine.clock.now())


# --- backend -----------------------------------------------------------------------------------


def _create(engine: Engine, op: OutboxOp, payload: CreatePayload, now: datetime) -> None:
    key = _key(op)
    backend, store = engine.backend, engine.store
    ticket = payload.ticket
    # only an operation that went out before can have landed (a crash after the helpdesk's
    # answer, a timeout after it acted): then ask before creating again; a first attempt is one call
    ref = backend.find_by_key(key) if op.sent else None
    if ref is not None:
        log.info(
            "%s → found existing %s #%s, not creating it again", key, backend.name, ref.ticket_id, extra=_extra(op)
        )
    else:
        ticket = _identify_reporter(engine, with_creation_note(ticket, payload.note), payload.source)
        if not op.sent:
            with store.transaction():
                store.op_mark_sent(op.id)
        ref = backend.create_ticket(ticket)
        failpoint("outbox.after_create")
    with store.transaction():
        store.ticket_set_ref(key, ref.ticket_id, ref.url)
        if ref.updated_at is not None:  # its only change is this create: the sync-back skips it
            store.set_helpdesk_seen(backend.name, ref.ticket_id, ref.updated_at)
        store.op_done(op.id, engine.clock.now())  # when it landed (see _done)
        source = engine.sources.get(payload.source)
        if source is not None and engine.source_capabilities(payload.source).acknowledges and ticket.external_id:
            store.enqueue(source_target(payload.source), OpKind.ACK, key, {"external_id": ticket.external_id}, now)
    log.info("%s → created %s #%s %s", key, backend.name, ref.ticket_id, ref.url, extra=_extra(op, ticket.external_id))
    owe_after_create(engine, key, engine.clock.now())  # the CI link, similar incidents: never raises


def with_creation_note(ticket: Ticket, note: str | None) -> Ticket:
    """``ticket`` with the note of its creation (why it duplicates or recurs) below its own
    description: what people read first on the new ticket, as the first journal note showed it
    before, in the create itself (a helpdesk's create takes no note of its own)."""
    if not note or not note.strip():
        return ticket
    text = f"{ticket.description.rstrip()}\n\n---\n{note}" if ticket.description.strip() else note
    return ticket.model_copy(update={"description": text})


def _identify_reporter(engine: Engine, ticket: Ticket, source_name: str) -> Ticket:
    """IM 1.1: the sender of a user report, looked up as a helpdesk user, is the contact.

    An unknown sender follows the source's ``unknown_senders``: ``anonymous`` keeps the
    address as the contact (it is in the ticket); ``reject`` refuses the report, which is
    then dead-lettered with the reason. A lookup that fails for now is retried with the
    create (``BackendUnavailable``).
    """
    reporter = ticket.reporter
    if ticket.source is not TicketSource.USER_REPORT or not reporter or "@" not in reporter:
        return ticket
    users = engine.capabilities.users
    if users is None:
        return ticket
    name = engine.backend.name
    user = users.find_user_by_email(reporter)
    if user is not None:
        log.info("%s → reporter %s is %s user %s", ticket.key, reporter, name, user.login)
        return ticket.model_copy(update={"contact": user.name or user.login})
    if source_name in engine.sources and engine.source_capabilities(source_name).rejects_unknown_senders:
        replied = engine._auto_reply(reporter, ticket.title)
        raise CannotLand(
            f"{reporter} is not a user of {name} and the source rejects unknown senders "
            f"(unknown_senders: reject){'; the sender was told by auto-reply' if replied else ''}"
        )
    return ticket


@contextmanager
def _write_once(engine: Engine, op: OutboxOp) -> Iterator[None]:
    """Around one backend write on an existing ticket: as for a create, the operation is marked
    *sent* before its first try, and the backend is told which operation it carries out and
    whether it may have gone out before (``connector.contracts.delivery``), so a backend whose
    write has no key of its own (a note) can mark it and look it up on a retry only."""
    if not op.sent:
        with engine.store.transaction():
            engine.store.op_mark_sent(op.id)
    with delivering(op.id, retry=op.sent):
        yield


def _link(engine: Engine, op: OutboxOp, payload: LinkPayload, now: datetime) -> None:
    key = _key(op)
    ref = ticket_ref(engine, key)
    other = ticket_ref(engine, payload.related_key)
    with _write_once(engine, op):
        engine.backend.add_relation(ref.ticket_id, other.ticket_id, payload.relation)
    log.info("%s → #%s %s #%s", key, ref.ticket_id, payload.relation.value, other.ticket_id, extra=_extra(op))
    _done(engine, op, now)


def _note(engine: Engine, op: OutboxOp, payload: NotePayload, now: datetime) -> None:
    ref = ticket_ref(engine, _key(op))
    with _write_once(engine, op):
        engine.backend.add_note(ref.ticket_id, payload.text)
    _done(engine, op, now)


def _attach(engine: Engine, op: OutboxOp, attachment: Attachment, now: datetime) -> None:
    key = _key(op)
    ref = ticket_ref(engine, key)
    spool = engine.spool
    if spool is None:
        raise CannotLand("no spool to read the attachment from (the engine was built without one)")
    try:
        content = spool.get(attachment.sha256)
    except StoreError as exc:  # the file is gone: no retry can bring it back
        raise CannotLand(f"attachment {attachment.filename!r}: {exc}") from exc
    with _write_once(engine, op):
        engine.backend.add_attachment(ref.ticket_id, attachment.filename, content, attachment.content_type)
    log.info(
        "%s → attached %s (%d bytes) to #%s", key, attachment.filename, len(content), ref.ticket_id, extra=_extra(op)
    )
    _done(engine, op, now)
    if not engine.store.attachment_owed(attachment.sha256):
        spool.discard(attachment.sha256)  # content-addressed: only when nothing else owes it


def _update(engine: Engine, op: OutboxOp, payload: UpdatePayload, now: datetime) -> None:
    ref = ticket_ref(engine, _key(op))
    with _write_once(engine, op):
        engine.backend.update_ticket(ref.ticket_id, ticket_changes(payload.changes), payload.note)
    _done(engine, op, now)


def _resolve(engine: Engine, op: OutboxOp, payload: ResolvePayload, now: datetime) -> None:
    key = _key(op)
    ref = ticket_ref(engine, key)
    changes = ticket_changes(payload.changes)
    resolution = Resolution(
        at=parse_time(payload.at) if payload.at else now,
        note=payload.note,
        outage_end=parse_time(payload.outage_end) if payload.outage_end else None,
        changes=changes,
    )
    with _write_once(engine, op):
        engine.backend.resolve_ticket(ref.ticket_id, resolution)
        if changes and not engine.capabilities.writes_resolution_changes:
            engine.backend.update_ticket(ref.ticket_id, changes)  # a backend that cannot in one write
    log.info("%s → resolved %s #%s", key, engine.backend.name, ref.ticket_id, extra=_extra(op))
    _done(engine, op, now)


def _problem(engine: Engine, op: OutboxOp, payload: ProblemPayload, now: datetime) -> None:
    """Open the problem record once (a create that may have gone out is looked up by its key
    first, as a ticket's create is), then link the incident to it and add the note."""
    key = _key(op)
    tracker = engine.capabilities.problems
    if tracker is None:
        raise CannotLand(f"{engine.backend.name} keeps no problem records (no ProblemTracker)")
    incident = ticket_ref(engine, key)
    store = engine.store
    problem = store.problem_ref(payload.problem_key)
    if problem is None:
        if payload.record is None:  # the incident that opens it has not landed its record yet
            raise WaitForTicket(payload.problem_key)
        problem = tracker.find_problem(payload.problem_key) if op.sent else None
        if problem is None:
            if not op.sent:
                with store.transaction():
                    store.op_mark_sent(op.id)
            problem = tracker.create_problem(payload.record)
            failpoint("outbox.after_problem_create")
        with store.transaction():
            store.problem_set_ref(payload.problem_key, problem.ticket_id, problem.url)
        log.info("%s → problem %s is %s #%s", key, payload.problem_key, engine.backend.name, problem.ticket_id)
    with _write_once(engine, op):
        tracker.link_problem(problem.ticket_id, incident.ticket_id)
        if payload.note:
            tracker.add_problem_note(problem.ticket_id, payload.note)
    log.info("%s → linked to problem #%s", key, problem.ticket_id, extra=_extra(op))
    _done(engine, op, now)


# --- source ------------------------------------------------------------------------------------


def _ack(engine: Engine, op: OutboxOp, payload: AckPayload, now: datetime) -> None:
    name = op.target[len(SOURCE_PREFIX) :]
    source = engine.sources.get(name)
    if source is None:
        raise CannotLand(f"source {name!r} is no longer configured")
    key = _key(op)
    ref = ticket_ref(engine, key)
    # an empty message lets the source use its configured text (Zabbix: ack_message)
    source.acknowledge(payload.external_id, ref, "")
    _done(engine, op, now)
    log.info("%s → acknowledged in %s with ticket #%s", key, name, ref.ticket_id, extra=_extra(op, payload.external_id))


# --- notice ------------------------------------------------------------------------------------


def _notice(engine: Engine, op: OutboxOp, payload: NoticePayload, now: datetime) -> None:
    notifications = engine.notifications
    if notifications is None:
        raise CannotLand("notices are not configured (no notify section) any more")
    store = engine.store
    notice = payload.notice
    if notice.ticket.ticket_id is None:  # created since it was queued: say which ticket it is
        key = notice.ticket.key
        found = store.ticket_ref(key)
        if found is not None:
            link = notice.ticket.model_copy(update={"ticket_id": found.ticket_id, "url": found.url or None})
            notice = notice.model_copy(update={"ticket": link})
        elif store.get(key) is not None and not store.has_pending_op(key, OpKind.CREATE):
            # its create was refused (a sender the desk does not know): there is no incident to
            # announce — the sender got the refusal instead
            _done(engine, op, now)
            log.info("%s → %s notice dropped: the ticket was never created", key, notice.kind.value)
            return
    channel = payload.channel
    delivery = notifications.send(notice, channel)
    _done(engine, op, now)
    if delivery.sent:
        who = ", ".join(r.name or r.address for r in delivery.recipients) or "the channel"
        log.info(
            "%s → %s notice sent on %s to %s",
            notice.ticket.key,
            notice.kind.value,
            channel,
            who,
            extra=_extra(op, key=notice.ticket.key),
        )
    else:
        log.warning(
            "%s → %s notice not sent on %s: nobody to reach (%s)",
            notice.ticket.key,
            notice.kind.value,
            channel,
            "; ".join(delivery.missing) or "no recipients",
            extra=_extra(op, key=notice.ticket.key),
        )


def _kb_candidate(engine: Engine, op: OutboxOp, payload: KbCandidatePayload, now: datetime) -> None:
    knowledge = engine.capabilities.knowledge_base
    if knowledge is None:
        raise CannotLand(f"{engine.backend.name} keeps no knowledge-base candidates (not configured)")
    with _write_once(engine, op):
        where = knowledge.write_kb_candidate(KbArticle(**payload.model_dump()))
    log.info("%s → knowledge-base candidate %s", payload.key, where, extra=_extra(op))
    _done(engine, op, now)


def _ci_link(engine: Engine, op: OutboxOp, payload: CiLinkPayload, now: datetime) -> None:
    linker = engine.capabilities.ci_links
    if linker is None:
        raise CannotLand(f"{engine.backend.name} links no configuration items (not configured)")
    ref = ticket_ref(engine, _key(op))
    with _write_once(engine, op):
        found = linker.link_ci(ref.ticket_id, payload.ci)
    if found is None:
        name = engine.backend.name
        log.info("%s → CI %r is not in %s: not linked", op.ticket_key, payload.ci, name, extra=_extra(op))
    else:
        log.info("%s → #%s linked to CI %s", op.ticket_key, ref.ticket_id, found, extra=_extra(op))
    _done(engine, op, now)


def _registry(*handlers: OpHandler[Any]) -> Mapping[OpKind, OpHandler[Any]]:
    table = {h.kind: h for h in handlers}
    missing = set(OpKind) - set(table)
    if missing:  # a kind without a handler is a programming error: fail at import, not in a drain
        raise RuntimeError(f"outbox kinds without a handler: {sorted(missing)}")
    return MappingProxyType(table)


#: the handler of every kind, built once
HANDLERS: Mapping[OpKind, OpHandler[Any]] = _registry(
    OpHandler(OpKind.CREATE, CreatePayload, _create),
    OpHandler(OpKind.LINK, LinkPayload, _link),
    OpHandler(OpKind.NOTE, NotePayload, _note),
    OpHandler(OpKind.ATTACH, Attachment, _attach),
    OpHandler(OpKind.UPDATE, UpdatePayload, _update),
    OpHandler(OpKind.RESOLVE, ResolvePayload, _resolve),
    OpHandler(OpKind.ACK, AckPayload, _ack),
    OpHandler(OpKind.NOTICE, NoticePayload, _notice),
    OpHandler(OpKind.KB_CANDIDATE, KbCandidatePayload, _kb_candidate),
    OpHandler(OpKind.CI_LINK, CiLinkPayload, _ci_link),
    OpHandler(OpKind.PROBLEM, ProblemPayload, _problem),
)
