"""Cause correlation (``topology.yaml``, issue 18 item 1): one incident per cause.

Pure: the alert, its draft, the topology and a read-only ``TicketIndex`` in; a ``Decision`` (or
``None``: no cause found) out. An alert's *upstreams* are the CIs its CI depends on: the
file's ``upstreams`` (followed transitively), the ``groups`` of its host groups, and what the
source says (``Alert.depends_on``: the Zabbix source's trigger dependencies). In order:

1. an open incident on an upstream that began within ``window`` of the alert makes the alert a
   *child* (``Action.CHILD``): its own ticket, ``duplicate_of`` naming the parent (so the KPIs
   count the incident once), linked to it as a duplicate (so the helpdesk resolves it with the
   parent, which waits for children still active), escalated with it;
2. with no upstream known, at least ``storm.min_cis`` CIs alarming with the same symptom
   within ``storm.seconds`` make a *storm* (``Action.STORM``): the first one's incident is the
   storm's, the others its children, listed in one note on it; later alerts of that symptom
   within ``storm.seconds`` of the one before join it;
3. a new incident whose CI is the upstream of open incidents opened within the window (the
   switch is checked less often than its hosts) *adopts* them: ``Decision.cause.adopts``, each
   re-linked under it, the desk told once.
"""

from __future__ import annotations

__all__ = ["Topology", "adopting", "build_topology", "cause_of"]

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from connector.domain.decision import Action, Cause, Decision, TicketUpdate
from connector.domain.ledger import TicketIndex, TicketState
from connector.domain.models import Alert, Ticket
from connector.rules.noise_files import TopologyFile


@dataclass(frozen=True)
class Topology:
    """``topology.yaml`` ready to apply."""

    window: timedelta
    upstreams: Mapping[str, tuple[str, ...]]
    groups: Mapping[str, tuple[str, ...]]
    storm_min: int | None = None
    storm_window: timedelta = timedelta(0)

    def upstreams_of(self, alert: Alert) -> tuple[str, ...]:
        """The CIs the alert's CI depends on, nearest first (each once, never its own CI)."""
        first: list[str] = list(alert.depends_on)
        if alert.ci is not None:
            first += self.upstreams.get(alert.ci, ())
        for group in alert.host_groups:
            first += self.groups.get(group, ())
        seen: dict[str, None] = {}
        queue = first
        while queue:
            nxt: list[str] = []
            for ci in queue:
                if ci in seen or ci == alert.ci:
                    continue
                seen[ci] = None
                nxt += self.upstreams.get(ci, ())
            queue = nxt
        return tuple(seen)


def build_topology(model: TopologyFile) -> Topology:
    """The maps of ``topology.yaml``."""
    groups: dict[str, tuple[str, ...]] = {}
    for g in model.groups:
        groups[g.host_group] = (*groups.get(g.host_group, ()), *g.upstreams)
    return Topology(
        window=timedelta(minutes=model.window_minutes),
        upstreams={ci: tuple(ups) for ci, ups in model.upstreams.items()},
        groups=groups,
        storm_min=model.storm.min_cis if model.storm is not None else None,
        storm_window=timedelta(seconds=model.storm.seconds) if model.storm is not None else timedelta(0),
    )


def _child_ticket(draft: Ticket, parent: TicketState, marker: str) -> Ticket:
    return draft.model_copy(
        update={"duplicate_of": parent.key, "description": f"{marker}\n\n{draft.description}"},
    )


def cause_of(
    alert: Alert, draft: Ticket, topology: Topology, index: TicketIndex, fingerprint: str | None, storm_key: str | None
) -> Decision | None:
    """The child or storm decision for a new problem, or ``None`` (steps 1 and 2)."""
    ups = topology.upstreams_of(alert)
    since = alert.occurred_at - topology.window
    found = index.open_incidents(ups, since) if ups else {}
    for upstream in ups:  # the nearest upstream with an open incident
        parent = found.get(upstream)
        if parent is None or parent.key == alert.key:
            continue
        marker = f"子事件 child of {parent.key}: caused by its upstream {upstream} (topology)"
        return Decision(
            Action.CHILD,
            alert,
            alert.key,
            "topology.child",
            f"child of {parent.key}: {alert.ci or 'its CI'} depends on {upstream}, whose incident began "
            f"{_ago(alert, parent)}",
            ticket=_child_ticket(draft, parent, marker),
            related_key=parent.key,
            fingerprint=fingerprint,
            cause=Cause(upstreams=ups, storm_key=storm_key),
        )
    if ups or storm_key is None or topology.storm_min is None or alert.ci is None:
        return None
    peers = [p for p in index.storm_incidents(storm_key, alert.occurred_at - topology.storm_window) if p.ci != alert.ci]
    masters = [p for p in peers if p.master_key is None]
    if not masters:
        return None
    head = masters[0]
    formed = any(p.master_key == head.key for p in peers)  # a storm already: this alert joins it
    cis = list(dict.fromkeys(p.ci for p in peers if p.ci is not None))
    if not formed and len(cis) + 1 < topology.storm_min:
        return None
    adopts = tuple(p.key for p in masters[1:])
    listed = ", ".join([*cis, alert.ci])
    note = (
        f"风暴 storm: {len(cis) + 1} CIs alarm with the same symptom within "
        f"{topology.storm_window.total_seconds():g} s — one incident for them all: {listed}"
    )
    marker = f"子事件 child of the storm incident {head.key} (same symptom on {len(cis) + 1} CIs)"
    return Decision(
        Action.STORM,
        alert,
        alert.key,
        "topology.storm",
        f"storm of {len(cis) + 1} CIs with this symptom: a child of {head.key}",
        ticket=_child_ticket(draft, head, marker),
        related_key=head.key,
        fingerprint=fingerprint,
        updates=() if formed else (TicketUpdate(head.key, {}, note),),
        cause=Cause(upstreams=ups, storm_key=storm_key, adopts=adopts),
    )


def adopting(alert: Alert, topology: Topology, index: TicketIndex) -> tuple[str, ...]:
    """Open incidents opened within the window whose upstream is this alert's CI (step 3)."""
    if alert.ci is None:
        return ()
    return tuple(s.key for s in index.dependents(alert.ci, alert.occurred_at - topology.window) if s.key != alert.key)


def _ago(alert: Alert, parent: TicketState) -> str:
    minutes = (alert.occurred_at - parent.started_at).total_seconds() / 60
    return f"{minutes:g} min earlier" if minutes >= 0 else f"{-minutes:g} min later"
