"""Alert → Decision: the stage order lives here, and only here.

``classify → prioritize → correlate → sla``: one hook call per stage, each a firstresult hook
whose built-in default is ``trylast``. A stage that raises (or returns nothing at all) becomes a
``RuleError`` naming the stage, so the engine dead-letters that one alert and goes on.
"""

from __future__ import annotations

__all__ = ["Pipeline", "draft_ticket"]

from datetime import UTC, datetime
from typing import Any

import pluggy

from connector.contracts.plugin_manager import is_traced
from connector.domain.decision import Decision
from connector.domain.errors import RuleError
from connector.domain.ledger import TicketIndex
from connector.domain.models import Alert, Impact, Ticket, TicketSource, Urgency
from connector.rules.book import RuleBook


def draft_ticket(alert: Alert, rules: RuleBook, now: datetime) -> Ticket:
    """The ticket an alert would become before any rule runs: what the source itself said,
    with the impact and urgency it suggests (its own, else its severity's, else the default)."""
    origin = alert.origin or rules.source_kinds.get(alert.source, TicketSource.MONITORING)
    suggested = rules.priority.suggest(alert)
    values = {
        "key": alert.key,
        "external_id": alert.external_id,
        "title": alert.title,
        "description": alert.description or alert.title,
        "source": origin,
        "ci": alert.ci,
        "service": alert.service,
        "location": alert.location,
        "reporter": alert.reporter,
        "contact": alert.reporter,
        "outage_start": alert.occurred_at,
        "outage_end": alert.recovered_at,
        "registered_at": now,
        "impact": suggested.impact,
        "urgency": suggested.urgency,
    }
    # the alert was validated (its times are aware UTC, its title and key not empty): only what
    # did not come from it is checked here, and anything unusual takes pydantic's way
    if (
        type(now) is datetime
        and now.tzinfo is UTC
        and type(origin) is TicketSource
        and type(suggested.impact) is Impact
        and type(suggested.urgency) is Urgency
    ):
        return Ticket.from_checked(values)
    return Ticket(**values)


class Pipeline:
    """Runs the rule stages for one alert at a time against a ticket index.

    When a stage has exactly one plain implementation (the usual case: the built-in default)
    and hook tracing is off, that implementation is called directly — the same call pluggy
    would make, without its dispatch, which is a large share of a stage's cost. Plugins are
    looked up on every call, so one registered later takes part at once.
    """

    def __init__(self, hook: Any, rules: RuleBook, *, direct: bool = True) -> None:
        self._hook = hook
        self.rules = rules
        self._direct = direct

    @classmethod
    def from_manager(cls, pm: pluggy.PluginManager, rules: RuleBook) -> Pipeline:
        """A pipeline calling the hooks of ``pm``."""
        return cls(pm.hook, rules, direct=not is_traced(pm))

    def decide(self, alert: Alert, index: TicketIndex, now: datetime, *, assessed: bool = False) -> Decision:
        """Return what to do with ``alert`` at ``now``; raises ``RuleError`` if a stage fails.

        ``assessed``: a person gave the alert's impact and urgency (a ticket the desk opened in the
        helpdesk): they stand, whatever a classification rule would set; the priority is still the
        matrix's (PROCESS §4)."""
        rules = self.rules
        draft = draft_ticket(alert, rules, now)
        draft = self._stage("rule_classify", alert, _DRAFT_ARGS, (alert, draft, rules))
        if assessed:
            own = {"impact": alert.impact, "urgency": alert.urgency}
            draft = draft.model_copy(update={k: v for k, v in own.items() if v is not None})
        draft = self._stage("rule_prioritize", alert, _DRAFT_ARGS, (alert, draft, rules))
        decision: Decision = self._stage("rule_correlate", alert, _CORRELATE_ARGS, (alert, draft, rules, index, now))
        ticket = decision.new_ticket
        if ticket is not None:
            with_sla = self._stage("rule_sla", alert, _SLA_ARGS, (ticket, rules, now))
            decision = decision.with_ticket(with_sla)
        return decision

    def _stage(self, name: str, alert: Alert, names: tuple[str, ...], args: tuple[Any, ...]) -> Any:
        """One stage's result (``args`` are the hook's arguments ``names``, in the hookspec's
        order); a failure (or no result) is a ``RuleError`` naming the stage and the alert."""
        try:
            caller = getattr(self._hook, name)
            impls = caller.get_hookimpls() if self._direct else None
            if impls is not None and len(impls) == 1 and not (impls[0].hookwrapper or impls[0].wrapper):
                impl = impls[0]
                if impl.argnames == names:  # the built-in default: every argument, in order
                    result = impl.function(*args)
                else:
                    given = dict(zip(names, args, strict=True))
                    result = impl.function(*[given[arg] for arg in impl.argnames])
            else:
                result = caller(**dict(zip(names, args, strict=True)))
        except RuleError:
            raise
        except Exception as exc:
            raise RuleError(f"{type(exc).__name__}: {exc}", rule=name, alert=alert.key) from exc
        if result is None:
            raise RuleError(
                "no plugin returned a result (is the default rules plugin disabled?)", rule=name, alert=alert.key
            )
        return result


#: each stage hook's arguments, in the hookspec's order (``connector.contracts.hookspecs``)
_DRAFT_ARGS = ("alert", "draft", "rules")
_CORRELATE_ARGS = ("alert", "draft", "rules", "index", "now")
_SLA_ARGS = ("draft", "rules", "now")
