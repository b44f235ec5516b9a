"""The plugin the ``itsm_connector`` entry point names: the hooks, and nothing else.

* ``register_source_types`` offers the ``uptime_probe`` source (``source.py``);
* ``rule_correlate`` decides that a check down for planned maintenance makes no ticket. Every
  other alert, and a recovery, is left to the next implementation (``None``): the built-in
  correlation then decides as if this plugin were not there.
"""

from __future__ import annotations

from datetime import datetime

from connector.api import Action, Alert, Decision, RuleBook, SourceType, Ticket, TicketIndex, hookimpl
from itsm_uptime_probe.source import ProbeSettings, build_source

#: the rule id the connector records for the decisions of this plugin
MAINTENANCE_RULE = "uptime_probe.maintenance"


@hookimpl
def register_source_types() -> list[SourceType]:
    """The ``uptime_probe`` source type."""
    return [
        SourceType(
            name="uptime_probe",
            settings=ProbeSettings,
            factory=build_source,
            description="an uptime checker's JSON status file: checks down become alerts",
        )
    ]


@hookimpl
def rule_correlate(alert: Alert, draft: Ticket, rules: RuleBook, index: TicketIndex, now: datetime) -> Decision | None:
    """No ticket for a check down during its planned maintenance."""
    if alert.tags.get("maintenance") == "yes" and alert.recovered_at is None:
        return Decision(Action.IGNORED, alert, None, MAINTENANCE_RULE, "planned maintenance: no ticket")
    return None
