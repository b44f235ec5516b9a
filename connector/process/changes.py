"""A change request linked to an incident, and its closing (PROCESS §12 "Change", seed
§3.1.3.11; issue 13, item 2): pure.

People link the change in the helpdesk (Redmine: a relation to an issue of the Change
tracker; GLPI: ``Change_Ticket``); the sync-back sees the link and the change's closing
(``ChangeTracker``) and turns them into the events ``link_change`` and ``change_closed``,
which ``connector.process.lifecycle.apply_event`` hands to this module:

* **link_change** — the incident becomes *pending change* 待定变更 (the helpdesk status mapped
  to it: Redmine ``status_map.pending_change``, GLPI "pending" with the backend's reason text)
  until the change closes; with ``itil_links.yaml``'s ``changes.pauses_sla`` the SLA clocks stop as
  for a suspension (the pending time is kept as a suspension interval, so every SLA and KPI
  computation that honours suspensions honours it);
* **change_closed** — back to *in progress* (open, if it was never accepted), the clocks run
  again, and ``changes.closed_notify`` (default: the assignee, its handler) is told.

A resolved or closed incident's change is noted, but its status is left alone: the change
came too late to wait for.
"""

from __future__ import annotations

__all__ = ["change_closed", "link_change"]

from typing import TYPE_CHECKING

from connector.domain.ledger import TicketState
from connector.domain.models import TicketStatus
from connector.domain.notice import NoticeKind, StatusEvent
from connector.process.events import Event
from connector.rules.links import ChangesModel

if TYPE_CHECKING:
    from connector.process.lifecycle import Outcome


def link_change(state: TicketState, event: Event, out: Outcome, rules: ChangesModel) -> None:
    """A person linked the change ``event.detail`` to the incident (see the module docstring)."""
    who = event.actor or "someone"
    change = event.detail or "?"
    if state.status.is_done:
        out.notes.append(
            f"变更关联 change {change} linked by {who} to a {state.status.value} incident: its status stays"
        )
        return
    out.status = TicketStatus.PENDING_CHANGE
    out.changes["status"] = TicketStatus.PENDING_CHANGE
    paused = ""
    if rules.pauses_sla and state.suspended_since is None:
        out.life["suspended_since"] = event.at
        paused = "; the SLA clocks are paused until it closes"
    out.notes.append(f"待定变更 pending change: change {change} linked by {who}{paused}")
    out.notices.append((NoticeKind.STATUS, None, StatusEvent.PENDING_CHANGE, f"change {change} linked by {who}"))


def change_closed(state: TicketState, event: Event, out: Outcome, rules: ChangesModel) -> None:
    """The change ``event.detail`` — the last open one linked to the incident — closed."""
    change = event.detail or "?"
    if state.status is not TicketStatus.PENDING_CHANGE:
        out.notes.append(f"变更已关闭 change {change} closed; the incident is {state.status.value}, so it stays")
        return
    if state.suspended_since is not None:
        out.life["suspensions"] = (*state.suspensions, (state.suspended_since, event.at))
        out.life["suspended_since"] = None
    back = TicketStatus.IN_PROGRESS if state.accepted_at else TicketStatus.OPEN
    out.status = back
    out.changes["status"] = back
    detail = f"change {change} closed: the incident is {back.value} again"
    out.notes.append(f"变更已关闭 {detail} ({state.assignee or state.assignment_group or 'no handler yet'} is told)")
    roles = tuple(rules.closed_notify) or None
    out.notices.append((NoticeKind.STATUS, roles, StatusEvent.IN_PROGRESS, detail))
