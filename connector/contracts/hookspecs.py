"""The plugin contract: every hook a plugin may implement, grouped by lifecycle phase.

This module is the only home of the marker pair. Plugins import ``hookimpl`` from
``connector`` and mark every implementation; an implementation of a hook that is not declared
here fails at startup (``pm.check_pending()``). Hooks are called with keyword arguments only.

Call graph of one alert (``connector.process.pipeline.Pipeline.decide``)::

    rule_classify -> rule_prioritize -> rule_correlate -> rule_sla

Built-in defaults are ``trylast=True``, so an installed site plugin that returns a result
replaces them without configuration.
"""

from __future__ import annotations

__all__ = [
    "hookimpl",
    "hookspec",
    "register_backend_types",
    "register_notifier_types",
    "register_source_types",
    "rule_classify",
    "rule_correlate",
    "rule_prioritize",
    "rule_sla",
]

from datetime import datetime

import pluggy

from connector.contracts.adapters import BackendType, SourceType
from connector.contracts.notifiers import NotifierType
from connector.domain.decision import Decision
from connector.domain.ledger import TicketIndex
from connector.domain.models import Alert, Ticket
from connector.rules.book import RuleBook

PROJECT = "itsm_connector"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- startup: adapters -------------------------------------------------------------------------


@hookspec
def register_source_types() -> list[SourceType]:  # type: ignore[empty-body]
    """Hand the host the kinds of sources this plugin can build.

    Called once when the connector starts. A config entry ``sources: [{type: NAME, ...}]``
    builds a source through the factory of the type with that name; its section is validated
    against the type's ``settings`` model.

    :returns: the source types; an empty list when the plugin adds none.
    """


@hookspec
def register_backend_types() -> list[BackendType]:  # type: ignore[empty-body]
    """Hand the host the kinds of helpdesk backends this plugin can build.

    Called once when the connector starts. ``backend: {type: NAME, ...}`` in the config picks
    one; its section is validated against the type's ``settings`` model.

    :returns: the backend types; an empty list when the plugin adds none.
    """


@hookspec
def register_notifier_types() -> list[NotifierType]:  # type: ignore[empty-body]
    """Hand the host the kinds of notifiers (e-mail, phone gateway, chat robot) this plugin can build.

    Called once when the connector starts. Each ``notify.channels`` entry ``{type: NAME, ...}``
    builds a notifier through the factory of the type with that name; its section is validated
    against the type's ``settings`` model. The notifier's ``send`` raises ``NotifierUnavailable``
    (retried later) or ``NotifierRejected`` (the notice is dead-lettered).

    :returns: the notifier types; an empty list when the plugin adds none.
    """


# --- pipeline stages (one call each, per alert, in this order) ---------------------------------


@hookspec(firstresult=True)
def rule_classify(alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket | None:
    """Classify a new alert: category, area, nature, service, CI, group, impact, urgency.

    Called once per alert that may become a ticket, before prioritization.

    :param alert: what the source saw.
    :param draft: the ticket composed so far (title, description, source, times, key).
    :param rules: the loaded rule book.
    :returns: the draft with classification fields set; ``None`` to let the next plugin decide.
        Stops at first non-None result. Raising dead-letters the alert; the pipeline goes on.
    """


@hookspec(firstresult=True)
def rule_prioritize(alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket | None:
    """Set impact, urgency and priority (with ``priority_reason``) on the classified draft.

    Called once per alert, after ``rule_classify``.

    :param alert: what the source saw.
    :param draft: the classified ticket.
    :param rules: the loaded rule book (priority matrix, severity defaults).
    :returns: the draft with priority set; ``None`` to let the next plugin decide.
        Stops at first non-None result. Raising dead-letters the alert.
    """


@hookspec(firstresult=True)
def rule_correlate(alert: Alert, draft: Ticket, rules: RuleBook, index: TicketIndex, now: datetime) -> Decision | None:
    """Decide what the alert means against the tickets already made.

    Called once per alert, after prioritization: a new ticket, a duplicate of an open master,
    a recurrence of a closed one, a note on the master (a storm-guard repeat, a reply), a
    resolution, or nothing. ``Decision.updates`` may change other tickets (a raised priority).

    :param alert: what the source saw.
    :param draft: the prioritized ticket, used if a ticket is to be created.
    :param rules: the loaded rule book (``rules.dedup``: fingerprint, windows, storm guard).
    :param index: read-only view of the connector's tickets (``connector.domain.ledger.TicketIndex``).
    :param now: the time the alert is processed.
    :returns: the decision; ``None`` to let the next plugin decide. Stops at first non-None
        result. Raising dead-letters the alert.
    """


@hookspec(firstresult=True)
def rule_sla(draft: Ticket, rules: RuleBook, now: datetime) -> Ticket | None:
    """Compute the SLA target date (field 21) of a ticket about to be created.

    Called once per created ticket, after correlation. The default is the first deadline of
    ``rules.sla`` the ticket faces (its 1st-line response).

    :param draft: the ticket to be created.
    :param rules: the loaded rule book (``rules.sla``: targets per priority and stage).
    :param now: the registration time.
    :returns: the draft with ``sla_due`` set; ``None`` to let the next plugin decide.
        Stops at first non-None result. Raising dead-letters the alert.
    """
