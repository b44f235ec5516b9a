"""The eight report tables of PROCESS §14 (seed §3.4, 事件流程管理相关报表), as plain data.

Every table is built from the tickets in the total (duplicates already dropped) by calling
the KPI functions of ``connector.kpi.kpis`` on subsets, so a cell means exactly what the KPI
of the same name means. Text cells are the tickets' own strings (user, CI, category, staff
name) — data to be escaped by whoever renders them; ``None`` is "not given".

Rows are sorted by their count (largest first), then by name, with "not given" last; the
``total`` row is the column sums (or the headline KPI, for rates and means).
"""

from __future__ import annotations

__all__ = ["Cell", "Column", "Table", "build_tables"]

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Literal

from connector.domain.models import Priority
from connector.kpi.facts import TicketFacts
from connector.kpi.kpis import (
    Share,
    StaffKpis,
    kpi_first_line_resolution,
    kpi_mean_resolution_minutes,
    kpi_mean_response_minutes,
    kpi_second_line_resolution,
    kpi_staff,
    kpi_third_party_mean_resolution_minutes,
    late_resolutions,
    late_responses,
)

Cell = str | int | float | None
Tickets = Sequence[TicketFacts]


@dataclass(frozen=True)
class Column:
    """A column: its key in the JSON rows, its labels, and how its values are shown."""

    key: str
    zh: str
    en: str
    kind: Literal["text", "count", "ratio", "minutes"]

    def label(self, lang: str) -> str:
        """The header in ``lang``, on one line (CSV, JSON)."""
        return "".join(self.lines(lang)) if lang == "zh" else " ".join(self.lines(lang))

    def lines(self, lang: str) -> list[str]:
        """The header split where it may wrap on a narrow screen (written ``\n`` in the label)."""
        return (self.zh if lang == "zh" else self.en).split("\n")


@dataclass(frozen=True)
class Table:
    """One report: numbered as in the seed, with rows and an optional total row.

    ``grouped``: the rows are (group, item, count) and read best grouped by the first column
    (reports 2 and 3, user × device and user × category).
    """

    number: int
    key: str
    zh: str
    en: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total: tuple[Cell, ...] | None
    grouped: bool = False

    def title(self, lang: str) -> str:
        """The table's title in ``lang``."""
        return self.zh if lang == "zh" else self.en


_USER = Column("user", "用户", "User", "text")
_PRIORITY_COLUMNS = tuple(Column(f"p{int(p)}", f"P{int(p)}", f"P{int(p)}", "count") for p in Priority)
_COUNT = Column("count", "数量", "Count", "count")
_TOTAL = Column("total", "合计", "Total", "count")


def _order(name: str | None) -> tuple[bool, str]:
    return (name is None, name or "")


def _by(tickets: Tickets, key: Callable[[TicketFacts], str | None]) -> dict[str | None, list[TicketFacts]]:
    groups: dict[str | None, list[TicketFacts]] = defaultdict(list)
    for f in tickets:
        groups[key(f)].append(f)
    return groups


def _split_by_priority(tickets: Tickets) -> list[list[TicketFacts]]:
    """The tickets of priority 1, 2, 3, 4 (indexed by the number: hashing an enum is a Python call)."""
    groups: list[list[TicketFacts]] = [[], [], [], []]
    for f in tickets:
        groups[f.priority - 1].append(f)
    return groups


@dataclass(frozen=True)
class _Split:
    """The total split once by user and by priority, which reports 1–6 all break down by."""

    tickets: Tickets
    by_user: dict[str | None, list[TicketFacts]]
    by_user_priority: dict[str | None, list[list[TicketFacts]]]
    by_priority: list[list[TicketFacts]]

    @classmethod
    def of(cls, tickets: Tickets) -> _Split:
        by_user = _by(tickets, attrgetter("reporter"))
        return cls(
            tickets,
            by_user,
            {user: _split_by_priority(group) for user, group in by_user.items()},
            _split_by_priority(tickets),
        )


def _by_priority_table(
    number: int, key: str, zh: str, en: str, split: _Split, count: Callable[[Tickets], int]
) -> Table:
    """A user × priority table of ``count`` (reports 1, 4, 5); users with nothing to count are left out."""
    counted: list[tuple[str | None, list[int]]] = []
    for user, groups in split.by_user_priority.items():
        cells = [count(group) for group in groups]
        if sum(cells):
            counted.append((user, cells))
    counted.sort(key=lambda item: (-sum(item[1]), _order(item[0])))
    rows = tuple((user, *cells, sum(cells)) for user, cells in counted)
    totals = [count(group) for group in split.by_priority]
    return Table(
        number,
        key,
        zh,
        en,
        (_USER, *_PRIORITY_COLUMNS, _TOTAL),
        rows,
        ("", *totals, sum(totals)),
    )


def _pairs_table(
    number: int, key: str, zh: str, en: str, second: Column, split: _Split, value: Callable[[TicketFacts], str | None]
) -> Table:
    """A user × ``second`` count in long form (one row per pair), grouped by user, biggest first."""
    users = split.by_user
    rows: list[tuple[Cell, ...]] = []
    for user in sorted(users, key=lambda u: (-len(users[u]), _order(u))):
        items = _by(users[user], value)
        for item in sorted(items, key=lambda i: (-len(items[i]), _order(i))):
            rows.append((user, item, len(items[item])))
    total = ("", "", len(split.tickets))
    return Table(number, key, zh, en, (_USER, second, _COUNT), tuple(rows), total, grouped=True)


def _report_by_priority_means(split: _Split) -> Table:
    """Report 6: mean response / resolution times per priority (KPIs 7, 8, 9 per priority)."""
    tickets = split.tickets
    rows = []
    for p, group in zip(Priority, split.by_priority, strict=True):
        rows.append(
            (
                f"P{int(p)}",
                len(group),
                kpi_mean_response_minutes(group),
                kpi_mean_resolution_minutes(group),
                kpi_third_party_mean_resolution_minutes(group),
            )
        )
    total = (
        "",
        len(tickets),
        kpi_mean_response_minutes(tickets),
        kpi_mean_resolution_minutes(tickets),
        kpi_third_party_mean_resolution_minutes(tickets),
    )
    columns = (
        Column("priority", "优先级", "Priority", "text"),
        _COUNT,
        Column("mean_response_minutes", "平均响应\n(分钟)", "Mean response\n(min)", "minutes"),
        Column("mean_resolution_minutes", "平均解决\n(分钟)", "Mean resolution\n(min)", "minutes"),
        Column(
            "third_party_mean_resolution_minutes", "第三方\n平均解决\n(分钟)", "Third-party\nmean\n(min)", "minutes"
        ),
    )
    return Table(
        6,
        "mean_times_by_priority",
        "平均响应/解决时间按优先级统计",
        "Mean response/resolution time by priority",
        columns,
        tuple(rows),
        total,
    )


def _report_line_rates_by_category(tickets: Tickets) -> Table:
    """Report 7: 1st/2nd-line resolution rates per category (KPIs 10, 11 per category)."""
    per = _by(tickets, attrgetter("category"))
    rows = []
    for category in sorted(per, key=lambda c: (-len(per[c]), _order(c))):
        group = per[category]
        first, second = kpi_first_line_resolution(group), kpi_second_line_resolution(group)
        rows.append((category, len(group), first.count, first.ratio, second.count, second.ratio))
    first, second = kpi_first_line_resolution(tickets), kpi_second_line_resolution(tickets)
    columns = (
        Column("category", "事件分类", "Category", "text"),
        _COUNT,
        Column("first_line", "一线\n解决", "1st\nline", "count"),
        Column("first_line_ratio", "一线\n解决率", "1st-line\nrate", "ratio"),
        Column("second_line", "二线\n解决", "2nd\nline", "count"),
        Column("second_line_ratio", "二线\n解决率", "2nd-line\nrate", "ratio"),
    )
    total = ("", len(tickets), first.count, first.ratio, second.count, second.ratio)
    return Table(
        7,
        "line_rates_by_category",
        "一线/二线解决率按事件分类统计",
        "1st/2nd-line resolution rate by category",
        columns,
        tuple(rows),
        total,
    )


def _report_by_staff(tickets: Tickets, staff: Mapping[str, StaffKpis]) -> Table:
    """Report 8: registered / worked on / resolved per support staff member (KPIs 13, 14, 16, 17),
    from ``kpi_staff`` — computed once for the headline ``staff`` and this table."""
    total = len(tickets)
    order = sorted(staff, key=lambda n: (-(staff[n].registered + staff[n].resolved), -staff[n].worked_on, n))
    rows = [
        (name, s.registered, s.worked_on, s.resolved, s.registered_ratio, s.resolved_ratio)
        for name in order
        for s in (staff[name],)
    ]
    sum_registered = sum(s.registered for s in staff.values())
    sum_resolved = sum(s.resolved for s in staff.values())
    columns = (
        Column("staff", "支持人员", "Staff", "text"),
        Column("registered", "登记", "Registered", "count"),
        Column("worked_on", "处理", "Worked\non", "count"),
        Column("resolved", "解决", "Resolved", "count"),
        Column("registered_ratio", "登记\n比率", "Registered\nshare", "ratio"),
        Column("resolved_ratio", "解决\n比率", "Resolved\nshare", "ratio"),
    )
    footer = (
        "",
        sum_registered,
        None,
        sum_resolved,
        Share.of(sum_registered, total).ratio,
        Share.of(sum_resolved, total).ratio,
    )
    return Table(
        8,
        "by_staff",
        "事件登记/解决数量按服务支持人员统计",
        "Registered/resolved by support staff",
        columns,
        tuple(rows),
        footer,
    )


def build_tables(tickets: Tickets, staff: Mapping[str, StaffKpis] | None = None) -> tuple[Table, ...]:
    """The eight reports over the tickets in the total of one period (``staff``: the period's
    ``kpi_staff``, when the caller has it already)."""
    split = _Split.of(tickets)
    return (
        _by_priority_table(
            1, "by_user_priority", "事件数量按用户及优先级统计", "Incidents by user and priority", split, len
        ),
        _pairs_table(
            2,
            "by_user_ci",
            "事件数量按用户及设备统计",
            "Incidents by user and device",
            Column("ci", "设备", "Device (CI)", "text"),
            split,
            attrgetter("ci"),
        ),
        _pairs_table(
            3,
            "by_user_category",
            "事件数量按用户及事件分类统计",
            "Incidents by user and category",
            Column("category", "事件分类", "Category", "text"),
            split,
            attrgetter("category"),
        ),
        _by_priority_table(
            4,
            "late_responses_by_user_priority",
            "超时响应事件数量按用户及优先级统计",
            "Late responses by user and priority",
            split,
            late_responses,
        ),
        _by_priority_table(
            5,
            "late_resolutions_by_user_priority",
            "超时解决事件数量按用户及优先级统计",
            "Late resolutions by user and priority",
            split,
            late_resolutions,
        ),
        _report_by_priority_means(split),
        _report_line_rates_by_category(tickets),
        _report_by_staff(tickets, kpi_staff(tickets) if staff is None else staff),
    )
