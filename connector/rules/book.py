"""The rules the pipeline applies, as plain data (loaded from ``rules/*.yaml``).

The pipeline's rule hooks receive a ``RuleBook``; they never read files themselves, so one
loaded, validated book is what every alert sees. The sweep reads its ladder and notice tables,
the lifecycle its numbers and roles, the intake its replies from the same book, so a site's
rules directory changes all of them at once. ``RuleBook()`` is the shipped defaults (the
seed's tables, loaded once); ``connector.rules.loading.load_rulebook(dir)`` loads a site's.
"""

from __future__ import annotations

__all__ = ["RuleBook", "TicketIndex", "TicketState", "default_rulebook"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.domain.errors import ConfigProblem
from connector.domain.ledger import TicketIndex, TicketState
from connector.domain.models import TicketSource

if TYPE_CHECKING:
    from connector.rules.classify import Classifier
    from connector.rules.correlate import DedupPolicy
    from connector.rules.files import LifecycleFile, RepliesFile
    from connector.rules.ladder import EscalationRules, NotificationRules
    from connector.rules.priority import PriorityRules
    from connector.rules.sla import SlaPolicy
    from connector.rules.taxonomy import Taxonomy


@cache
def default_rulebook() -> RuleBook:
    """The shipped rules, loaded and validated once per process."""
    from connector.rules.loading import load_rulebook

    return load_rulebook(None)


def _default_source_kinds() -> dict[str, TicketSource]:
    return {"email": TicketSource.USER_REPORT, "inspection": TicketSource.INSPECTION}


@dataclass(frozen=True)
class RuleBook:
    """Every table the process needs; a field left out takes the shipped default."""

    priority: PriorityRules = field(default_factory=lambda: default_rulebook().priority)
    classifier: Classifier = field(default_factory=lambda: default_rulebook().classifier)
    dedup: DedupPolicy = field(default_factory=lambda: default_rulebook().dedup)
    sla: SlaPolicy = field(default_factory=lambda: default_rulebook().sla)
    taxonomy: Taxonomy = field(default_factory=lambda: default_rulebook().taxonomy)
    #: the escalation ladder (``escalation.yaml``)
    escalation: EscalationRules = field(default_factory=lambda: default_rulebook().escalation)
    #: channels, timed and status notices (``notifications.yaml``)
    notices: NotificationRules = field(default_factory=lambda: default_rulebook().notices)
    #: the reassignment limit, who may close and verify (``lifecycle.yaml``)
    lifecycle: LifecycleFile = field(default_factory=lambda: default_rulebook().lifecycle)
    #: what the connector answers by mail (``replies.yaml``)
    replies: RepliesFile = field(default_factory=lambda: default_rulebook().replies)
    #: which kind of source each source name is, when its alerts do not say (default: monitoring)
    source_kinds: Mapping[str, TicketSource] = field(default_factory=_default_source_kinds)
    #: the file each table was read from
    files: Mapping[str, Path] = field(default_factory=dict)
    #: each file as validated (``connector.rules.files.SCHEMAS``), for ``rules show``
    models: Mapping[str, Any] = field(default_factory=dict)
    #: what ``validate`` prints as warnings (unreachable or overlapping rules)
    warnings: tuple[ConfigProblem, ...] = ()
