"""Correlation (seed §3.1.3.8–3.1.3.9): is this report new, a duplicate, a recurrence, or more?

Pure: the alert, its prioritized draft, the dedup policy of ``rules/dedup.yaml``, a read-only
``TicketIndex`` and ``now`` in; a ``Decision`` out. In order:

1. a reply to a ticket (``Alert.reply_to``) is a note on that ticket;
2. the recovery of a problem resolves its ticket; a repeat of a problem already ticketed or
   already counted on a master is ignored. A ticket holding another problem still active (a
   duplicate or appended repeat of another trigger) is not resolved by this recovery: the
   master *waits* (``Action.WAIT``) and the last held problem's recovery resolves it;
3. a report whose fingerprint matches an unresolved master created at most ``window`` before it
   is a duplicate — a new ticket copying the master's content, linked to it — or, past the
   storm guard (or with ``policy: append``), a counted note on the master;
4. a problem of a trigger that flaps (``flapping.yaml``, ``connector.rules.flapping``) stays on
   its one ticket; otherwise a report matching a ticket resolved (or closed) at most
   ``recurrence`` before it is a recurrence — a new ticket copying the original's content,
   linked to it;
5. anything else is a new ticket — unless it is in maintenance (``maintenance.yaml``,
   ``connector.rules.maintenance``): then it is held (``Action.SUPPRESSED``), no ticket, unless
   its priority is one that opens anyway; a held problem's later events are ignored.

A repeat more urgent than its master raises the master's priority, written to it with the
reason. Windows compare the events' own times (when the fault began, when it was fixed).
"""

from __future__ import annotations

__all__ = ["DedupPolicy", "correlate"]

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from connector.domain.decision import Action, Cause, Decision, TicketUpdate, helpdesk_key
from connector.domain.ledger import DoneAfter, TicketIndex, TicketState
from connector.domain.models import Alert, Ticket, TicketStatus
from connector.rules.confirmation import Verdict, verdict
from connector.rules.fingerprint import Fingerprinter
from connector.rules.flapping import FlapPolicy, flap
from connector.rules.maintenance import MaintenancePolicy
from connector.rules.topology import Topology, adopting, cause_of


@dataclass(frozen=True)
class DedupPolicy:
    """The rules of ``dedup.yaml``, ready to apply (``connector.rules.build.build_dedup``; the
    values are the file's, so none is repeated here)."""

    fingerprint: Fingerprinter
    window: timedelta
    policy: Literal["duplicate", "append"]
    storm_max: int | None
    recurrence_window: timedelta
    recurrence_after: DoneAfter
    #: ``flapping.yaml`` (``None``: off)
    flapping: FlapPolicy | None = None
    #: ``maintenance.yaml`` (``None``: no windows, and the source's flag is not applied)
    maintenance: MaintenancePolicy | None = None
    #: ``topology.yaml`` (``None``: no cause correlation)
    topology: Topology | None = None
    #: ``storm_guard.note_interval_seconds``: at most one counted note per master per interval
    #: (``None``: one per repeat); the daemon's outbox applies it, decisions do not change
    storm_note_interval: timedelta | None = None


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:g} min" if minutes < 120 else f"{minutes / 60:g} h"


def correlate(alert: Alert, draft: Ticket, policy: DedupPolicy, index: TicketIndex, now: datetime) -> Decision:
    """What ``alert`` means against the tickets in ``index`` (see the module docstring)."""
    if alert.reply_to is not None:
        return _reply(alert, index)
    fingerprint = policy.fingerprint(alert, draft)
    key = alert.key
    existing = index.get(key)
    alias = index.alias_of(key) if existing is None else None
    if alert.recovered_at is not None and existing is not None:
        if existing.status.is_done:
            return Decision(
                Action.IGNORED,
                alert,
                existing.key,
                "recovery",
                f"ticket already {existing.status.value}",
                fingerprint=fingerprint,
            )
        return _recovery(alert, existing, index, fingerprint)
    if existing is None and alias is None and index.is_held(key):
        what = "its recovery came" if alert.recovered_at is not None else "it was seen again"
        return Decision(
            Action.IGNORED,
            alert,
            None,
            "maintenance",
            f"held during maintenance, and {what}: no ticket",
            fingerprint=fingerprint,
        )
    if alias is not None:
        if alert.recovered_at is not None:
            released = _release(alert, index.get(alias), index, fingerprint)
            if released is not None:
                return released
        what = "its recovery is" if alert.recovered_at is not None else "it was"
        return Decision(
            Action.IGNORED,
            alert,
            alias,
            "dedup",
            f"{what} counted on master {alias}; the master is resolved by its own recovery"
            " (and, for a problem of its own, not before this one's)",
            related_key=alias,
            fingerprint=fingerprint,
        )
    if existing is not None:
        return Decision(
            Action.IGNORED,
            alert,
            existing.key,
            "idempotency",
            "a ticket already exists for this problem",
            fingerprint=fingerprint,
        )
    note = ""
    if policy.maintenance is not None:  # (a problem first seen already over, too: it opens nothing)
        hold = policy.maintenance.hold(alert, alert.occurred_at if alert.recovered_at is not None else now)
        over = alert.recovered_at
        if hold is not None and over is not None and hold.until is not None and over > hold.until:
            hold = None  # it outlived its window: it opens, already resolved
        if hold is not None:
            if draft.priority not in policy.maintenance.open_priorities:
                until = f"until {hold.until.isoformat()}" if hold.until is not None else "until it ends"
                return Decision(
                    Action.SUPPRESSED,
                    alert,
                    None,
                    "maintenance",
                    f"in maintenance ({hold.window}, {until}): no ticket for P{int(draft.priority)}; "
                    "opened when the window ends if the problem is still active",
                    fingerprint=fingerprint,
                    hold_until=hold.until,
                )
            note = f"; in maintenance ({hold.window}), but P{int(draft.priority)} opens anyway"
    if fingerprint is not None and policy.flapping is not None and alert.recovered_at is None:
        flapping = flap(alert, fingerprint, policy.flapping, index)
        if flapping is not None:
            return flapping
    # from here on the draft may become the new ticket (the decisions above carry none)
    draft = draft.model_copy(update={"fingerprint": fingerprint})
    if fingerprint is not None:
        master = index.open_master(fingerprint)
        if master is not None:
            age = alert.occurred_at - master.started_at
            if age <= policy.window:
                return _repeat(alert, draft, master, age, policy)
            window = _minutes(policy.window)
            note += f"; the unresolved {master.key} began {_minutes(age)} earlier, beyond the {window} window"
    topology = policy.topology
    storm_key = _storm_key(alert, draft, policy) if topology is not None else None
    if topology is not None:
        caused = cause_of(alert, draft, topology, index, fingerprint, storm_key)
        if caused is not None:
            return caused
    if fingerprint is not None:
        original = index.last_done(fingerprint, policy.recurrence_after)
        if original is not None:
            done_at = original.done_at(policy.recurrence_after)
            assert done_at is not None
            since = alert.occurred_at - done_at
            if since <= policy.recurrence_window:
                ticket = _copy_content(draft, original, "recurrence")
                reason = (
                    f"recurrence of {original.key}, {original.status.value} {_minutes(max(since, timedelta(0)))} "
                    "earlier: the fix did not hold"
                )
                return Decision(
                    Action.RECURRENCE,
                    alert,
                    alert.key,
                    "dedup.recurrence",
                    reason,
                    ticket=ticket,
                    related_key=original.key,
                    fingerprint=fingerprint,
                    cause=_cause(alert, topology, index, storm_key),
                )
        if policy.recurrence_after == "closed":
            note += _resolved_not_closed(index, fingerprint)
    else:
        note += " (no fingerprint: it cannot be compared)"
    cause = _cause(alert, topology, index, storm_key)
    if cause is not None and cause.adopts:
        note += f"; re-links {len(cause.adopts)} open incident(s) of CIs depending on it as its children"
    return Decision(
        Action.CREATE,
        alert,
        alert.key,
        "new",
        "new problem" + note,
        ticket=draft,
        fingerprint=fingerprint,
        cause=cause,
    )


def _storm_key(alert: Alert, draft: Ticket, policy: DedupPolicy) -> str:
    """The kind and symptom of a report whatever its CI (a storm is one symptom on many CIs):
    the normalised title, since a source's own symptom (a trigger) is one CI's."""
    return f"{draft.source.value}\x1f{policy.fingerprint.symptom(alert.title)}"


def _cause(alert: Alert, topology: Topology | None, index: TicketIndex, storm_key: str | None) -> Cause | None:
    """A new incident's place in the topology, with the open incidents it adopts."""
    if topology is None:
        return None
    return Cause(upstreams=topology.upstreams_of(alert), storm_key=storm_key, adopts=adopting(alert, topology, index))


def _recovery(alert: Alert, existing: TicketState, index: TicketIndex, fingerprint: str | None) -> Decision:
    """The recovery of a ticket's own problem (item 5 of issue 18: no active problem without an
    open ticket). A master holding other problems still active — duplicates or appended
    repeats of another trigger, grouped by the dedup rule — waits for them; the recovery of
    the last of them resolves it. A duplicate's recovery resolves the duplicate, or its waiting
    master (and with it the duplicate) when it was the last problem the master held."""
    assert alert.recovered_at is not None
    when = alert.recovered_at.isoformat()
    if existing.master_key is None:
        held = [k for k in index.held_problems(existing) if k != alert.key]
        if held:
            return Decision(
                Action.WAIT,
                alert,
                existing.key,
                "recovery.wait",
                f"the source reported recovery at {when}, but {len(held)} other problem(s) this ticket holds "
                f"are still active ({_names(held)}): it is resolved when the last of them recovers",
                fingerprint=fingerprint,
            )
    else:
        released = _release(alert, index.get(existing.master_key), index, fingerprint)
        if released is not None:
            return released
    return Decision(
        Action.RESOLVE,
        alert,
        existing.key,
        "recovery",
        f"the source reported recovery at {when}",
        fingerprint=fingerprint,
    )


def _release(alert: Alert, master: TicketState | None, index: TicketIndex, fingerprint: str | None) -> Decision | None:
    """The resolution of a waiting master when ``alert`` recovers the last problem it held."""
    if master is None or master.status.is_done or master.problem_recovered_at is None:
        return None
    if master.flapping_since is not None:  # a flapping ticket ends when it settles (flapping.yaml)
        return None
    if any(key != alert.key for key in index.held_problems(master)):
        return None
    assert alert.recovered_at is not None
    return Decision(
        Action.RESOLVE,
        alert,
        master.key,
        "recovery.last",
        f"{alert.key}, the last still-active problem it held, recovered at {alert.recovered_at.isoformat()} "
        f"(its own problem recovered at {master.problem_recovered_at.isoformat()})",
        fingerprint=fingerprint,
    )


def _names(keys: list[str], most: int = 5) -> str:
    shown = ", ".join(keys[:most])
    return shown + (f" and {len(keys) - most} more" if len(keys) > most else "")


def _resolved_not_closed(index: TicketIndex, fingerprint: str) -> str:
    """Why a repeat of a ticket resolved but not closed is new work, not a recurrence: the seed's
    recurrence is of an incident *already closed* (§3.1.3.9); until the user confirms, the
    resolution is not final (IM 5)."""
    resolved = index.last_done(fingerprint, "resolved")
    if resolved is None or resolved.status is not TicketStatus.RESOLVED:
        return ""
    return f"; {resolved.key} is resolved but not closed, so this is not a recurrence (only a closed incident recurs)"


def _reply(alert: Alert, index: TicketIndex) -> Decision:
    """A note on the ticket it answers; on a resolved ticket, the user's confirmation (IM 5)."""
    assert alert.reply_to is not None
    known = index.key_for_ticket_id(alert.reply_to)
    target = known or helpdesk_key(alert.reply_to)
    who = alert.reporter or "an unknown sender"
    reason = f"reply from {who} to #{alert.reply_to}"
    state = index.get(known) if known is not None else None
    updates: tuple[TicketUpdate, ...] = ()
    if state is not None and state.status is TicketStatus.RESOLVED:
        answer = verdict(alert.title, alert.description)
        if answer is Verdict.REJECTED:
            reason += ": the user does not accept the resolution"
            note = f"用户拒绝 {who} does not accept the resolution: back to investigation (IM 5.2)"
            updates = (TicketUpdate(target, {"status": TicketStatus.IN_PROGRESS.value}, note),)
        elif answer is Verdict.ACCEPTED:
            reason += ": the user confirms the resolution"
            note = f"用户确认 {who} confirms the resolution: the 1st line may close the ticket (IM 5.1)"
            updates = (TicketUpdate(target, {}, note, confirmed=True),)
    return Decision(Action.APPEND, alert, target, "reply", reason, related_key=target, updates=updates)


def _repeat(alert: Alert, draft: Ticket, master: TicketState, age: timedelta, policy: DedupPolicy) -> Decision:
    number = master.repeats + 1
    when = f"{_minutes(max(age, timedelta(0)))} after it began"
    updates = _raise_master(alert, draft, master)
    storm = policy.storm_max is not None and master.repeats >= policy.storm_max
    if policy.policy == "append" or storm:
        why = f"storm guard: more than {policy.storm_max} repeats" if storm else "policy: append"
        return Decision(
            Action.APPEND,
            alert,
            master.key,
            "dedup.storm_guard" if storm else "dedup.append",
            f"repeat #{number} of {master.key}, {when} ({why}): {alert.title}",
            related_key=master.key,
            fingerprint=draft.fingerprint,
            updates=updates,
        )
    ticket = _copy_content(draft, master, "duplicate")
    return Decision(
        Action.DUPLICATE,
        alert,
        alert.key,
        "dedup.window",
        f"duplicate #{number} of master {master.key}, {when} (window {_minutes(policy.window)})",
        ticket=ticket,
        related_key=master.key,
        fingerprint=draft.fingerprint,
        updates=updates,
    )


def _copy_content(draft: Ticket, related: TicketState, kind: Literal["duplicate", "recurrence"]) -> Ticket:
    """The new ticket: this report's own title, the related ticket's classification and content.

    A duplicate also takes the master's impact, urgency and priority — the higher of the two,
    since a more urgent repeat raises the master too. A recurrence keeps its own: it is new work.
    """
    content = related.content
    copied = {
        name: content[name]
        for name in ("category", "area", "subarea", "nature", "service", "ci", "assignment_group", "location")
        if content.get(name) is not None
    }
    if kind == "duplicate":
        marker = f"重复事件 duplicate of master 主事件 {related.key}"
        copied["duplicate_of"] = related.key
        if related.priority is not None and related.priority < draft.priority:
            copied.update(
                impact=related.impact or draft.impact,
                urgency=related.urgency or draft.urgency,
                priority=related.priority,
                priority_reason=f"P{int(related.priority)} of master {related.key}",
            )
    else:
        marker = f"复发事件 recurrence of {related.key}: the fix of the original did not hold"
        copied["recurrence_of"] = related.key
    original = "\n".join(str(content[k]) for k in ("title", "description") if content.get(k))
    description = f"{marker}\n\n{draft.description}"
    if original:
        description += f"\n\n--- {related.key} ---\n{original}"
    copied["description"] = description
    return draft.model_copy(update=copied)


def _raise_master(alert: Alert, draft: Ticket, master: TicketState) -> tuple[TicketUpdate, ...]:
    """A repeat more urgent than its master raises the master's priority (seed §3.1.3.4:
    priority may change during a ticket's life, and the change is written with its reason)."""
    current = master.priority
    if current is None or draft.priority >= current:
        return ()
    reason = f"raised by repeat {alert.key}: {draft.priority_reason or ''}".strip()
    note = (
        f"优先级提升 priority raised P{int(current)} → P{int(draft.priority)}: the repeat {alert.key} "
        f"({alert.title}) is more urgent. {draft.priority_reason or ''}".strip()
    )
    changes = {
        "impact": int(draft.impact),
        "urgency": int(draft.urgency),
        "priority": int(draft.priority),
        "priority_reason": reason,
    }
    return (TicketUpdate(master.key, changes, note),)
