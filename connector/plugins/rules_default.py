"""Built-in rule stages: the process defaults every alert goes through.

Plugs in ``rule_classify``, ``rule_prioritize``, ``rule_correlate`` and ``rule_sla``, all
``trylast`` so a site plugin that returns a result replaces them. Reads the loaded ``RuleBook``
(no config section of its own).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from connector import hookimpl
from connector.decision import Action, Decision
from connector.models import Alert, Impact, Ticket, Urgency
from connector.priority import priority_of
from connector.rulebook import RuleBook, TicketIndex

#: the outer restore deadline of each urgency, from creation (PROCESS §4)
URGENCY_DEADLINE_HOURS = {Urgency.VERY_URGENT: 8, Urgency.URGENT: 24, Urgency.NORMAL: 48, Urgency.SLIGHTLY_URGENT: 72}


@hookimpl(trylast=True)
def rule_classify(alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket:
    """Keep what the source said (CI, service); mark the ticket as classified by the default."""
    return draft.model_copy(update={"rule": draft.rule or "default"})


@hookimpl(trylast=True)
def rule_prioritize(alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket:
    """Impact and urgency from the alert, else from its severity, else the defaults; then the matrix."""
    impact: Impact
    urgency: Urgency
    if alert.impact is not None and alert.urgency is not None:
        impact, urgency, why = alert.impact, alert.urgency, "impact and urgency given by the source"
    elif alert.severity is not None and alert.severity in rules.severity_map:
        impact, urgency = rules.severity_map[alert.severity]
        impact = alert.impact or impact
        urgency = alert.urgency or urgency
        why = f"severity {alert.severity}"
    else:
        impact = alert.impact or rules.default_impact
        urgency = alert.urgency or rules.default_urgency
        why = "defaults"
    priority = priority_of(impact, urgency, rules.priority_matrix)
    reason = f"impact {int(impact)} × urgency {int(urgency)} → P{int(priority)} ({why})"
    return draft.model_copy(
        update={"impact": impact, "urgency": urgency, "priority": priority, "priority_reason": reason}
    )


@hookimpl(trylast=True)
def rule_correlate(alert: Alert, draft: Ticket, rules: RuleBook, index: TicketIndex, now: datetime) -> Decision:
    """One ticket per source problem: a recovery resolves it, a repeat of the same problem is ignored."""
    existing = index.get(alert.key)
    if alert.recovered_at is not None and existing is not None:
        if existing.status.is_done:
            return Decision(Action.IGNORED, alert, existing.key, "default", f"ticket already {existing.status.value}")
        return Decision(
            Action.RESOLVE,
            alert,
            existing.key,
            "default",
            f"the source reported recovery at {alert.recovered_at.isoformat()}",
        )
    if existing is not None:
        return Decision(Action.IGNORED, alert, existing.key, "default", "a ticket already exists for this problem")
    return Decision(Action.CREATE, alert, draft.key, "default", "new problem", ticket=draft)


@hookimpl(trylast=True)
def rule_sla(draft: Ticket, rules: RuleBook, now: datetime) -> Ticket:
    """The outer restore deadline of the ticket's urgency (8/24/48/72 h from registration)."""
    start = draft.registered_at or now
    return draft.model_copy(update={"sla_due": start + timedelta(hours=URGENCY_DEADLINE_HOURS[draft.urgency])})
