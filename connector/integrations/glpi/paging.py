"""Paging of GLPI's List and search answers: ``Content-Range: <start>-<end>/<total>``."""

from __future__ import annotations

__all__ = ["ContentRange", "Page", "parse_content_range"]

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")

_CONTENT_RANGE = re.compile(r"^\s*(\d+)-(\d+)/(\d+)\s*$")


@dataclass(frozen=True)
class ContentRange:
    """``Content-Range: <start>-<end>/<total>`` of a List or search answer (both ends inclusive)."""

    start: int
    end: int
    total: int

    @property
    def more(self) -> bool:
        """Whether rows after ``end`` exist."""
        return self.end + 1 < self.total


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a List or search answer."""

    items: T
    range: ContentRange | None
    status: int
    #: GLPI's clock when it answered (HTTP ``Date``); ``None``: no such header
    answered_at: datetime | None = None


def parse_content_range(value: str | None) -> ContentRange | None:
    """The header's three numbers; ``None`` when it is absent (GLPI sends none for no rows) or
    unreadable."""
    if not value:
        return None
    found = _CONTENT_RANGE.match(value)
    if found is None:
        return None
    start, end, total = (int(group) for group in found.groups())
    return ContentRange(start, end, total)
