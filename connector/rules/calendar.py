"""Working days: how long the 1st line waits for a user's confirmation (issue 12, item 4).

A resolved ticket whose user neither confirms nor rejects the resolution may be closed once a
wait of *working* days has passed (``lifecycle.yaml``'s ``confirmation``). A working day is a
date of the calendar's weekdays (shipped: Monday to Friday), unless it is one of its
``holidays``, or one of its ``extra_working_days`` (a weekend date worked in lieu of a holiday,
as Chinese calendars move them). Days are counted in the calendar's time zone on the wall
clock, so "3 working days" after Friday 15:00 ends on Wednesday 15:00 local time, whatever a
daylight-saving change does in between; time on a day that is not a working day does not count,
so a ticket resolved on Saturday waits until the end of Wednesday.

Pure: no number of this module is a rule — the days and the calendar are the rule book's.
"""

from __future__ import annotations

__all__ = ["WEEKDAYS", "ClosingWait", "WorkingCalendar"]

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connector.domain.models import ClosureCode

#: the weekday names ``lifecycle.yaml`` uses, Monday first (``date.weekday()`` order)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class WorkingCalendar:
    """Which local dates are working days, and in which zone."""

    zone: ZoneInfo
    weekdays: frozenset[int]  # date.weekday() numbers of the working weekdays
    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()

    @classmethod
    def of(
        cls,
        zone: str,
        weekdays: Collection[str],
        holidays: Collection[date] = (),
        extra_working_days: Collection[date] = (),
    ) -> WorkingCalendar:
        """A calendar from ``lifecycle.yaml``'s names (``mon`` … ``sun``) and an IANA zone."""
        return cls(
            ZoneInfo(zone),
            frozenset(WEEKDAYS.index(name) for name in weekdays),
            frozenset(holidays),
            frozenset(extra_working_days),
        )

    def is_working(self, day: date) -> bool:
        """Whether ``day`` (a local date) is a working day."""
        if day in self.extra_working_days:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The moment ``days`` working days of time have passed since ``start`` (aware, UTC).

        Only time on working days counts, on the local wall clock. Raises ``ValueError`` when
        the calendar has no working day in the next ten years (a calendar that never works)."""
        cursor = start.astimezone(self.zone).replace(tzinfo=None)
        remaining = timedelta(days=days)
        limit = cursor + timedelta(days=3660)
        while cursor < limit:
            next_day = datetime.combine(cursor.date(), time()) + _DAY
            if self.is_working(cursor.date()):
                span = next_day - cursor
                if span >= remaining:
                    end = cursor + remaining
                    return end.replace(tzinfo=self.zone).astimezone(UTC)
                remaining -= span
            cursor = next_day
        raise ValueError("the working calendar has no working day in the next ten years")


@dataclass(frozen=True)
class ClosingWait:
    """How long a resolved ticket waits for its user's answer before it is closed without one,
    and the closure code that close carries (``lifecycle.yaml``'s ``confirmation``)."""

    days: int
    calendar: WorkingCalendar
    closure_code: ClosureCode

    def ends(self, resolved_at: datetime) -> datetime:
        """When the wait for a ticket resolved at ``resolved_at`` is over."""
        return self.calendar.add_working_days(resolved_at, self.days)

    def describe(self) -> str:
        """The wait as the notes name it: ``3 working days``."""
        return f"{self.days} working day{'' if self.days == 1 else 's'}"
