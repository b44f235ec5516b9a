"""The log line of one decision: what came in, what the rules decided and why — the line an
on-call engineer greps for. With ``--log-format json`` it carries the ticket key, the event and
the step (``decide``) as fields of their own."""

from __future__ import annotations

__all__ = ["alert_label", "log_decision"]

import logging

from connector.domain.decision import Action, Decision
from connector.domain.models import Alert

log = logging.getLogger("connector")


def alert_label(alert: Alert) -> str:
    """An alert as a log line names it: its key, and whether it is a recovery."""
    suffix = " (recovery)" if alert.recovered_at is not None else ""
    return f"{alert.key}{suffix}"


def log_decision(decision: Decision) -> None:
    """Log ``decision`` at INFO, one line."""
    alert = decision.alert
    ticket = decision.ticket
    # the JSON log line carries the ticket key, the event and the step as fields of their own
    extra = {"key": decision.ticket_key or alert.key, "external_id": alert.external_id, "operation": "decide"}
    if decision.action is Action.IGNORED:
        log.info("%s → skipped because %s", alert_label(alert), decision.reason, extra=extra)
    elif ticket is not None:
        log.info(
            "%s → %s P%d %r (rule %s: %s)",
            alert_label(alert),
            decision.action.value,
            int(ticket.priority),
            ticket.title,
            decision.rule,
            decision.reason,
            extra=extra,
        )
    else:
        log.info(
            "%s → %s %s (rule %s: %s)",
            alert_label(alert),
            decision.action.value,
            decision.ticket_key,
            decision.rule,
            decision.reason,
            extra=extra,
        )
