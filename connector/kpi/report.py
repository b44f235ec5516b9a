"""One period's report: its KPIs, the eight tables, and the previous period for the trend.

``build_report`` is the one entry point, for the ``report`` command, the scheduled monthly job
and ``report --config`` alike: it takes any iterable of ``HistoryRecord`` (a file reader, an
export straight from the helpdesk) and reads it once, keeping only the small facts of the
tickets that occurred in the period or the one before. It is pure: the moment the stages
still running are judged at (``as_of``) and the SLA policy are parameters.
"""

from __future__ import annotations

__all__ = ["PeriodFigures", "Report", "build_report"]

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from connector.domain.clock import ensure_utc
from connector.domain.models import Priority
from connector.kpi.facts import Breaches, TicketFacts, facts_of
from connector.kpi.history import HistoryRecord, InputStats
from connector.kpi.kpis import KpiSet, compute_kpis, in_total
from connector.kpi.periods import DEFAULT_TZ, Period, zone
from connector.kpi.tables import Table, build_tables
from connector.rules.loading import default_rulebook
from connector.rules.sla import SlaPolicy


@dataclass(frozen=True)
class PeriodFigures:
    """The KPIs of one period and the series the trend charts draw."""

    period: Period
    occurred: int  # tickets that occurred in the period, duplicates included
    duplicates: int
    kpis: KpiSet
    daily: tuple[int, ...]  # tickets in the total per day of the period
    by_priority: tuple[int, ...]  # tickets in the total per priority 1..4


@dataclass(frozen=True)
class Report:
    """Everything the renderers (JSON, CSV, HTML, wiki) show for one period."""

    period: Period
    tz: str
    as_of: datetime
    current: PeriodFigures
    previous: PeriodFigures
    tables: tuple[Table, ...]
    input: InputStats | None = None

    def with_input(self, stats: InputStats) -> Report:
        """The report with what reading the history skipped (known once the reader is drained)."""
        return replace(self, input=stats)


def _figures(period: Period, facts: Sequence[TicketFacts]) -> PeriodFigures:
    total = in_total(facts)
    daily = [0] * period.days
    by_priority = [0] * len(Priority)
    for f in total:
        daily[f.day] += 1
        by_priority[f.priority - 1] += 1
    return PeriodFigures(
        period=period,
        occurred=len(facts),
        duplicates=len(facts) - len(total),
        kpis=compute_kpis(facts),
        daily=tuple(daily),
        by_priority=tuple(by_priority),
    )


def build_report(
    records: Iterable[HistoryRecord],
    period: Period,
    *,
    as_of: datetime,
    tz: str = DEFAULT_TZ,
    policy: SlaPolicy | None = None,
) -> Report:
    """The report of ``period`` from ``records`` (read once; any order).

    A ticket belongs to the period holding its ``occurred_at`` in ``tz``. ``as_of`` is when
    the history was taken: a stage still running then (an unassigned ticket, an unresolved
    one) is judged by the time it had run by that moment. ``policy``: the SLA rules lateness is
    judged by (default: the shipped ``sla.yaml``).
    """
    if policy is None:
        policy = default_rulebook().sla
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    zone_info = zone(tz)
    judged_at = ensure_utc(as_of)  # the records' moments are UTC: compare like with like
    breaches = Breaches.of(policy)
    windows = [_Window(period, zone_info), _Window(period.previous(), zone_info)]
    for record in records:
        moment = record.occurred_at.timestamp()
        for window in windows:
            day = window.day_of(moment)
            if day is not None:
                window.facts.append(facts_of(record, day, breaches, judged_at))
                break
    current, previous = windows
    figures = _figures(period, current.facts)
    return Report(
        period=period,
        tz=tz,
        as_of=as_of,
        current=figures,
        previous=_figures(previous.period, previous.facts),
        tables=build_tables(in_total(current.facts), figures.kpis.staff),
    )


class _Window:
    """One period's local days as POSIX timestamps, and the facts of the tickets inside.

    Comparing floats instead of aware datetimes of different zones is what keeps a
    100,000-ticket read fast; the day boundaries are local midnights, so a 23- or 25-hour day
    of a zone with daylight saving is still one day.
    """

    def __init__(self, period: Period, tz: ZoneInfo) -> None:
        self.period = period
        self.bounds = [datetime.combine(period.day(i), time(0), tz).timestamp() for i in range(period.days)] + [
            period.end(tz).timestamp()
        ]
        self.facts: list[TicketFacts] = []

    def day_of(self, moment: float) -> int | None:
        """The day of the period ``moment`` falls on, or ``None`` outside it."""
        if not self.bounds[0] <= moment < self.bounds[-1]:
            return None
        return bisect_right(self.bounds, moment) - 1
