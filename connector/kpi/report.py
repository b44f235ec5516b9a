"""One period's report: its KPIs, the eight tables, and the previous period for the trend.

``build_report`` is the one entry point, for the ``report`` command, the scheduled monthly job
and ``report --config`` alike: it takes any iterable of ``HistoryRecord`` (a file reader, an
export straight from the helpdesk) and reads it once, keeping only the small facts of the
tickets that occurred in the period or the one before. It is pure: the moment the stages
still running are judged at (``as_of``) and the SLA policy are parameters.
"""

from __future__ import annotations

__all__ = ["PeriodFigures", "Report", "build_report"]

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from connector.kpi.facts import TicketFacts, facts_of
from connector.kpi.history import HistoryRecord, InputStats
from connector.kpi.kpis import KpiSet, compute_kpis, in_total
from connector.kpi.periods import DEFAULT_TZ, Period, zone
from connector.kpi.tables import Table, build_tables
from connector.models import Priority
from connector.sla import DEFAULT_POLICY, SlaPolicy


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
    by_priority = dict.fromkeys(Priority, 0)
    for f in total:
        daily[f.day] += 1
        by_priority[f.priority] += 1
    return PeriodFigures(
        period=period,
        occurred=len(facts),
        duplicates=len(facts) - len(total),
        kpis=compute_kpis(facts),
        daily=tuple(daily),
        by_priority=tuple(by_priority[p] for p in Priority),
    )


def build_report(
    records: Iterable[HistoryRecord],
    period: Period,
    *,
    as_of: datetime,
    tz: str = DEFAULT_TZ,
    policy: SlaPolicy = DEFAULT_POLICY,
) -> Report:
    """The report of ``period`` from ``records`` (read once; any order).

    A ticket belongs to the period holding its ``occurred_at`` in ``tz``. ``as_of`` is when
    the history was taken: a stage still running then (an unassigned ticket, an unresolved
    one) is judged by the time it had run by that moment.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    zone_info = zone(tz)
    previous = period.previous()
    windows = (
        (period, period.start(zone_info), period.end(zone_info)),
        (previous, previous.start(zone_info), previous.end(zone_info)),
    )
    kept: dict[Period, list[TicketFacts]] = {period: [], previous: []}
    for record in records:
        occurred = record.occurred_at
        for which, start, end in windows:
            if start <= occurred < end:
                day = which.day_index(occurred, zone_info)
                assert day is not None  # inside [start, end) means inside the period's days
                kept[which].append(facts_of(record, day, policy, as_of))
                break
    current = _figures(period, kept[period])
    return Report(
        period=period,
        tz=tz,
        as_of=as_of,
        current=current,
        previous=_figures(previous, kept[previous]),
        tables=build_tables(in_total(kept[period])),
    )
