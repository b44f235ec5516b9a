"""Report periods: calendar months (``2026-10``), quarters (``2026-Q4``) and ISO weeks
(``2026-W42``, Monday to Sunday: breaches are "reported in the weekly/monthly reports", PROCESS
§5) in a time zone.

A ticket belongs to the period that holds its ``occurred_at`` on the local calendar of the
report's time zone (default Asia/Shanghai: a fault at 2026-09-30 16:30 UTC happened on
1 October in Beijing and is an October incident). Zones come from ``zoneinfo``; the ``tzdata``
package supplies them where the system has none.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TZ", "Period", "PeriodError", "parse_period", "zone"]

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.domain.errors import ConnectorError

DEFAULT_TZ = "Asia/Shanghai"

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_WEEK = re.compile(r"^(\d{4})-[Ww](\d{2})$")


def _weeks_in(year: int) -> int:
    """52 or 53: the ISO week of 28 December is always the year's last."""
    return date(year, 12, 28).isocalendar().week


class PeriodError(ConnectorError):
    """Raised for a period or time zone name that cannot be understood."""


def zone(name: str) -> ZoneInfo:
    """The time zone called ``name`` (an IANA name such as ``Asia/Shanghai``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PeriodError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from exc


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or ISO week; ``number`` is the month (1–12), the quarter (1–4)
    or the ISO week (1–52/53) of the ISO year ``year``."""

    year: int
    kind: Literal["month", "quarter", "week"]
    number: int

    def __post_init__(self) -> None:
        if not 1 <= self.number <= self._top() or not 1 <= self.year <= 9998:
            raise PeriodError(f"no such {self.kind}: {self.year}/{self.number}")

    def _top(self) -> int:
        return {"month": 12, "quarter": 4}.get(self.kind) or _weeks_in(self.year)

    @property
    def label(self) -> str:
        """``2026-10``, ``2026-Q4`` or ``2026-W42``: what the command line takes and the files are
        named after."""
        if self.kind == "week":
            return f"{self.year}-W{self.number:02d}"
        return f"{self.year}-{self.number:02d}" if self.kind == "month" else f"{self.year}-Q{self.number}"

    def __str__(self) -> str:
        return self.label

    @cached_property
    def first_day(self) -> date:
        """The first calendar day of the period (a week's Monday)."""
        if self.kind == "week":
            return date.fromisocalendar(self.year, self.number, 1)
        month = self.number if self.kind == "month" else 3 * self.number - 2
        return date(self.year, month, 1)

    @cached_property
    def end_day(self) -> date:
        """The first calendar day after the period."""
        return self.next().first_day

    @property
    def days(self) -> int:
        """How many calendar days the period has."""
        return (self.end_day - self.first_day).days

    def start(self, tz: ZoneInfo) -> datetime:
        """The period's first moment: local midnight of its first day."""
        return datetime.combine(self.first_day, datetime.min.time(), tz)

    def end(self, tz: ZoneInfo) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.end_day, datetime.min.time(), tz)

    def day_index(self, moment: datetime, tz: ZoneInfo) -> int | None:
        """Which day of the period ``moment`` falls on (0 = the first), or ``None`` if outside."""
        index = (moment.astimezone(tz).date() - self.first_day).days
        return index if 0 <= index < self.days else None

    def day(self, index: int) -> date:
        """The calendar date of day ``index``."""
        return self.first_day + timedelta(days=index)

    def previous(self) -> Period:
        """The period just before (the trend compares against it)."""
        if self.number > 1:
            return Period(self.year, self.kind, self.number - 1)
        return Period(self.year - 1, self.kind, Period(self.year - 1, self.kind, 1)._top())

    def next(self) -> Period:
        """The period just after."""
        top = self._top()
        if self.number < top:
            return Period(self.year, self.kind, self.number + 1)
        return Period(self.year + 1, self.kind, 1)


def parse_period(text: str) -> Period:
    """``2026-10`` → October 2026; ``2026-Q4`` → its fourth quarter; ``2026-W42`` → ISO week 42."""
    value = text.strip()
    try:
        if match := _MONTH.match(value):
            return Period(int(match[1]), "month", int(match[2]))
        if match := _QUARTER.match(value):
            return Period(int(match[1]), "quarter", int(match[2]))
        if match := _WEEK.match(value):
            return Period(int(match[1]), "week", int(match[2]))
    except PeriodError:
        pass
    raise PeriodError(
        f"not a period: {text!r} (a month such as 2026-10, a quarter such as 2026-Q4 or an ISO week such as 2026-W42)"
    )
