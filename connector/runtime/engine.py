"""The connector's work loop, one step at a time: intake → decide → owe → deliver, and the clock.

1. ``ingest``: alerts (and rejects) from a source are journaled with the source's new cursor in
   one transaction; a repeat of a journaled event is dropped there.
2. ``process_pending``: each journaled alert goes through the pipeline; its decision (recorded
   by ``ledger.apply_decision``), the operations and notices it implies and the journal mark are
   committed together, in a transaction that first takes the ``decide`` lock row and reads the
   entry again, so several daemons on one state decide each entry once, one at a time.
3. ``drain_outbox``: owed operations are tried in order, per ticket; a transient failure waits
   with exponential backoff (honouring ``Retry-After``) and blocks only its own target — a
   helpdesk, a source, or one notice channel.
4. ``sweep``: escalation, timed notices and SLA steps fire once each (``connector.process.escalation``);
   the storm guard's counts held back by ``storm_guard.note_interval_seconds`` are written once
   their storm went quiet (``connector.runtime.storm_notes``).

Every step is safe to interrupt: what was committed is done, what was not is redone, and a
helpdesk create that may have gone out before is preceded by a lookup of the connector key,
so a crash between the helpdesk's answer and the local commit cannot double a ticket.

Why this module is long: the four steps share one transaction discipline (what one commit
holds, which lock row it takes first, what a stop or a lost lease interrupts), and keeping them
in one class keeps that discipline readable in one place. The parts with a job of their own
already live beside it: ``plan`` (the operations a decision owes), ``outbox_ops`` (their kinds,
targets and payloads), ``handlers`` (one per kind), ``drain`` (the delivery loop and what each
failure means), ``retry`` (the backoff), ``noise_jobs`` (the clock's own decisions) and
``holders`` (freeing a dead daemon's work).
"""

from __future__ import annotations

__all__ = ["BACKEND", "NOTIFY_PREFIX", "Engine", "RetryPolicy", "plan_operations"]

import html
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from pydantic import ValidationError

from connector.contracts.adapters import Backend, Rejected, Source
from connector.contracts.capabilities import BackendCapabilities, SourceCapabilities
from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import Clock
from connector.domain.decision import Decision
from connector.domain.errors import (
    BackendUnavailable,
    NotifierError,
    RuleError,
    SourceError,
)
from connector.domain.ledger import apply_decision
from connector.domain.models import Alert, jsonable
from connector.domain.notice import Notice, NoticeKind
from connector.notify.settings import Notifications
from connector.process.escalation import SweepResult, SweepRules, decision_notices
from connector.process.pipeline import Pipeline
from connector.runtime import noise_jobs, storm_notes
from connector.runtime.decision_log import alert_label, log_decision
from connector.runtime.drain import drain_pass
from connector.runtime.health import Health
from connector.runtime.holders import free_dead_holders
from connector.runtime.intake import alert_payload, reject_event_key
from connector.runtime.jobs import lease_lost
from connector.runtime.metrics import Metrics
from connector.runtime.outbox_ops import BACKEND, NOTIFY_PREFIX, OpKind
from connector.runtime.plan import clear_sla_with_resolve, plan_operations
from connector.runtime.retry import RetryPolicy
from connector.runtime.sweep_pass import sweep_pass
from connector.state.leases import DECIDE_LOCK, holder_id
from connector.state.spool import Spool
from connector.state.store import JournalEntry, Store

log = logging.getLogger("connector")


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
        capabilities: BackendCapabilities | None = None,
        metrics: Metrics | None = None,
        health: Health | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        #: what the backend can do beyond ``Backend`` (``build_app`` finds it at start-up)
        self.capabilities = capabilities if capabilities is not None else BackendCapabilities.of(backend)
        self.sources = dict(sources)
        self._source_caps: dict[str, tuple[Source, SourceCapabilities]] = {
            name: (source, SourceCapabilities.of(source)) for name, source in self.sources.items()
        }
        self.pipeline = pipeline
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.batch = batch
        self.spool = spool
        self.sweep_rules = sweep_rules
        #: the rules of the last complete sweep pass: the tickets' next-sweep marks were computed under them
        self._swept_with: SweepRules | None = None
        self.notifications = notifications
        #: set by the daemon on SIGTERM: loops finish the item in flight and return
        self.stopping = threading.Event()
        #: counters and gauges of ``/metrics`` (its own registry), and what ``/readyz`` checks
        self.metrics = metrics if metrics is not None else Metrics()
        self.health = health if health is not None else Health(clock)
        #: who this engine is in the ``leases`` and outbox claims (several daemons on one state)
        self.holder = holder_id()
        #: how long a claimed outbox operation stays this engine's (``daemon.claim_seconds``)
        self.claim_seconds = 120.0
        #: the outbox operations being run now: their claims are renewed while they run
        #: (``renew_claims``), so a slow helpdesk request never outlives its claim
        self.in_flight: set[int] = set()
        self._in_flight_lock = threading.Lock()

    def running_op(self, op_id: int, running: bool) -> None:
        """Note that operation ``op_id`` starts (or stopped) running on this engine."""
        with self._in_flight_lock:
            if running:
                self.in_flight.add(op_id)
            else:
                self.in_flight.discard(op_id)

    def renew_claims(self) -> None:
        """Extend the claim of every operation running now (the daemon's lease keeper, every
        ``renew_seconds``, on its own connection): a claim then expires only when this daemon
        is gone or cut off, never because one request took long."""
        with self._in_flight_lock:
            running = sorted(self.in_flight)
        now = self.clock.now()
        for op_id in running:
            self.store.op_claim(op_id, self.holder, now, self.claim_seconds)

    def halted(self) -> bool:
        """Whether a loop must finish the item in flight and return: a stop was asked, or the
        leased job on this thread may lose its lease (``connector.runtime.jobs.lease_lost``)."""
        return self.stopping.is_set() or lease_lost()

    def source_capabilities(self, name: str) -> SourceCapabilities:
        """What source ``name`` asks of the engine (recoveries, acknowledgements, senders), found
        once per source object: at construction, or when a source is put in ``sources`` later."""
        source = self.sources.get(name)
        known = self._source_caps.get(name)
        if known is not None and known[0] is source:
            return known[1]
        caps = SourceCapabilities.of(source) if source is not None else SourceCapabilities()
        if source is not None:
            self._source_caps[name] = (source, caps)
        return caps

    # --- 1. intake -----------------------------------------------------------------------------

    def poll(self, source_name: str) -> int:
        """Poll one source and journal what it returned; returns how many events were new.

        A source that cannot be read raises ``SourceError``; the caller logs it and goes on.
        """
        source = self.sources[source_name]
        cursor = self.store.get_cursor(source_name)
        try:
            result = source.poll(cursor, self.store.open_external_ids(source_name))
        except SourceError as exc:
            self.health.record(f"source:{source_name}", False, str(exc))
            raise
        self.health.record(f"source:{source_name}", True)
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
                        self.metrics.alerts_rejected.labels(item.source).inc()
                        self.metrics.dead_lettered.labels("intake").inc()
                        extra = {"external_id": item.external_id, "operation": "intake"}
                        log.warning("%s:%s → dead letter: %s", item.source, item.external_id, item.reason, extra=extra)
                    continue
                if self.store.journal_add(item.source, item.event_key, item.external_id, alert_payload(item), now):
                    self.metrics.alerts_received.labels(item.source).inc()
                    new += 1
                else:
                    log.info("%s → skipped because it was already received", alert_label(item))
            if update_cursor:
                self.store.set_cursor(source_name, cursor, now)
        return new

    # --- 2. decide -----------------------------------------------------------------------------

    def process_pending(self) -> list[Decision]:
        """Run every journaled alert through the pipeline and commit what it decided; returns
        the decisions (tests and the demo read them; the daemon calls ``decide_pending``)."""
        decisions: list[Decision] = []
        self.decide_pending(decisions.extend)
        return decisions

    def decide_pending(self, seen: Callable[[list[Decision]], object] | None = None) -> int:
        """Run every journaled alert through the pipeline and commit what it decided; returns
        how many decisions were made. The decisions themselves are handed to ``seen`` (when
        given) and not kept: after a long stop the backlog can be a million entries, and the
        daemon only needs to know whether there is something to deliver."""
        made = 0
        while True:
            entries = self.store.journal_pending(self.batch)
            if not entries:
                return made
            for entry in entries:
                if self.halted():
                    return made
                # one transaction per entry, serialised with every other daemon's decisions by the
                # decide lock row; the entry is read again under it (another daemon may have done it)
                with self.store.transaction():
                    self.store.take_lock(DECIDE_LOCK)
                    if self.store.journal_is_pending(entry.id):
                        decided = self._decide_entry(entry)
                        made += len(decided)
                        if seen is not None:
                            seen(decided)

    def _decide_entry(self, entry: JournalEntry) -> list[Decision]:
        """Decide one journaled entry (inside the caller's decide transaction); returns what was
        decided for it, after what the clock decided first by the alert's own time."""
        decisions: list[Decision] = []
        now = self.clock.now()
        try:
            alert = Alert.model_validate_json(entry.payload)
        except ValidationError as exc:
            reason = f"journaled payload no longer validates: {exc.errors()[0]['msg']}"
            with self.store.transaction():
                self.store.journal_finish(entry.id, "dead", reason, now)
                self.store.dead_letter(
                    "intake", entry.source, entry.event_key, reason, entry.payload, now, item_id=entry.id
                )
            self.metrics.dead_lettered.labels("intake").inc()
            log.error("%s:%s → dead letter: %s", entry.source, entry.event_key, reason)
            return decisions
        if alert.reply_to is None:
            decisions += self.settle_flapping(alert.recovered_at or alert.occurred_at)
            decisions += self.release_holds(alert.recovered_at or alert.occurred_at)
        try:
            decision = self.pipeline.decide(alert, self.store, now)
        except RuleError as exc:
            with self.store.transaction():
                self.store.journal_finish(entry.id, "dead", str(exc), now)
                self.store.dead_letter("rule", alert.source, alert.key, str(exc), entry.payload, now, item_id=entry.id)
            self.metrics.dead_lettered.labels("rule").inc()
            extra = {"key": alert.key, "external_id": alert.external_id, "operation": "decide"}
            log.error("%s → dead letter: %s", alert_label(alert), exc, extra=extra)
            return decisions
        self._commit(entry.id, decision, now)
        decisions.append(decision)
        return decisions

    def _commit(self, entry_id: int, decision: Decision, now: datetime) -> None:
        alert = decision.alert
        source = self.sources.get(alert.source)
        on_recovery = self.source_capabilities(alert.source).on_recovery if source is not None else "resolve"
        with self.store.transaction():
            applied = apply_decision(self.store, decision, now, self.backend.name)
            ops = plan_operations(decision, on_recovery, applied.cascaded, self.backend.resolves_duplicates)
            ops = storm_notes.coalesce(self.store, decision, ops, self._storm_note_interval, now)
            for planned in ops:
                op = clear_sla_with_resolve(self.store, planned)
                self.store.enqueue(op.target, op.op, op.ticket_key, op.payload, now)
            self._decision_notices(decision, on_recovery, now)
            self.store.journal_finish(entry_id, "done", f"{decision.action.value}: {decision.reason}", now)
        self.metrics.decisions.labels(decision.action.value).inc()
        log_decision(decision)

    @property
    def _storm_note_interval(self) -> timedelta | None:
        """``storm_guard.note_interval_seconds`` of the rule book in use (a reload changes it)."""
        return self.pipeline.rules.dedup.storm_note_interval

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
        while not self.halted():
            landed = drain_pass(self, ignore_backoff)
            total += landed
            if not landed:
                break
        return total

    def _auto_reply(self, address: str, title: str) -> bool:
        """Tell a refused sender why, through the first e-mail channel (IM 1.1); ``False`` when
        there is none or it fails (the refusal stands either way). The reply is marked
        auto-generated, so an auto-responder does not answer it back."""
        kit = self.notifications
        channel = next((c for c in kit.channels.values() if c.address == "email"), None) if kit else None
        if kit is None or channel is None:
            log.warning("no e-mail channel: %s is not told that the report was refused", address)
            return False
        # the text is the rule book's (replies.yaml); the title is filled in as data, never a template
        reply = self.pipeline.rules.replies.refused_sender
        subject, text = reply.fill(title=title, desk=kit.renderer.service_desk)
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

    # --- 4. the clock: escalation, notices, SLA ------------------------------------------------

    def sweep(self) -> int:
        """Fire every escalation, notice and SLA step that is due (each once, late ones marked
        late) and keep field 21 at the next deadline; returns how many steps fired. Flapping
        tickets that settled are resolved first (``settle_flapping``), and problems held through
        a maintenance window that ended are opened (``release_holds``)."""
        with self.store.transaction():  # what the clock decides, serialised with the decisions
            self.store.take_lock(DECIDE_LOCK)
            self.settle_flapping()
            self.release_holds()
            storm_notes.flush_quiet(self.store, self._storm_note_interval, self.clock.now())
        if self.sweep_rules is None:
            self.health.sweep_done()
            return 0
        now = self.clock.now()
        fired = 0
        rules = self.sweep_rules
        full = self._swept_with is not rules  # marks written under other rules (or none yet): read all
        for result in sweep_pass(self.store, rules, now, full=full, queue=self._queue_sweep, halted=self.halted):
            for f in result.fired:
                late = " (late)" if f.late else ""
                if f.step.kind is NoticeKind.SLA_BREACH:
                    self.metrics.sla_breaches.labels(f"P{int(f.notice.priority)}").inc()
                roles, extra = ", ".join(f.step.roles), {"key": f.key, "operation": "sweep"}
                log.info("%s → %s fired%s: %s", f.key, f.step.id, late, roles, extra=extra)
            fired += len(result.fired)
        if not self.halted():
            self._swept_with = rules
            self.health.sweep_done(now)
        return fired

    def settle_flapping(self, at: datetime | None = None) -> list[Decision]:
        """Resolve the flapping tickets that settled by ``at`` (default: now); see
        ``connector.runtime.noise_jobs.settle_flapping``."""
        return noise_jobs.settle_flapping(self, at)

    def release_holds(self, at: datetime | None = None) -> list[Decision]:
        """Open the problems held through a maintenance window that ended by ``at`` (default:
        now); see ``connector.runtime.noise_jobs.release_holds``."""
        return noise_jobs.release_holds(self, at)

    def commit_decision(
        self, decision: Decision, now: datetime, note: str | None = None, also: Callable[[], object] | None = None
    ) -> None:
        """Record a decision the clock made (no journal entry: a settled flap, a released
        hold) with its operations and notices in one transaction; ``note`` goes first, ``also``
        is a change of state that belongs to the same transaction."""
        alert = decision.alert
        known = alert.source in self.sources
        on_recovery = self.source_capabilities(alert.source).on_recovery if known else "resolve"
        with self.store.transaction():
            if also is not None:
                also()
            applied = apply_decision(self.store, decision, now, self.backend.name)
            if note is not None and decision.ticket_key is not None:
                self.store.enqueue(BACKEND, OpKind.NOTE, decision.ticket_key, {"text": note}, now)
            ops = plan_operations(decision, on_recovery, applied.cascaded, self.backend.resolves_duplicates)
            for planned in storm_notes.coalesce(self.store, decision, ops, self._storm_note_interval, now):
                op = clear_sla_with_resolve(self.store, planned)
                self.store.enqueue(op.target, op.op, op.ticket_key, op.payload, now)
            self._decision_notices(decision, on_recovery, now)
        log_decision(decision)

    def _queue_sweep(self, result: SweepResult, now: datetime) -> None:
        change = result.change
        if change is not None:
            payload = {"changes": jsonable(change.changes), "note": change.note}
            self.store.enqueue(BACKEND, OpKind.UPDATE, change.key, payload, now)
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
        self.store.enqueue(NOTIFY_PREFIX + channel, OpKind.NOTICE, None, payload, now)

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
        self.decide_pending()

    def run_once(self, *, ignore_backoff: bool = False, before_sweep: Callable[[], object] | None = None) -> None:
        """Poll every source, decide, (read the helpdesk back), sweep the clock, and deliver:
        what ``itsm-connector once`` does."""
        free_dead_holders(self.store, self.holder)
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
