"""Priority from impact × urgency (PROCESS §4), and Zabbix severity → impact/urgency defaults."""

from __future__ import annotations

__all__ = ["DEFAULT_MATRIX", "DEFAULT_SEVERITY_MAP", "priority_of"]

from collections.abc import Mapping, Sequence

from connector.models import Impact, Priority, Urgency

#: rows are urgency 1–4, columns impact 1–4 (the seed's table, §3.1.4.5)
DEFAULT_MATRIX: tuple[tuple[int, ...], ...] = (
    (1, 2, 2, 3),
    (2, 2, 3, 3),
    (2, 3, 3, 4),
    (3, 3, 4, 4),
)

#: Zabbix severity 0–5 → (impact, urgency) for alerts no classification rule sets.
#: Disaster → P1 (online business stopped), High → P2, Average → P3, below → P4.
DEFAULT_SEVERITY_MAP: Mapping[int, tuple[Impact, Urgency]] = {
    5: (Impact.VERY_IMPORTANT, Urgency.VERY_URGENT),
    4: (Impact.SEVERE, Urgency.URGENT),
    3: (Impact.GENERAL, Urgency.NORMAL),
    2: (Impact.MINOR, Urgency.NORMAL),
    1: (Impact.MINOR, Urgency.SLIGHTLY_URGENT),
    0: (Impact.MINOR, Urgency.SLIGHTLY_URGENT),
}


def priority_of(impact: Impact, urgency: Urgency, matrix: Sequence[Sequence[int]] = DEFAULT_MATRIX) -> Priority:
    """Look the priority up in ``matrix[urgency-1][impact-1]``."""
    return Priority(matrix[int(urgency) - 1][int(impact) - 1])
