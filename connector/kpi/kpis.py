"""The 17 KPIs of the incident process (seed §3.4, PROCESS §14), as pure functions.

Every function here takes the tickets *in the total* of a period — ``in_total`` (KPI 1) has
already dropped the duplicates — and returns a number; no I/O, no clock. Each KPI's
definition is written once, in its function's docstring, quoting the seed's formula. The
report tables call the same functions on subsets (one priority, one category), so a table cell
and a headline KPI can never disagree about what they count.

Ratios are fractions 0–1 of the total (the seed's "× 100 %" is left to the display); a ratio
of an empty total and a mean over an empty set are ``None``, shown as "—", never as 0.
"""

from __future__ import annotations

__all__ = [
    "KPI_DEFS",
    "KpiDef",
    "KpiSet",
    "Share",
    "StaffKpis",
    "compute_kpis",
    "in_total",
    "kpi_closed",
    "kpi_closed_success",
    "kpi_escalated_to_problem",
    "kpi_first_line_resolution",
    "kpi_kb_use",
    "kpi_major",
    "kpi_mean_resolution_minutes",
    "kpi_mean_resolution_wall_minutes",
    "kpi_mean_response_minutes",
    "kpi_resolved_in_time",
    "kpi_responded_in_time",
    "kpi_second_line_resolution",
    "kpi_staff",
    "kpi_third_party_mean_resolution_minutes",
    "kpi_total",
    "late_resolutions",
    "late_responses",
    "staff_registered",
    "staff_resolved",
    "staff_worked_on",
]

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Literal

from connector.domain.models import ClosureCode, Priority, ResolverRole, TicketStatus
from connector.kpi.facts import TicketFacts

Tickets = Sequence[TicketFacts]


@dataclass(frozen=True)
class Share:
    """A count within the total and its ratio (``None`` when the total is empty)."""

    count: int
    ratio: float | None

    @classmethod
    def of(cls, count: int, total: int) -> Share:
        """``count`` out of ``total``."""
        return cls(count, count / total if total else None)


def _mean(values: Iterable[float | None]) -> float | None:
    """The mean, summed with ``math.fsum``: exact, so the order of the tickets cannot move it."""
    kept = [v for v in values if v is not None]
    return math.fsum(kept) / len(kept) if kept else None


# --- KPI 1 -----------------------------------------------------------------------------------


def in_total(facts: Iterable[TicketFacts]) -> list[TicketFacts]:
    """KPI 1's filter, which every other KPI is taken within (seed §3.4 row 1, 事件总数):
    【重复事件标记】为空 (not a duplicate) and 【事件发生时间】在统计周期内 (occurred in the period —
    the caller passes only the period's tickets)."""
    return [f for f in facts if not f.duplicate]


def kpi_total(tickets: Tickets) -> int:
    """KPI 1 事件总数, total incidents: the tickets ``in_total``."""
    return len(tickets)


# --- KPIs 2–6: counts and ratios of the total --------------------------------------------------


def kpi_closed(tickets: Tickets) -> Share:
    """KPI 2 事件关闭的数量/比率 (§3.4 row 2): 【事件状态】='关闭' (status closed); ratio of the total."""
    return Share.of(sum(1 for f in tickets if f.status is TicketStatus.CLOSED), len(tickets))


def kpi_verified(tickets: Tickets) -> Share:
    """The verified ratio (seed §3.1.3.10.2: the duty-group leader verifies closed records): the
    closed records a leader verified, out of the closed ones — not a numbered KPI of §3.4."""
    closed = [f for f in tickets if f.status is TicketStatus.CLOSED]
    return Share.of(sum(1 for f in closed if f.verified), len(closed))


def kpi_closed_success(tickets: Tickets) -> Share:
    """KPI 3 事件成功关闭的数量/比率 (§3.4 row 3): 【事件结束代码】='成功' (closure code success)."""
    return Share.of(sum(1 for f in tickets if f.closure_code is ClosureCode.SUCCESS), len(tickets))


def kpi_escalated_to_problem(tickets: Tickets) -> Share:
    """KPI 4 升级到问题的数量/比例 (§3.4 row 4): 【事件结束代码】='成功但有问题' (closure code
    success_with_problem: the closure that raises a problem record, PROCESS §12)."""
    return Share.of(sum(1 for f in tickets if f.closure_code is ClosureCode.SUCCESS_WITH_PROBLEM), len(tickets))


def late_resolutions(tickets: Tickets) -> int:
    """Tickets whose resolution is overdue (【事件解决是否超时】='超时'): reports 5 and KPI 5."""
    return sum(1 for f in tickets if f.resolution_late)


def late_responses(tickets: Tickets) -> int:
    """Tickets whose response is overdue (【事件响应是否超时】='超时'): report 4 and KPI 6."""
    return sum(1 for f in tickets if f.response_late)


def kpi_resolved_in_time(tickets: Tickets) -> Share:
    """KPI 5 规定时间内解决的事件数量/比率 (§3.4 row 5): 【事件解决是否超时】='未超时' and
    【事件结束代码】='成功' — resolution not overdue *and* closure code success."""
    count = sum(1 for f in tickets if not f.resolution_late and f.closure_code is ClosureCode.SUCCESS)
    return Share.of(count, len(tickets))


def kpi_responded_in_time(tickets: Tickets) -> Share:
    """KPI 6 规定时间内响应的事件数量/比率 (§3.4 row 6): 【事件响应是否超时】='未超时' (response not
    overdue; a ticket not yet assigned whose response target has not passed is not overdue)."""
    return Share.of(len(tickets) - late_responses(tickets), len(tickets))


# --- KPIs 7–9: mean times ----------------------------------------------------------------------


def kpi_mean_response_minutes(tickets: Tickets) -> float | None:
    """KPI 7 平均响应时间 (§3.4 row 7): Σ(【事件登记时间】 − 【事件发生时间】) / 事件总数 —
    registered − occurred, over every ticket of the total, in minutes."""
    return _mean(f.response_minutes for f in tickets)


def kpi_mean_resolution_minutes(tickets: Tickets) -> float | None:
    """KPI 8 平均解决时间 (§3.4 row 8): over the tickets with 【事件状态】='已解决' or '关闭' and
    【事件解决人角色】='一线' or '二线' (resolved/closed, solved by the 1st or 2nd line),
    Σ(【事件解决时间】 − 【事件登记时间】) / their number, in minutes; suspended time is left out
    unless the SLA policy counts it (PROCESS §5)."""
    lines = (ResolverRole.FIRST_LINE, ResolverRole.SECOND_LINE)
    return _mean(f.resolution_minutes for f in tickets if f.done and f.resolver_role in lines)


def kpi_mean_resolution_wall_minutes(tickets: Tickets) -> float | None:
    """KPI 8 as the seed writes it (§3.4 row 8): the same tickets as ``kpi_mean_resolution_minutes``,
    Σ(【事件解决时间】 − 【事件登记时间】) / their number in wall time — suspended time included.
    The SLA-adjusted mean (suspensions left out, PROCESS §5) stays ``mean_resolution_minutes``,
    labelled as such."""
    lines = (ResolverRole.FIRST_LINE, ResolverRole.SECOND_LINE)
    return _mean(f.resolution_wall_minutes for f in tickets if f.done and f.resolver_role in lines)


def kpi_third_party_mean_resolution_minutes(tickets: Tickets) -> float | None:
    """KPI 9 第三方平均解决时间 (§3.4 row 9): over the tickets resolved/closed with
    【事件解决人角色】='3/n' (a third party), Σ(【事件解决时间】 − 【转至第三方时间】) / their
    number — handed to the third party → resolved, in minutes, suspensions left out."""
    return _mean(f.third_party_minutes for f in tickets if f.done and f.resolver_role is ResolverRole.THIRD_PARTY)


# --- KPIs 10–12, 15: ratios of the total -------------------------------------------------------


def kpi_first_line_resolution(tickets: Tickets) -> Share:
    """KPI 10 一线解决率 (§3.4 row 10): 【事件解决人】='一线' — resolved/closed by the 1st line."""
    count = sum(1 for f in tickets if f.done and f.resolver_role is ResolverRole.FIRST_LINE)
    return Share.of(count, len(tickets))


def kpi_second_line_resolution(tickets: Tickets) -> Share:
    """KPI 11 二线解决率 (§3.4 row 11): 【事件解决人】='二线' — resolved/closed by the 2nd line."""
    count = sum(1 for f in tickets if f.done and f.resolver_role is ResolverRole.SECOND_LINE)
    return Share.of(count, len(tickets))


def kpi_major(tickets: Tickets) -> Share:
    """KPI 12 重大事件数量/比率 (§3.4 row 12): 【事件优先级】='1' or '2'."""
    count = sum(1 for f in tickets if f.priority in (Priority.HIGHEST, Priority.HIGH))
    return Share.of(count, len(tickets))


def kpi_kb_use(tickets: Tickets) -> Share:
    """KPI 15 知识库利用率 (§3.4 row 15): 解决问题,获取知识库的数量 — tickets whose solution used
    the knowledge base (``kb_used``); ratio of the total."""
    return Share.of(sum(1 for f in tickets if f.kb_used), len(tickets))


# --- KPIs 13, 14, 16, 17: per staff member -----------------------------------------------------


def staff_registered(tickets: Tickets) -> Counter[str]:
    """KPI 13 员工月度发起事件数量 (§3.4 row 13): the total 按【事件登记人】分类 — per registrar."""
    return Counter(f.registrar for f in tickets if f.registrar is not None)


def staff_worked_on(tickets: Tickets) -> Counter[str]:
    """KPI 14 员工月度处理事件数量 (§3.4 row 14): the total 按【事件工作日志】包含%员工名称% — per
    name appearing in the ticket's work log (a ticket counts once per name)."""
    return Counter(chain.from_iterable(f.worklog_staff for f in tickets))


def staff_resolved(tickets: Tickets) -> Counter[str]:
    """KPI 17's count (§3.4 row 17, 员工月度解决事件比率): resolved/closed tickets per resolver
    (the seed writes 【事件解决人角色】=%员工名称%; the field that names a person is the resolver)."""
    return Counter(f.resolver for f in tickets if f.done and f.resolver is not None)


@dataclass(frozen=True)
class StaffKpis:
    """One staff member's KPIs 13, 14, 16, 17 (ratios of the service group's total)."""

    registered: int
    worked_on: int
    resolved: int
    registered_ratio: float | None
    resolved_ratio: float | None


def kpi_staff(tickets: Tickets) -> dict[str, StaffKpis]:
    """KPIs 13, 14, 16 and 17 for every name that registered, worked on or resolved a ticket.

    KPI 16 员工月度发起事件比率 = registered / 服务组事件总量 (the total); KPI 17 员工月度解决事件比率
    = resolved / the total. Sorted by name, so the output is stable.
    """
    registered, worked, resolved = staff_registered(tickets), staff_worked_on(tickets), staff_resolved(tickets)
    total = len(tickets)
    names = sorted(set(registered) | set(worked) | set(resolved))
    return {
        name: StaffKpis(
            registered=registered[name],
            worked_on=worked[name],
            resolved=resolved[name],
            registered_ratio=Share.of(registered[name], total).ratio,
            resolved_ratio=Share.of(resolved[name], total).ratio,
        )
        for name in names
    }


# --- all of them -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiSet:
    """The KPIs of one period, under the names the JSON report uses."""

    total: int
    closed: Share
    closed_success: Share
    escalated_to_problem: Share
    resolved_in_time: Share
    responded_in_time: Share
    mean_response_minutes: float | None
    mean_resolution_minutes: float | None
    third_party_mean_resolution_minutes: float | None
    first_line_resolution: Share
    second_line_resolution: Share
    major: Share
    kb_use: Share
    staff: dict[str, StaffKpis]
    mean_resolution_wall_minutes: float | None = None  # KPI 8 as the seed writes it (wall time)
    verified: Share = Share(0, None)  # closed records verified by a duty-group leader, of the closed


def compute_kpis(facts: Iterable[TicketFacts]) -> KpiSet:
    """Every KPI over the tickets of one period (duplicates included; ``in_total`` drops them)."""
    tickets = in_total(facts)
    return KpiSet(
        total=kpi_total(tickets),
        closed=kpi_closed(tickets),
        closed_success=kpi_closed_success(tickets),
        escalated_to_problem=kpi_escalated_to_problem(tickets),
        resolved_in_time=kpi_resolved_in_time(tickets),
        responded_in_time=kpi_responded_in_time(tickets),
        mean_response_minutes=kpi_mean_response_minutes(tickets),
        mean_resolution_minutes=kpi_mean_resolution_minutes(tickets),
        third_party_mean_resolution_minutes=kpi_third_party_mean_resolution_minutes(tickets),
        first_line_resolution=kpi_first_line_resolution(tickets),
        second_line_resolution=kpi_second_line_resolution(tickets),
        major=kpi_major(tickets),
        kb_use=kpi_kb_use(tickets),
        staff=kpi_staff(tickets),
        mean_resolution_wall_minutes=kpi_mean_resolution_wall_minutes(tickets),
        verified=kpi_verified(tickets),
    )


@dataclass(frozen=True)
class KpiDef:
    """How a headline KPI is shown: its number in the seed, labels, kind, and which way is better
    (+1 higher, −1 lower, 0 neither) for the trend arrow's colour."""

    key: str
    number: int
    zh: str
    en: str
    kind: Literal["count", "share", "minutes"]
    better: Literal[-1, 0, 1]

    def label(self, lang: str) -> str:
        """The label in ``lang``."""
        return self.zh if lang == "zh" else self.en


#: the headline KPIs in the seed's order (13, 14, 16, 17 are per staff: report 8)
KPI_DEFS: tuple[KpiDef, ...] = (
    KpiDef("total", 1, "事件总数", "Total incidents", "count", 0),
    KpiDef("closed", 2, "已关闭", "Closed", "share", 1),
    KpiDef("closed_success", 3, "成功关闭", "Closed successfully", "share", 1),
    KpiDef("escalated_to_problem", 4, "升级到问题", "Escalated to problem", "share", 0),
    KpiDef("resolved_in_time", 5, "规定时间内解决", "Resolved within target", "share", 1),
    KpiDef("responded_in_time", 6, "规定时间内响应", "Responded within target", "share", 1),
    KpiDef("mean_response_minutes", 7, "平均响应时间", "Mean response time", "minutes", -1),
    KpiDef("mean_resolution_wall_minutes", 8, "平均解决时间", "Mean resolution time", "minutes", -1),
    KpiDef(
        "third_party_mean_resolution_minutes", 9, "第三方平均解决时间", "Third-party mean resolution", "minutes", -1
    ),
    KpiDef("first_line_resolution", 10, "一线解决率", "First-line resolution", "share", 1),
    KpiDef("second_line_resolution", 11, "二线解决率", "Second-line resolution", "share", 0),
    KpiDef("major", 12, "重大事件(P1/P2)", "Major incidents (P1/P2)", "share", -1),
    KpiDef("kb_use", 15, "知识库利用率", "Knowledge-base use", "share", 1),
    # KPI 8 with suspended time left out, as the SLA counts it: its own labelled row (the JSON key
    # it always had)
    KpiDef(
        "mean_resolution_minutes",
        8,
        "平均解决时间(扣除暂停, SLA口径)",
        "Mean resolution time, SLA-adjusted (suspended time left out)",
        "minutes",
        -1,
    ),
    # not a §3.4 KPI: the closed records a duty-group leader verified (§3.1.3.10.2), of the closed
    KpiDef("verified", 0, "已核查(值班组长)", "Closed records verified by the duty-group leader", "share", 1),
)
