"""Every cell of the seed's impact × urgency matrix (§3.1.4.5), written out independently, against
the shipped rules/priority.yaml."""

from __future__ import annotations

import pytest

from connector.domain.models import Impact, Priority, Urgency
from connector.rules.loading import default_rulebook

# (urgency, impact, priority) — copied by hand from the seed's table
SEED_TABLE = [
    (1, 1, 1),
    (1, 2, 2),
    (1, 3, 2),
    (1, 4, 3),
    (2, 1, 2),
    (2, 2, 2),
    (2, 3, 3),
    (2, 4, 3),
    (3, 1, 2),
    (3, 2, 3),
    (3, 3, 3),
    (3, 4, 4),
    (4, 1, 3),
    (4, 2, 3),
    (4, 3, 4),
    (4, 4, 4),
]


@pytest.mark.parametrize(("urgency", "impact", "expected"), SEED_TABLE)
def test_matrix_cell(urgency: int, impact: int, expected: int) -> None:
    assert default_rulebook().priority.priority(Impact(impact), Urgency(urgency)) is Priority(expected)


def test_labels_are_the_seeds() -> None:
    assert [p.zh for p in Priority] == ["最高", "高", "中", "低"]
    assert [i.zh for i in Impact] == ["非常重要", "严重", "一般", "轻微"]
    assert [u.zh for u in Urgency] == ["非常紧急", "紧急", "一般", "略微紧急"]
