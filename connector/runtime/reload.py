"""``SIGHUP``: read the rule book and ``people.yaml`` again and switch to them at once, or not at all.

Everything new is built first — the rule book from ``rules_dir`` (``LoadedConfig.rulebook``),
then, with a ``notify`` section, the people file, the ladder and notice tables checked against
it and the channels' notifiers (``build_notifications``). Only when every part loaded are they
put in place, between two jobs of the daemon's loop (the signal handler only sets a flag), so
no alert is ever decided with half an old and half a new book. A broken file raises
``ConfigError`` naming ``file:line``; the daemon logs it and keeps running with the old book.

What is not reloaded (a restart reads it): the connector config itself (backend, sources,
channels' settings, the ``http:`` section) and what the backend took from the rule book at
start-up (its field catalogue).
"""

from __future__ import annotations

__all__ = ["reload_rules"]

import logging
from typing import TYPE_CHECKING

from connector.contracts.adapters import PluginContext
from connector.notify.settings import build_notifications, notifier_types
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.process.roster import DirectoryRoster
from connector.runtime.digest import VerificationDigest
from connector.runtime.report_job import ReportsJob
from connector.runtime.syncback import SyncBack
from connector.state.spool import Spool

if TYPE_CHECKING:
    from connector.runtime.app import App

log = logging.getLogger("connector.runtime.reload")


def reload_rules(app: App) -> str:
    """Re-read the rule book and ``people.yaml`` and switch ``app`` to them; returns what was
    loaded. Raises ``ConfigError`` (the app is left exactly as it was)."""
    config, engine = app.config, app.engine
    rules = config.rulebook()
    notifications = None
    if config.notify is not None:
        spool = app.spool or Spool(config.state_path.parent / "spool")
        register = app.register_secret or (lambda secret: None)

        def context(name: str) -> PluginContext:
            return PluginContext(
                clock=engine.clock, name=name, data_dir=config.path.parent, register_secret=register, spool=spool
            )

        notifications = build_notifications(config.notify, notifier_types(app.pm), context, rules)
    # everything loaded: switch in one go (the loop thread is between jobs)
    old = engine.notifications
    engine.pipeline = Pipeline.from_manager(app.pm, rules)
    engine.sweep_rules = SweepRules.of(rules, notifications, timezone=config.core.reports.timezone)
    engine.notifications = notifications
    lifecycle = rules.lifecycle
    roster = (
        DirectoryRoster(notifications.directory, lifecycle.closing, lifecycle.verification)
        if notifications is not None
        else None
    )
    # the verification roster and the daily digest as build_app makes them (a reload dropped both)
    digest = VerificationDigest(
        engine.store, engine.clock, notifications, lifecycle.verification, config.core.reports.timezone
    )
    app.syncback = SyncBack(
        engine, roster, lifecycle=lifecycle, digest=digest, first_lookback=app.syncback.first_lookback
    )
    app.reports = ReportsJob(
        engine.backend,
        engine.store,
        engine.clock,
        config.core.reports,
        rules.sla,
        notifications,
        notifications.directory.line_of_group if notifications is not None else None,
        engine.capabilities,
        knowledge_used=rules.knowledge.knowledge_used,
        pending_pauses=rules.links is not None and rules.links.changes.pauses_sla,
    )
    if old is not None:
        try:
            old.close()
        except Exception:
            log.exception("closing the previous notifiers failed")
    where = config.rules_dir or "the shipped rules"
    people = f", people from {config.notify.path(config.notify.settings.people)}" if config.notify is not None else ""
    return f"rules from {where} ({len(rules.classifier.rules)} classification rules){people}"
