"""The composition root: turn a validated config into a running ``Engine``.

Everything is built here and handed down (clock, store, backend, sources, pipeline), so no
module reaches for a global. The CLI and the daemon call ``build_app``; tests may build an
``Engine`` by hand from the same parts.
"""

from __future__ import annotations

__all__ = ["App", "adapter_types", "build_app", "load"]

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pluggy

from connector.contracts.adapters import Backend, BackendType, PluginContext, Source, SourceType
from connector.contracts.capabilities import BackendCapabilities, check_backend, check_notifier, check_source
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import Clock, SystemClock
from connector.notify.settings import build_notifications, notifier_types
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.process.roster import DirectoryRoster
from connector.rules.book import RuleBook
from connector.runtime.config import LoadedConfig, load_config
from connector.runtime.digest import VerificationDigest
from connector.runtime.engine import Engine, RetryPolicy
from connector.runtime.health import Health
from connector.runtime.report_job import ReportsJob
from connector.runtime.syncback import SyncBack
from connector.state.per_thread import per_thread
from connector.state.spool import Spool
from connector.state.store import open_store
from connector.util.secrets import Redactor

log = logging.getLogger("connector")


@dataclass
class App:
    """A built connector: the engine plus what must be closed at the end."""

    config: LoadedConfig
    engine: Engine
    pm: pluggy.PluginManager
    syncback: SyncBack
    reports: ReportsJob
    #: what a SIGHUP reload builds its notifiers with (``reload``)
    spool: Spool | None = None
    register_secret: Callable[[str], None] | None = None

    def reload(self) -> str:
        """Re-read the rule book and people.yaml and switch to them at once; ``ConfigError``
        leaves everything as it was (``connector.runtime.reload``)."""
        from connector.runtime.reload import reload_rules

        return reload_rules(self)

    def close(self) -> None:
        """Close sources, backend and store (in that order); errors are logged, not raised."""
        for source in self.engine.sources.values():
            try:
                source.close()
            except Exception:
                log.exception("closing source %s failed", source.name)
        try:
            self.engine.backend.close()
        except Exception:
            log.exception("closing backend failed")
        if self.engine.notifications is not None:
            try:
                self.engine.notifications.close()
            except Exception:
                log.exception("closing notifiers failed")
        self.engine.store.close()


def adapter_types(pm: pluggy.PluginManager) -> tuple[dict[str, BackendType], dict[str, SourceType]]:
    """Every backend and source type the loaded plugins offer, by name."""
    backends = {t.name: t for group in pm.hook.register_backend_types() for t in group}
    sources = {t.name: t for group in pm.hook.register_source_types() for t in group}
    return backends, sources


def load(path: Path, pm: pluggy.PluginManager | None = None) -> tuple[LoadedConfig, pluggy.PluginManager]:
    """Validate the config at ``path`` with the plugins it enables; raises ``ConfigError``."""
    pm = pm or build_plugin_manager()
    config = load_config(path, *adapter_types(pm), notifier_types=notifier_types(pm))
    if config.core.plugins.disable:
        # set_blocked unregisters a loaded plugin; validate again, since its types are gone now
        for name in config.core.plugins.disable:
            pm.set_blocked(name)
        config = load_config(path, *adapter_types(pm), notifier_types=notifier_types(pm))
    return config, pm


def build_app(
    config: LoadedConfig,
    pm: pluggy.PluginManager,
    *,
    clock: Clock | None = None,
    redactor: Redactor | None = None,
    rules: RuleBook | None = None,
) -> App:
    """Build store, backend, sources, pipeline and engine from a validated config."""
    clock = clock or SystemClock()
    redactor = redactor or Redactor()
    for secret in config.secrets:
        redactor.add(secret)
    backend_types, source_types = adapter_types(pm)
    data_dir = config.path.parent
    if rules is None:
        rules = config.rulebook()
    # every part holds this one store; each thread that uses it (the daemon's jobs) gets its own connection
    store = per_thread(open_store(config.state_target))
    spool = Spool(config.state_path.parent / "spool")
    ctx = PluginContext(
        clock=clock,
        name=config.backend.name,
        data_dir=data_dir,
        register_secret=redactor.add,
        spool=spool,
        rules=rules,
    )
    backend: Backend = backend_types[config.backend.type_name].factory(config.backend.settings, ctx)
    # what the plugins built is checked here, once: a missing method fails the start, not a drain
    check_backend(backend, config.backend.type_name)
    capabilities = BackendCapabilities.of(backend)
    log.info("backend %s: %s", backend.name, ", ".join(capabilities.names) or "no optional capabilities")
    sources: dict[str, Source] = {}
    for adapter in config.sources:
        sctx = PluginContext(
            clock=clock, name=adapter.name, data_dir=data_dir, register_secret=redactor.add, spool=spool
        )
        sources[adapter.name] = source_types[adapter.type_name].factory(adapter.settings, sctx)
        check_source(sources[adapter.name], adapter.type_name)
    outbox = config.core.outbox
    notifications = None
    if config.notify is not None:
        notifications = build_notifications(
            config.notify,
            notifier_types(pm),
            lambda name: PluginContext(
                clock=clock, name=name, data_dir=data_dir, register_secret=redactor.add, spool=spool
            ),
            rules,
        )
        for channel in notifications.channels.values():
            check_notifier(channel.notifier, channel.name)
    sweep = SweepRules.of(rules, notifications, timezone=config.core.reports.timezone)
    engine = Engine(
        store=store,
        backend=backend,
        sources=sources,
        pipeline=Pipeline.from_manager(pm, rules),
        clock=clock,
        retry=RetryPolicy(outbox.backoff_initial_seconds, outbox.backoff_max_seconds, outbox.max_attempts),
        batch=outbox.batch,
        spool=spool,
        sweep_rules=sweep,
        notifications=notifications,
        capabilities=capabilities,
        health=_health(config, clock),
    )
    roster = (
        DirectoryRoster(notifications.directory, rules.lifecycle.closing, rules.lifecycle.verification)
        if notifications is not None
        else None
    )
    reports = ReportsJob(
        backend,
        store,
        clock,
        config.core.reports,
        rules.sla,
        notifications,
        notifications.directory.line_of_group if notifications is not None else None,
        capabilities,
        knowledge_used=rules.knowledge.knowledge_used,
        pending_pauses=rules.links is not None and rules.links.changes.pauses_sla,
    )
    digest = VerificationDigest(store, clock, notifications, rules.lifecycle.verification, config.core.reports.timezone)
    first_lookback = timedelta(seconds=config.core.daemon.sync_first_lookback_seconds)
    syncback = SyncBack(engine, roster, lifecycle=rules.lifecycle, digest=digest, first_lookback=first_lookback)
    return App(
        config=config,
        engine=engine,
        pm=pm,
        syncback=syncback,
        reports=reports,
        spool=spool,
        register_secret=redactor.add,
    )


def _health(config: LoadedConfig, clock: Clock) -> Health:
    """What ``/readyz`` checks, tuned by the ``http:`` section (defaults without one)."""
    http = config.core.http
    if http is None:
        return Health(clock, sweep_seconds=config.core.daemon.sweep_seconds)
    return Health(
        clock,
        attempts=http.ready_attempts,
        sweep_seconds=config.core.daemon.sweep_seconds,
        sweep_late_seconds=http.sweep_late_seconds,
    )
