"""The connector's work loop, one step at a time: intake → decide → owe → deliver, and the clock.

1. ``ingest``: alerts (and rejects) from a source are journaled with the source's new cursor in
   one transaction; a repeat of a journaled event is dropped there.
2. ``process_pending``: each journaled alert goes through the pipeline; its decision (recorded
   by ``ledger.apply_decision``), the operations and notices it implies and the journal mark are
   committed together.
3. ``drain_outbox``: owed operations are tried in order, per ticket; a transient failure waits
   with exponential backoff (honouring ``Retry-After``) and blocks only its own target — a
   helpdesk, a source, or one notice channel.
4. ``sweep``: escalation, timed notices and SLA steps fire once each (``connector.process.escalation``).

Every step is safe to interrupt: what was committed is done, what was not is redone, and a
helpdesk create that may have gone out before is preceded by a lookup of the connector key,
so a crash between the helpdesk's answer and the local commit cannot double a ticket.
"""

from __future__ import annotations

__all__ = ["Engine", "RetryPolicy", "plan_operations"]

import html
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from connector.contracts.adapters import Backend, Rejected, Relation, Resolution, Source, UserDirectory
from connector.contracts.delivery import delivering
from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import Clock, isoformat, parse_time
from connector.domain.decision import HELPDESK_KEY_PREFIX, Action, Decision
from connector.domain.errors import (
    BackendRejected,
    BackendUnavailable,
    NotifierError,
    NotifierRejected,
    NotifierUnavailable,
    RuleError,
    SourceError,
    StoreError,
)
from connector.domain.ledger import apply_decision
from connector.domain.models import Alert, Attachment, Ticket, TicketRef, TicketSource, jsonable, ticket_changes
from connector.domain.notice import Notice
from connector.notify.settings import Notifications
from connector.process.escalation import SweepResult, SweepRules, decision_notices, sweep_ticket
from connector.process.pipeline import Pipeline
from connector.runtime.intake import alert_payload, reject_event_key
from connector.state.spool import Spool
from connector.state.store import OutboxOp, Store
from connector.util.failpoints import failpoint

log = logging.getLogger("connector")

BACKEND = "backend"
NOTIFY_PREFIX = "notify:"


def _source_target(name: str) -> str:
    return f"source:{name}"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for owed operations."""

    initial_seconds: float = 5.0
    max_seconds: float = 900.0
    max_attempts: int | None = None

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds to wait after the ``attempts``-th failure (1-based), at least ``retry_after``."""
        backoff = min(self.initial_seconds * (2.0 ** max(attempts - 1, 0)), self.max_seconds)
        return float(max(backoff, retry_after or 0.0))


@dataclass(frozen=True)
class _Planned:
    target: str
    op: str
    ticket_key: str | None
    payload: dict[str, Any]


class _WaitForTicket(Exception):
    """The operation's ticket (or related ticket) is not in the helpdesk yet."""


class _NoTicket(Exception):
    """The operation can never land: its ticket will never exist (its create was dead-lettered),
    or what it carries is gone."""


def plan_operations(
    decision: Decision,
    on_recovery: str = "resolve",
    cascaded: Sequence[str] = (),
    backend_resolves_duplicates: bool = True,
) -> list[_Planned]:
    """The backend writes a decision implies, in the order they must land.

    ``cascaded`` are the duplicates resolved with their master; they get their own resolve
    only where the helpdesk does not resolve duplicates itself.
    """
    alert = decision.alert
    key = decision.ticket_key
    ops: list[_Planned] = []
    if decision.action.creates_ticket:
        assert decision.ticket is not None and key is not None
        create = {"ticket": decision.ticket.model_dump(mode="json"), "source": alert.source}
        ops.append(_Planned(BACKEND, "create", key, create))
        if decision.related_key and decision.action is not Action.CREATE:
            relation = Relation.DUPLICATES if decision.action is Action.DUPLICATE else Relation.RELATES
            ops.append(
                _Planned(BACKEND, "link", key, {"related_key": decision.related_key, "relation": relation.value})
            )
            ops.append(_Planned(BACKEND, "note", key, {"text": f"{decision.reason} (rule {decision.rule})"}))
        ops.extend(_attachments(alert, key))
        if alert.recovered_at is not None:
            ops.append(_Planned(BACKEND, "resolve", key, _resolution_payload(alert, on_recovery)))
    elif decision.action is Action.APPEND:
        assert decision.related_key is not None
        if decision.is_reply:
            text = f"{decision.reason}:\n{alert.title}\n\n{alert.description}".rstrip()
        else:
            text = f"{decision.reason} (rule {decision.rule})"
        ops.append(_Planned(BACKEND, "note", decision.related_key, {"text": text}))
        ops.extend(_attachments(alert, decision.related_key))
    elif decision.action is Action.RESOLVE:
        assert key is not None
        if on_recovery == "note":
            note = (
                f"The source reported recovery at {isoformat(alert.recovered_at)}; resolve the ticket when confirmed."
            )
            ops.append(
                _Planned(
                    BACKEND, "update", key, {"changes": {"outage_end": isoformat(alert.recovered_at)}, "note": note}
                )
            )
        else:
            ops.append(_Planned(BACKEND, "resolve", key, _resolution_payload(alert, on_recovery)))
            if not backend_resolves_duplicates:
                for duplicate in cascaded:
                    payload = {
                        "at": isoformat(alert.recovered_at),
                        "note": f"Resolved with its master {key} 随主事件解决: {alert.source} reported it recovered.",
                    }
                    ops.append(_Planned(BACKEND, "resolve", duplicate, payload))
    for update in decision.updates:
        ops.append(_Planned(BACKEND, "update", update.key, {"changes": update.changes, "note": update.note}))
    return ops


def _attachments(alert: Alert, key: str) -> list[_Planned]:
    return [_Planned(BACKEND, "attach", key, a.model_dump(mode="json")) for a in alert.attachments]


def _resolution_payload(alert: Alert, on_recovery: str) -> dict[str, Any]:
    return {
        "at": isoformat(alert.recovered_at),
        "outage_end": isoformat(alert.recovered_at),
        "note": f"{alert.source} reported the problem recovered at {isoformat(alert.recovered_at)}.",
    }


class Engine:
    """Owns the store, the backend, the sources and the pipeline; each method is one step."""

    def __init__(
        self,
        *,
        store: Store,
        backend: Backend,
        sources: Mapping[str, Source],
        pipeline: Pipeline,
        clock: Clock,
        retry: RetryPolicy | None = None,
        batch: int = 200,
        spool: Spool | None = None,
        sweep_rules: SweepRules | None = None,
        notifications: Notifications | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.sources = dict(sources)
        self.pipeline = pipeline
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.batch = batch
        self.spool = spool
        self.sweep_rules = sweep_rules
        self.notifications = notifications
        #: set by the daemon on SIGTERM: loops finish the item in flight and return
        self.stopping = threading.Event()

    # --- 1. intake -----------------------------------------------------------------------------

    def poll(self, source_name: str) -> int:
        """Poll one source and journal what it returned; returns how many events were new.

        A source that cannot be read raises ``SourceError``; the caller logs it and goes on.
        """
        source = self.sources[source_name]
        cursor = self.store.get_cursor(source_name)
        result = source.poll(cursor, self.store.open_external_ids(source_name))
        return self.ingest(source_name, result.items, cursor=result.cursor, update_cursor=True)

    def ingest(
        self,
        source_name: str,
        items: Iterable[Alert | Rejected],
        *,
        cursor: str | None = None,
        update_cursor: bool = False,
    ) -> int:
        """Journal alerts and rejects (and the new cursor) in one transaction; returns the new count."""
        now = self.clock.now()
        new = 0
        with self.store.transaction():
            for item in items:
                if isinstance(item, Rejected):
                    payload, event_key = reject_event_key(item)
                    if self.store.journal_dead(item.source, event_key, item.external_id, payload, item.reason, now):
                        log.warning("%s:%s → dead letter: %s", item.source, item.external_id or "?", item.reason)
                    continue
                if self.store.journal_add(item.source, item.event_key, item.external_id, alert_payload(item), now):
                    new += 1
                else:
                    log.info("%s → skipped because it was already received", _label(item))
            if update_cursor:
                self.store.set_cursor(source_name, cursor, now)
        return new

    # --- 2. decide -----------------------------------------------------------------------------

    def process_pending(self) -> list[Decision]:
        """Run every journaled alert through the pipeline and commit what it decided."""
        decisions: list[Decision] = []
        while True:
            entries = self.store.journal_pending(self.batch)
            if not entries:
                return decisions
            for entry in entries:
                if self.stopping.is_set():
                    return decisions
                now = self.clock.now()
                try:
                    alert = Alert.model_validate_json(entry.payload)
                except ValidationError as exc:
                    reason = f"journaled payload no longer validates: {exc.errors()[0]['msg']}"
                    with self.store.transaction():
                        self.store.journal_finish(entry.id, "dead", reason, now)
                        self.store.dead_letter("intake", entry.source, entry.event_key, reason, entry.payload, now)
                    log.error("%s:%s → dead letter: %s", entry.source, entry.event_key, reason)
                    continue
                try:
                    decision = self.pipeline.decide(alert, self.store, now)
                except RuleError as exc:
                    with self.store.transaction():
                        self.store.journal_finish(entry.id, "dead", str(exc), now)
                        self.store.dead_letter("rule", alert.source, alert.key, str(exc), entry.payload, now)
                    log.error("%s → dead letter: %s", _label(alert), exc)
                    continue
                self._commit(entry.id, decision, now)
                decisions.append(decision)

    def _commit(self, entry_id: int, decision: Decision, now: datetime) -> None:
        alert = decision.alert
        source = self.sources.get(alert.source)
        on_recovery = str(getattr(source, "on_recovery", "resolve"))
        with self.store.transaction():
            applied = apply_decision(self.store, decision, now, self.backend.name)
            ops = plan_operations(decision, on_recovery, applied.cascaded, self.backend.resolves_duplicates)
            for op in ops:
                self.store.enqueue(op.target, op.op, op.ticket_key, op.payload, now)
            self._decision_notices(decision, on_recovery, now)
            self.store.journal_finish(entry_id, "done", f"{decision.action.value}: {decision.reason}", now)
        _log_decision(decision)

    def _decision_notices(self, decision: Decision, on_recovery: str, now: datetime) -> None:
        """Queue the §8 notices of a decision (opening, outage, restore)."""
        rules = self.sweep_rules
        if self.notifications is None or rules is None or decision.ticket_key is None:
            return
        state = self.store.get(decision.ticket_key)
        if state is None:
            return
        for notice in decision_notices(decision, state, rules, now, on_recovery=on_recovery):
            for channel in rules.notices.channels_for(notice.kind, notice.priority):
                self.queue_notice(notice, channel, now)

    # --- 3. deliver ----------------------------------------------------------------------------

    def drain_outbox(self, *, ignore_backoff: bool = False) -> int:
        """Try the owed operations that are due; returns how many landed.

        A pass takes ``batch`` operations in order; passes repeat while they land something (a
        backlog after an outage, or the follow-up a landed operation owes, such as a create's
        acknowledgement), so the outbox is drained of everything that can go now. A pass that
        lands nothing (all waiting or failing) ends it; so does a stop request.
        """
        total = 0
        while not self.stopping.is_set():
            landed = self._drain_pass(ignore_backoff)
            total += landed
            if not landed:
                break
        return total

    def _drain_pass(self, ignore_backoff: bool) -> int:
        now = self.clock.now()
        landed = 0
        blocked_keys: set[str] = set()
        blocked_targets: dict[str, str] = {}
        waiting = 0
        for op in self.store.pending_ops(self.batch):
            if self.stopping.is_set():
                break
            if op.target in blocked_targets or (op.ticket_key and op.ticket_key in blocked_keys):
                waiting += 1
                continue
            if not ignore_backoff and op.next_try_at > now:
                if op.ticket_key:
                    blocked_keys.add(op.ticket_key)
                continue
            try:
                self._execute(op, now)
            except _WaitForTicket:
                if op.ticket_key:
                    blocked_keys.add(op.ticket_key)
                continue
            except _NoTicket as exc:
                with self.store.transaction():
                    self.store.op_dead(op, str(exc), now)
                log.error("outbox #%d %s %s → dead letter: %s", op.id, op.op, op.ticket_key, exc)
                continue
            except (BackendUnavailable, NotifierUnavailable, SourceError) as exc:
                retry_after = exc.retry_after if isinstance(exc, BackendUnavailable | NotifierUnavailable) else None
                attempts = op.attempts + 1
                if self.retry.max_attempts is not None and attempts >= self.retry.max_attempts:
                    with self.store.transaction():
                        self.store.op_dead(op, f"gave up after {attempts} attempts: {exc}", now)
                    log.error(
                        "outbox #%d %s %s → dead letter after %d attempts: %s",
                        op.id,
                        op.op,
                        op.ticket_key,
                        attempts,
                        exc,
                    )
                    continue
                delay = self.retry.delay(attempts, retry_after)
                with self.store.transaction():
                    self.store.op_retry(op.id, now + timedelta(seconds=delay), str(exc))
                blocked_targets[op.target] = str(exc)
                if op.ticket_key:
                    blocked_keys.add(op.ticket_key)
                log.warning(
                    "outbox #%d %s %s waits %.0fs (attempt %d): %s",
                    op.id,
                    op.op,
                    op.ticket_key or "",
                    delay,
                    attempts,
                    exc,
                )
                continue
            except (BackendRejected, NotifierRejected) as exc:
                with self.store.transaction():
                    self.store.op_dead(op, str(exc), now)
                log.error("outbox #%d %s %s → dead letter: %s", op.id, op.op, op.ticket_key, exc)
                continue
            except StoreError:
                raise  # the state file itself failed: stop, nothing more can be recorded
            except Exception as exc:  # a plugin bug, or a payload it cannot take
                # retrying cannot help, and left pending it would fail first in every drain
                reason = f"unexpected {type(exc).__name__}: {exc}"
                with self.store.transaction():
                    self.store.op_dead(op, reason, now)
                log.exception("outbox #%d %s %s → dead letter: %s", op.id, op.op, op.ticket_key, reason)
                continue
            landed += 1
        for target, reason in blocked_targets.items():
            log.warning("outbox: %s unavailable, its other operations wait for the next drain: %s", target, reason)
        if waiting:
            log.info("outbox: %d operation(s) wait behind an earlier one for the same ticket or target", waiting)
        return landed

    def _ref(self, key: str) -> TicketRef:
        if key.startswith(HELPDESK_KEY_PREFIX):  # a helpdesk ticket the connector did not make
            return TicketRef(ticket_id=key[len(HELPDESK_KEY_PREFIX) :], url="")
        found = self.store.ticket_ref(key)
        if found is not None:
            return TicketRef(ticket_id=found[0], url=found[1])
        if self.store.get(key) is None:
            raise _NoTicket(f"the connector made no ticket {key}")
        if not self.store.has_pending_op(key, "create"):
            raise _NoTicket(f"ticket {key} was never created (its create operation was dead-lettered)")
        raise _WaitForTicket(key)

    def _execute(self, op: OutboxOp, now: datetime) -> None:
        if op.target == BACKEND:
            self._execute_backend(op, now)
        elif op.target.startswith("source:"):
            self._execute_source(op, now)
        elif op.target.startswith(NOTIFY_PREFIX):
            self._execute_notice(op, now)
        else:
            raise _NoTicket(f"unknown outbox target {op.target!r}")

    def _execute_backend(self, op: OutboxOp, now: datetime) -> None:
        assert op.ticket_key is not None
        key = op.ticket_key
        backend = self.backend
        if op.op == "create":
            ticket = Ticket.model_validate(op.payload["ticket"])
            # only an operation that went out before can have landed (a crash after the
            # helpdesk's answer, a timeout after it acted): then ask before creating again;
            # a first attempt is one call
            ref = backend.find_by_key(key) if op.sent else None
            if ref is not None:
                log.info("%s → found existing %s #%s, not creating it again", key, backend.name, ref.ticket_id)
            else:
                source = self.sources.get(str(op.payload["source"]))
                ticket = self._identify_reporter(ticket, source)
                if not op.sent:
                    with self.store.transaction():
                        self.store.op_mark_sent(op.id)
                ref = backend.create_ticket(ticket)
                failpoint("outbox.after_create")
            with self.store.transaction():
                self.store.ticket_set_ref(key, ref.ticket_id, ref.url)
                self.store.op_done(op.id, now)
                source_name = str(op.payload["source"])
                source = self.sources.get(source_name)
                if source is not None and getattr(source, "acknowledge_enabled", True) and ticket.external_id:
                    self.store.enqueue(
                        _source_target(source_name), "ack", key, {"external_id": ticket.external_id}, now
                    )
            log.info("%s → created %s #%s %s", key, backend.name, ref.ticket_id, ref.url)
            return
        ref = self._ref(key)
        if not op.sent:  # as for a create: a retry may find the write already made
            with self.store.transaction():
                self.store.op_mark_sent(op.id)
        with delivering(op.id, retry=op.sent):
            self._write(op, ref, now)

    def _write(self, op: OutboxOp, ref: TicketRef, now: datetime) -> None:
        """Carry out one backend operation on an existing ticket (not a create)."""
        key, backend = str(op.ticket_key), self.backend
        if op.op == "link":
            other = self._ref(str(op.payload["related_key"]))
            backend.add_relation(ref.ticket_id, other.ticket_id, Relation(op.payload["relation"]))
            log.info("%s → #%s %s #%s", key, ref.ticket_id, op.payload["relation"], other.ticket_id)
        elif op.op == "note":
            backend.add_note(ref.ticket_id, str(op.payload["text"]))
        elif op.op == "attach":
            attachment = Attachment.model_validate(op.payload)
            if self.spool is None:
                raise _NoTicket("no spool to read the attachment from (the engine was built without one)")
            try:
                content = self.spool.get(attachment.sha256)
            except StoreError as exc:  # the file is gone: no retry can bring it back
                raise _NoTicket(f"attachment {attachment.filename!r}: {exc}") from exc
            backend.add_attachment(ref.ticket_id, attachment.filename, content, attachment.content_type)
            log.info("%s → attached %s (%d bytes) to #%s", key, attachment.filename, len(content), ref.ticket_id)
            with self.store.transaction():
                self.store.op_done(op.id, now)
            if not self.store.attachment_owed(attachment.sha256):
                self.spool.discard(attachment.sha256)  # content-addressed: only when nothing else owes it
            return
        elif op.op == "update":
            backend.update_ticket(ref.ticket_id, ticket_changes(op.payload["changes"]), op.payload.get("note"))
        elif op.op == "resolve":
            payload = op.payload
            resolution = Resolution(
                at=parse_time(payload["at"]) if payload.get("at") else now,
                note=str(payload["note"]),
                outage_end=parse_time(payload["outage_end"]) if payload.get("outage_end") else None,
            )
            backend.resolve_ticket(ref.ticket_id, resolution)
            log.info("%s → resolved %s #%s", key, backend.name, ref.ticket_id)
        else:
            raise _NoTicket(f"unknown backend operation {op.op!r}")
        with self.store.transaction():
            self.store.op_done(op.id, now)

    def _identify_reporter(self, ticket: Ticket, source: Source | None) -> Ticket:
        """IM 1.1: the sender of a user report, looked up as a helpdesk user, is the contact.

        An unknown sender follows the source's ``unknown_senders``: ``anonymous`` keeps the
        address as the contact (it is in the ticket); ``reject`` refuses the report, which is
        then dead-lettered with the reason. A lookup that fails for now is retried with the
        create (``BackendUnavailable``).
        """
        reporter = ticket.reporter
        if ticket.source is not TicketSource.USER_REPORT or not reporter or "@" not in reporter:
            return ticket
        if not isinstance(self.backend, UserDirectory):
            return ticket
        user = self.backend.find_user_by_email(reporter)
        if user is not None:
            log.info("%s → reporter %s is %s user %s", ticket.key, reporter, self.backend.name, user.login)
            return ticket.model_copy(update={"contact": user.name or user.login})
        if getattr(source, "unknown_senders", "anonymous") == "reject":
            replied = self._auto_reply(reporter, ticket.title)
            raise _NoTicket(
                f"{reporter} is not a user of {self.backend.name} and the source rejects unknown senders "
                f"(unknown_senders: reject){'; the sender was told by auto-reply' if replied else ''}"
            )
        return ticket

    def _auto_reply(self, address: str, title: str) -> bool:
        """Tell a refused sender why, through the first e-mail channel (IM 1.1); ``False`` when
        there is none or it fails (the refusal stands either way). The reply is marked
        auto-generated, so an auto-responder does not answer it back."""
        kit = self.notifications
        channel = next((c for c in kit.channels.values() if c.address == "email"), None) if kit else None
        if kit is None or channel is None:
            log.warning("no e-mail channel: %s is not told that the report was refused", address)
            return False
        desk = kit.renderer.service_desk
        subject = "您的报告未被受理 Your report was not accepted"
        text = (
            f"您的邮件「{title}」未能登记：发件地址不是服务台的注册用户。请联系服务台：{desk}\n\n"
            f"Your mail “{title}” was not registered: the sender is not a user of the service desk. "
            f"Please contact the service desk: {desk}\n"
        )
        message = OutgoingMessage(
            subject=subject,
            text=text,
            html="<p>" + html.escape(text).replace("\n", "<br>") + "</p>",
            markdown=text,
            short=subject,
            ticket_key="refused",
            data={"kind": "auto_reply"},
        )
        try:
            channel.notifier.send(message, [Recipient("sender", address, address)])
        except NotifierError as exc:
            log.warning("the auto-reply to %s failed: %s", address, exc)
            return False
        return True

    def _execute_source(self, op: OutboxOp, now: datetime) -> None:
        name = op.target.split(":", 1)[1]
        source = self.sources.get(name)
        if source is None:
            raise _NoTicket(f"source {name!r} is no longer configured")
        assert op.ticket_key is not None
        ref = self._ref(op.ticket_key)
        if op.op != "ack":
            raise _NoTicket(f"unknown source operation {op.op!r}")
        # an empty message lets the source use its configured text (Zabbix: ack_message)
        source.acknowledge(str(op.payload["external_id"]), ref, "")
        with self.store.transaction():
            self.store.op_done(op.id, now)
        log.info("%s → acknowledged in %s with ticket #%s", op.ticket_key, name, ref.ticket_id)

    def _execute_notice(self, op: OutboxOp, now: datetime) -> None:
        if self.notifications is None:
            raise _NoTicket("notices are not configured (no notify section) any more")
        notice = Notice.model_validate(op.payload["notice"])
        if notice.ticket.ticket_id is None:  # created since it was queued: say which ticket it is
            key = notice.ticket.key
            ref = self.store.ticket_ref(key)
            if ref is not None:
                link = notice.ticket.model_copy(update={"ticket_id": ref[0], "url": ref[1] or None})
                notice = notice.model_copy(update={"ticket": link})
            elif self.store.get(key) is not None and not self.store.has_pending_op(key, "create"):
                # its create was refused (a sender the desk does not know): there is no incident to
                # announce — the sender got the refusal instead
                with self.store.transaction():
                    self.store.op_done(op.id, now)
                log.info("%s → %s notice dropped: the ticket was never created", key, notice.kind.value)
                return
        channel = str(op.payload["channel"])
        delivery = self.notifications.send(notice, channel)
        with self.store.transaction():
            self.store.op_done(op.id, now)
        if delivery.sent:
            who = ", ".join(r.name or r.address for r in delivery.recipients) or "the channel"
            log.info("%s → %s notice sent on %s to %s", notice.ticket.key, notice.kind.value, channel, who)
        else:
            log.warning(
                "%s → %s notice not sent on %s: nobody to reach (%s)",
                notice.ticket.key,
                notice.kind.value,
                channel,
                "; ".join(delivery.missing) or "no recipients",
            )

    # --- 4. the clock: escalation, notices, SLA ------------------------------------------------

    def sweep(self) -> int:
        """Fire every escalation, notice and SLA step that is due (each once, late ones marked
        late) and keep field 21 at the next deadline; returns how many steps fired."""
        if self.sweep_rules is None:
            return 0
        now = self.clock.now()
        fired = 0
        for state in self.store.sweep_tickets(now - self.sweep_rules.resolved_horizon):
            if self.stopping.is_set():
                break
            with self.store.transaction():
                result = sweep_ticket(self.store, state, self.sweep_rules, now)
                self._queue_sweep(result, now)
            for f in result.fired:
                late = " (late)" if f.late else ""
                log.info("%s → %s fired%s: %s", f.key, f.step.id, late, ", ".join(f.step.roles))
            fired += len(result.fired)
        return fired

    def _queue_sweep(self, result: SweepResult, now: datetime) -> None:
        change = result.change
        if change is not None:
            payload = {"changes": jsonable(change.changes), "note": change.note}
            self.store.enqueue(BACKEND, "update", change.key, payload, now)
        if self.notifications is None:
            return
        for f in result.fired:
            for channel in f.channels:
                self.queue_notice(f.notice, channel, now)

    def queue_notice(self, notice: Notice, channel: str, now: datetime) -> None:
        """Owe one notice on one channel (one operation per channel: a retry never re-sends
        on a channel that already delivered). Not tied to its ticket's operations: a P1
        notice goes out even while the helpdesk is down."""
        payload = {"notice": notice.model_dump(mode="json"), "channel": channel}
        self.store.enqueue(NOTIFY_PREFIX + channel, "notice", None, payload, now)

    # --- one cycle -----------------------------------------------------------------------------

    def poll_sources(self) -> None:
        """Poll every source, then decide what the new alerts mean. A source that cannot be
        read is logged and skipped; the others and the decisions go on."""
        for name in self.sources:
            if self.stopping.is_set():
                return
            try:
                new = self.poll(name)
                # a quiet source every minute is not news: INFO only when something came in
                log.log(logging.INFO if new else logging.DEBUG, "source %s: %d new event(s)", name, new)
            except SourceError as exc:
                log.warning("%s (will try again next cycle)", exc)
        self.process_pending()

    def run_once(self, *, ignore_backoff: bool = False, before_sweep: Callable[[], object] | None = None) -> None:
        """Poll every source, decide, (read the helpdesk back), sweep the clock, and deliver:
        what ``itsm-connector once`` does."""
        self.poll_sources()
        if before_sweep is not None and not self.stopping.is_set():
            try:
                before_sweep()
            except (BackendUnavailable, SourceError) as exc:
                log.warning("reading the helpdesk back failed (next cycle tries again): %s", exc)
        if not self.stopping.is_set():
            self.sweep()
        if not self.stopping.is_set():
            self.drain_outbox(ignore_backoff=ignore_backoff)


def _label(alert: Alert) -> str:
    suffix = " (recovery)" if alert.recovered_at is not None else ""
    return f"{alert.key}{suffix}"


def _log_decision(decision: Decision) -> None:
    alert = decision.alert
    ticket = decision.ticket
    if decision.action is Action.IGNORED:
        log.info("%s → skipped because %s", _label(alert), decision.reason)
    elif ticket is not None:
        log.info(
            "%s → %s P%d %r (rule %s: %s)",
            _label(alert),
            decision.action.value,
            int(ticket.priority),
            ticket.title,
            decision.rule,
            decision.reason,
        )
    else:
        log.info(
            "%s → %s %s (rule %s: %s)",
            _label(alert),
            decision.action.value,
            decision.ticket_key,
            decision.rule,
            decision.reason,
        )
