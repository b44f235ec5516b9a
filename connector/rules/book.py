"""The rules the pipeline applies, as plain data (loaded from ``rules/*.yaml``).

The pipeline's rule hooks receive a ``RuleBook``; they never read files themselves, so one
loaded, validated book is what every alert sees. The sweep reads its ladder and notice tables,
the lifecycle its numbers and roles, the intake its replies from the same book, so a site's
rules directory changes all of them at once. A book is a value: it is made by the loader —
``connector.rules.loading.default_rulebook()`` for the shipped tables (the seed's, loaded once),
``load_rulebook(dir)`` for a site's — and this module knows nothing of files, so the loader and
the book do not import each other.
"""

from __future__ import annotations

__all__ = ["RuleBook", "TicketIndex", "TicketState"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.domain.errors import ConfigProblem
from connector.domain.ledger import TicketIndex, TicketState
from connector.domain.models import TicketSource

if TYPE_CHECKING:
    from connector.rules.classify import Classifier
    from connector.rules.correlate import DedupPolicy
    from connector.rules.files import LifecycleFile, RepliesFile
    from connector.rules.knowledge import KnowledgeFile
    from connector.rules.ladder import EscalationRules, NotificationRules
    from connector.rules.links import LinksFile
    from connector.rules.priority import PriorityRules
    from connector.rules.sla import SlaPolicy
    from connector.rules.taxonomy import Taxonomy


def _default_source_kinds() -> dict[str, TicketSource]:
    return {"email": TicketSource.USER_REPORT, "inspection": TicketSource.INSPECTION}


@dataclass(frozen=True)
class RuleBook:
    """Every table the process needs (``default_rulebook()`` of ``connector.rules.loading`` is the
    shipped one; ``dataclasses.replace`` of it changes one table, as tests and trials do)."""

    priority: PriorityRules
    classifier: Classifier
    dedup: DedupPolicy
    sla: SlaPolicy
    taxonomy: Taxonomy
    #: the escalation ladder (``escalation.yaml``)
    escalation: EscalationRules
    #: channels, timed and status notices (``notifications.yaml``)
    notices: NotificationRules
    #: the reassignment limit, who may close and verify (``lifecycle.yaml``)
    lifecycle: LifecycleFile
    #: what the connector answers by mail (``replies.yaml``)
    replies: RepliesFile
    #: similar incidents, KB candidates, the "KB used" note lines (``knowledge.yaml``)
    knowledge: KnowledgeFile
    #: problem records and changes (``itil_links.yaml``; ``None`` only in a book built by hand: then
    #: no problem is raised and a linked change does not pause the SLA)
    links: LinksFile | None = None
    #: which kind of source each source name is, when its alerts do not say (default: monitoring)
    source_kinds: Mapping[str, TicketSource] = field(default_factory=_default_source_kinds)
    #: the file each table was read from
    files: Mapping[str, Path] = field(default_factory=dict)
    #: each file as validated (``connector.rules.files.SCHEMAS``), for ``rules show``
    models: Mapping[str, Any] = field(default_factory=dict)
    #: what ``validate`` prints as warnings (unreachable or overlapping rules)
    warnings: tuple[ConfigProblem, ...] = ()
