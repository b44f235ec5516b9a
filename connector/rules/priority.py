"""Priority from impact × urgency (PROCESS §4), and where impact and urgency come from.

The numbers live in ``rules/priority.yaml``; this module holds them as ``PriorityRules`` and
does the arithmetic. Impact and urgency of an alert are decided in this order, each field on
its own: a classification rule (``impact``/``urgency`` or an incident ``level``), else what the
source itself said, else the Zabbix severity table, else the default.
"""

from __future__ import annotations

__all__ = ["Level", "PriorityRules", "Suggestion", "priority_of"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from connector.domain.models import Alert, Impact, Priority, Urgency


def priority_of(impact: Impact, urgency: Urgency, matrix: Sequence[Sequence[int]]) -> Priority:
    """Look the priority up in ``matrix[urgency-1][impact-1]``."""
    return Priority(matrix[int(urgency) - 1][int(impact) - 1])


@dataclass(frozen=True)
class Level:
    """An incident level (seed §3.1.4.2) a rule may name instead of impact and urgency."""

    name: str
    zh: str
    en: str
    impact: Impact
    urgency: Urgency


@dataclass(frozen=True)
class Suggestion:
    """Impact and urgency before the classification rules, with what each came from."""

    impact: Impact
    urgency: Urgency
    impact_basis: str
    urgency_basis: str


@dataclass(frozen=True)
class PriorityRules:
    """The priority matrix, its labels, the severity table, the default and the levels."""

    matrix: tuple[tuple[int, ...], ...]
    labels: Mapping[Priority, tuple[str, str]]  # (zh, en)
    severity: Mapping[int, tuple[Impact, Urgency]]
    default: tuple[Impact, Urgency]
    levels: Mapping[str, Level]
    _suggestions: dict[tuple[int | None, Impact | None, Urgency | None], Suggestion] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _priorities: dict[tuple[Impact, Urgency], Priority] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    #: the reasons written so far: a few dozen combinations, each formatted once (it was a tenth
    #: of the prioritising stage's time per alert)
    _reasons: dict[tuple[Impact, Urgency, str, str], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def priority(self, impact: Impact, urgency: Urgency) -> Priority:
        """The matrix cell for this impact and urgency."""
        key = (impact, urgency)
        found = self._priorities.get(key)
        if found is None:  # sixteen cells: each looked up once
            found = self._priorities[key] = priority_of(impact, urgency, self.matrix)
        return found

    def label(self, priority: Priority, lang: str = "zh") -> str:
        """How people read the priority, e.g. ``P1 最高``."""
        zh, en = self.labels.get(priority, (priority.zh, priority.en))
        return f"P{int(priority)} {zh if lang == 'zh' else en}"

    def suggest(self, alert: Alert) -> Suggestion:
        """What the source says: its own impact/urgency, else its severity's, else the default."""
        key = (alert.severity, alert.impact, alert.urgency)
        found = self._suggestions.get(key)
        if found is None:  # a handful of combinations: each is worked out once
            found = self._suggestions[key] = self._suggest(*key)
        return found

    def _suggest(self, severity: int | None, own_impact: Impact | None, own_urgency: Urgency | None) -> Suggestion:
        by_severity = self.severity.get(severity) if severity is not None else None
        fallback, basis = (by_severity, f"severity {severity}") if by_severity else (self.default, "default")
        impact, impact_basis = (own_impact, "source") if own_impact is not None else (fallback[0], basis)
        urgency, urgency_basis = (own_urgency, "source") if own_urgency is not None else (fallback[1], basis)
        return Suggestion(impact, urgency, impact_basis, urgency_basis)

    def reason(self, impact: Impact, urgency: Urgency, impact_basis: str, urgency_basis: str) -> str:
        """The ``priority_reason`` written to the ticket, e.g.
        ``impact 2 严重 (severity 4) × urgency 2 紧急 (rule afc) → P2 高``."""
        key = (impact, urgency, impact_basis, urgency_basis)
        found = self._reasons.get(key)
        if found is None:
            found = self._reasons[key] = self._reason(*key)
        return found

    def _reason(self, impact: Impact, urgency: Urgency, impact_basis: str, urgency_basis: str) -> str:
        label = self.label(self.priority(impact, urgency))
        head = f"impact {int(impact)} {impact.zh}"
        tail = f"urgency {int(urgency)} {urgency.zh}"
        if impact_basis == urgency_basis:
            return f"{head} × {tail} ({impact_basis}) → {label}"
        return f"{head} ({impact_basis}) × {tail} ({urgency_basis}) → {label}"
