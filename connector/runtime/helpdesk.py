"""The helpdesk of a connector config, opened for reading the KPI history (``export-history``,
``report --config``).

Only the backend is built — no state file, no sources, no pipeline — because the history is
rebuilt from the helpdesk alone (a lost state file must lose nothing). Next to it come the two
things a report takes from the config: the SLA policy of the rules the config uses (lateness is
judged as the escalation sweep judges it) and, when there is a people file, the line of each
assignment group (``resolver_role`` of a ticket whose own field is empty).
"""

from __future__ import annotations

__all__ = ["Helpdesk", "open_helpdesk", "people_file"]

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pluggy

from connector.contracts.adapters import Backend, PluginContext
from connector.domain.clock import Clock
from connector.domain.models import ResolverRole
from connector.rules.knowledge import KnowledgeUsedModel
from connector.rules.sla import SlaPolicy
from connector.runtime.config import LoadedConfig
from connector.state.spool import Spool

log = logging.getLogger(__name__)


@dataclass
class Helpdesk:
    """An open backend with what the KPI code needs besides it."""

    backend: Backend
    policy: SlaPolicy
    line_of: Callable[[str | None], ResolverRole | None] | None = None
    #: the rule book's "KB used" note lines (``knowledge.yaml``), for KPI 15
    knowledge_used: KnowledgeUsedModel | None = None
    #: pending-change time counts as suspended (``itil_links.yaml``'s ``changes.pauses_sla``)
    pending_pauses: bool = False

    @property
    def name(self) -> str:
        """What messages and the report's input line call it."""
        return self.backend.name

    def close(self) -> None:
        """Release the backend's sessions and connections."""
        self.backend.close()


def people_file(config: LoadedConfig) -> Path | None:
    """The config's ``notify.people`` (relative to the config file), when it has a notify
    section; ``None`` otherwise."""
    notify = getattr(config.core, "notify", None)
    people = getattr(notify, "people", None)
    if not isinstance(people, Path):
        return None
    return people if people.is_absolute() else config.path.parent / people


def open_helpdesk(
    config: LoadedConfig,
    pm: pluggy.PluginManager,
    *,
    clock: Clock,
    register_secret: Callable[[str], None],
    people: Path | None = None,
) -> Helpdesk:
    """Build the config's backend, load its rules' SLA policy and the people file (``people``,
    else the config's ``notify.people``); raises ``ConfigError`` for a rule or people file that
    does not validate."""
    from connector.notify.people import Directory, load_people
    from connector.rules.loading import load_rulebook
    from connector.runtime.app import adapter_types

    book = load_rulebook(config.rules_dir)
    policy = book.sla
    pending_pauses = book.links is not None and book.links.changes.pauses_sla
    path = people or people_file(config)
    line_of = Directory(load_people(path)).line_of_group if path is not None else None
    if path is None:
        log.info(
            "no people file: a ticket's resolver role (KPIs 8–11) comes only from its own field; to take it "
            "from the resolving group's line too, give --people people.yaml or a notify.people "
            "(docs/operations.md, 'export-history and logins')"
        )
    backend_types, _ = adapter_types(pm)
    ctx = PluginContext(
        clock=clock,
        name=config.backend.name,
        data_dir=config.path.parent,
        register_secret=register_secret,
        spool=Spool(config.state_path.parent / "spool"),
    )
    backend = backend_types[config.backend.type_name].factory(config.backend.settings, ctx)
    return Helpdesk(
        backend=backend,
        policy=policy,
        line_of=line_of,
        knowledge_used=book.knowledge.knowledge_used,
        pending_pauses=pending_pauses,
    )
