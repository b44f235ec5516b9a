"""Built-in rule stages: the process defaults every alert goes through.

Plugs in ``rule_classify``, ``rule_prioritize``, ``rule_correlate`` and ``rule_sla``, all
``trylast`` so a site plugin that returns a result replaces them. Each is one call into the
pure module that holds the arithmetic, reading the loaded ``RuleBook`` (``rules/*.yaml``); the
plugin has no config section of its own.
"""

from __future__ import annotations

from datetime import datetime

from connector import hookimpl
from connector.domain.decision import Decision
from connector.domain.ledger import TicketIndex
from connector.domain.models import Alert, Ticket
from connector.rules.book import RuleBook
from connector.rules.correlate import correlate
from connector.rules.sla import first_due


@hookimpl(trylast=True)
def rule_classify(alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket:
    """Apply ``classification.yaml``: the first matching rule wins, ``continue`` rules add to it."""
    return rules.classifier.classify(alert, draft)


@hookimpl(trylast=True)
def rule_prioritize(alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket:
    """Priority = matrix[urgency][impact] (``priority.yaml``), with the reason written out: what
    each of impact and urgency came from (a rule, the source, its severity, the default)."""
    suggested = rules.priority.suggest(alert)
    by_rule = f"rule {draft.rule}" if draft.rule else "classification"
    impact_basis = suggested.impact_basis if draft.impact == suggested.impact else by_rule
    urgency_basis = suggested.urgency_basis if draft.urgency == suggested.urgency else by_rule
    return draft.model_copy(
        update={
            "priority": rules.priority.priority(draft.impact, draft.urgency),
            "priority_reason": rules.priority.reason(draft.impact, draft.urgency, impact_basis, urgency_basis),
        }
    )


@hookimpl(trylast=True)
def rule_correlate(alert: Alert, draft: Ticket, rules: RuleBook, index: TicketIndex, now: datetime) -> Decision:
    """New, duplicate, recurrence, appended repeat, resolution or nothing (``dedup.yaml``)."""
    return correlate(alert, draft, rules.dedup, index, now)


@hookimpl(trylast=True)
def rule_sla(draft: Ticket, rules: RuleBook, now: datetime) -> Ticket:
    """Field 21: the first deadline of the new ticket (``sla.yaml``), its 1st-line response."""
    due = first_due(draft.priority, draft.urgency, rules.sla, draft.registered_at or now)
    return draft.model_copy(update={"sla_due": due})
