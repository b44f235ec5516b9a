"""What a decision owes the helpdesk: the outbox operations, in the order they must land.

``plan_operations`` is pure: ``Engine`` commits its result together with the decision, so a
crash cannot lose a write or make one twice. The payloads are the JSON the outbox stores
(``connector.runtime.outbox_ops`` reads them back as typed payloads).
"""

from __future__ import annotations

__all__ = ["Planned", "clear_sla_with_resolve", "plan_operations"]

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connector.contracts.adapters import Relation
from connector.domain.clock import isoformat
from connector.domain.decision import Action, Decision
from connector.domain.models import Alert
from connector.domain.ticket_state import TicketLedger
from connector.runtime.outbox_ops import BACKEND, OpKind


@dataclass(frozen=True)
class Planned:
    """One operation to owe: its target, kind, ticket and JSON payload."""

    target: str
    op: OpKind
    ticket_key: str | None
    payload: dict[str, Any]


def plan_operations(
    decision: Decision,
    on_recovery: str = "resolve",
    cascaded: Sequence[str] = (),
    backend_resolves_duplicates: bool = True,
) -> list[Planned]:
    """The backend writes a decision implies, in the order they must land.

    ``cascaded`` are the duplicates resolved with their master; they get their own resolve
    only where the helpdesk does not resolve duplicates itself.
    """
    alert = decision.alert
    key = decision.ticket_key
    ops: list[Planned] = []
    if decision.action.creates_ticket:
        assert decision.ticket is not None and key is not None
        create: dict[str, Any] = {"ticket": decision.ticket.model_dump(mode="json"), "source": alert.source}
        ops.append(Planned(BACKEND, OpKind.CREATE, key, create))
        if decision.related_key and decision.action is not Action.CREATE:
            # a child or a storm's member is linked as a duplicate of its parent: the helpdesk
            # (or the connector, where it does not) resolves it with the parent, which waits for
            # the children still active (docs/rules.md, topology.yaml)
            relation = Relation.DUPLICATES if decision.action.under_parent else Relation.RELATES
            ops.append(
                Planned(BACKEND, OpKind.LINK, key, {"related_key": decision.related_key, "relation": relation.value})
            )
            # why it is a duplicate (a recurrence, a child) goes in the create itself: one write
            # instead of a create and a note PUT (a Redmine create takes no journal note)
            create["note"] = f"{decision.reason} (rule {decision.rule})"
        ops.extend(_attachments(alert, key))
        if alert.recovered_at is not None:
            ops.append(Planned(BACKEND, OpKind.RESOLVE, key, _resolution_payload(alert, on_recovery)))
    elif decision.action is Action.APPEND:
        assert decision.related_key is not None
        if decision.is_reply:
            text = f"{decision.reason}:\n{alert.title}\n\n{alert.description}".rstrip()
        else:
            text = f"{decision.reason} (rule {decision.rule})"
        ops.append(Planned(BACKEND, OpKind.NOTE, decision.related_key, {"text": text}))
        ops.extend(_attachments(alert, decision.related_key))
    elif decision.action is Action.WAIT:
        assert key is not None
        ops.append(Planned(BACKEND, OpKind.NOTE, key, {"text": f"{decision.reason} (rule {decision.rule})"}))
    elif decision.action is Action.RESOLVE:
        assert key is not None
        if on_recovery == "note":
            note = (
                f"The source reported recovery at {isoformat(alert.recovered_at)}; resolve the ticket when confirmed."
            )
            ops.append(
                Planned(
                    BACKEND,
                    OpKind.UPDATE,
                    key,
                    {"changes": {"outage_end": isoformat(alert.recovered_at)}, "note": note},
                )
            )
        else:
            ops.append(Planned(BACKEND, OpKind.RESOLVE, key, _resolution_payload(alert, on_recovery)))
            if not backend_resolves_duplicates:
                for duplicate in cascaded:
                    payload = {
                        "at": isoformat(alert.recovered_at),
                        "note": f"Resolved with its master {key} 随主事件解决: {alert.source} reported it recovered.",
                    }
                    ops.append(Planned(BACKEND, OpKind.RESOLVE, duplicate, payload))
    for update in decision.updates:
        ops.append(Planned(BACKEND, OpKind.UPDATE, update.key, {"changes": update.changes, "note": update.note}))
    ops.extend(_adoptions(decision))
    return ops


def clear_sla_with_resolve(ledger: TicketLedger, planned: Planned) -> Planned:
    """``planned`` with the SLA target (``sla_due``, field 21) cleared in the resolve itself,
    when it is a resolve of a ticket that shows one; the ledger records it cleared in the same
    transaction, so the sweep owes no second write for it a minute later. Anything else is
    returned as it is."""
    if planned.op is not OpKind.RESOLVE or planned.ticket_key is None:
        return planned
    state = ledger.get(planned.ticket_key)
    if state is None or state.sla_due is None:
        return planned
    ledger.ticket_set_life(planned.ticket_key, sla_due=None)
    changes = {**planned.payload.get("changes", {}), "sla_due": None}
    return Planned(planned.target, planned.op, planned.ticket_key, {**planned.payload, "changes": changes})


def _adoptions(decision: Decision) -> list[Planned]:
    """The links that put adopted tickets under their parent (``topology.yaml``: an upstream
    that alarmed after its dependents, a storm's first members); the desk is told once, on
    the parent, and each child says where it went."""
    cause = decision.cause
    parent = decision.related_key if decision.action is Action.STORM else decision.ticket_key
    if cause is None or not cause.adopts or parent is None:
        return []
    ops = []
    for child in cause.adopts:
        link = {"related_key": parent, "relation": Relation.DUPLICATES.value}
        ops.append(Planned(BACKEND, OpKind.LINK, child, link))
        text = f"子事件 re-linked as a child of {parent} (rule topology.adopt): {decision.reason}"
        ops.append(Planned(BACKEND, OpKind.NOTE, child, {"text": text}))
    if decision.action is not Action.STORM:  # a storm's note on its incident lists them already
        listed = ", ".join(cause.adopts)
        text = (
            f"子事件 {len(cause.adopts)} open incident(s) of CIs depending on this one are now its children: {listed}"
        )
        ops.append(Planned(BACKEND, OpKind.NOTE, parent, {"text": text}))
    return ops


def _attachments(alert: Alert, key: str) -> list[Planned]:
    return [Planned(BACKEND, OpKind.ATTACH, key, a.model_dump(mode="json")) for a in alert.attachments]


def _resolution_payload(alert: Alert, on_recovery: str) -> dict[str, Any]:
    return {
        "at": isoformat(alert.recovered_at),
        "outage_end": isoformat(alert.recovered_at),
        "note": f"{alert.source} reported the problem recovered at {isoformat(alert.recovered_at)}.",
    }
