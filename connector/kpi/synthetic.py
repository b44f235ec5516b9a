"""A seeded generator of plausible ticket history, for the benchmark, the property tests and trying
the report without a helpdesk.

The same seed gives the same lines. The mix is shaped like a metro operator's month: mostly
monitoring alerts, some storms with duplicates, one ticket in seven handed to a third party,
late and on-time stages in both directions, suspensions, every closure code and status.
Nothing here reads the clock: the period and the seed say everything.
"""

from __future__ import annotations

__all__ = ["generate_history"]

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.kpi.periods import Period, zone

_DEPARTMENTS = [
    "运营一部",
    "运营二部",
    "调度中心",
    "票务中心",
    "车辆段",
    "信号部",
    "供电部",
    "财务部",
    "人力资源部",
    "客服中心",
    "安保部",
    "工务部",
    "通信部",
    "信息中心",
    "总经办",
    "Line 3 Control Room",
    "Depot North / Maintenance Planning",
]
_STAFF = ["张伟", "王芳", "李娜", "刘洋", "陈杰", "杨静", "赵磊", "黄敏", "周涛", "吴婷", "Zhao Min", "Li Qiang"]
_VENDORS = ["华为技术服务", "浪潮运维", "Oracle Support"]
_CATEGORIES = [
    "应用系统/AFC 自动售检票",
    "应用系统/OA 办公",
    "应用系统/ERP",
    "应用系统/乘客信息系统 PIS",
    "桌面终端",
    "服务器",
    "存储和备份系统",
    "网络",
    "其他",
]
_STATUSES = [
    ("closed", 70),
    ("resolved", 12),
    ("in_progress", 8),
    ("open", 4),
    ("suspended", 3),
    ("pending_change", 3),
]
_MATRIX = {  # urgency -> impact -> priority (PROCESS §4)
    1: {1: 1, 2: 2, 3: 2, 4: 3},
    2: {1: 2, 2: 2, 3: 3, 4: 3},
    3: {1: 2, 2: 3, 3: 3, 4: 4},
    4: {1: 3, 2: 3, 3: 4, 4: 4},
}


def _pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _minutes(rng: random.Random, mean: float) -> timedelta:
    return timedelta(minutes=rng.expovariate(1 / mean))


def generate_history(
    count: int, period: Period, *, tz: str = "Asia/Shanghai", seed: int = 7
) -> Iterator[dict[str, Any]]:
    """``count`` history records (JSON-ready dicts) that occurred in ``period``, ids ``G1``…"""
    rng = random.Random(seed)
    zone_info = zone(tz)
    start = period.start(zone_info).astimezone(UTC)  # arithmetic in UTC: a local day may have 23 hours
    span = (period.end(zone_info).astimezone(UTC) - start).total_seconds()
    cis = [f"{kind}-{n:03d}" for kind in ("core-sw", "afc-gate", "srv", "ups", "pis-screen") for n in range(60)]
    cis.append("core-switch-01.datacenter-a.metro.example")
    recent: list[str] = []
    for number in range(1, count + 1):
        ticket_id = f"G{number}"
        occurred = start + timedelta(seconds=rng.random() * span * 0.999)
        impact, urgency = rng.choice([1, 2, 2, 3, 3, 3, 4, 4]), rng.choice([1, 2, 2, 3, 3, 3, 4])
        source = _pick(rng, [("monitoring", 60), ("user_report", 35), ("inspection", 5)])
        registered = occurred + _minutes(rng, 1.5 if source == "monitoring" else 12)
        status = _pick(rng, _STATUSES)
        assigned = registered + _minutes(rng, 9) if status != "open" or rng.random() < 0.3 else None
        accepted = assigned + _minutes(rng, 12) if assigned is not None and status != "open" else None
        suspensions: list[list[datetime | None]] = []
        if status == "suspended":
            pause_start = (accepted or registered) + _minutes(rng, 20)
            suspensions.append([pause_start, None])
        elif rng.random() < 0.05:
            pause_start = (accepted or registered) + _minutes(rng, 10)
            suspensions.append([pause_start, pause_start + _minutes(rng, 240)])
        done = status in ("resolved", "closed")
        role = resolver = third_party = resolved = closed = closure = None
        if done:
            role = _pick(rng, [("first_line", 45), ("second_line", 40), ("third_party", 15)])
            base = accepted or assigned or registered
            if role == "third_party":
                third_party = base + _minutes(rng, 30)
                resolved = third_party + _minutes(rng, 600)
                resolver = rng.choice(_VENDORS)
            else:
                resolved = base + _minutes(rng, 60 if role == "first_line" else 150)
                resolver = rng.choice(_STAFF)
            for pause in suspensions:  # resolved after any pause
                end = pause[1]
                if end is not None and resolved < end:
                    resolved = end + _minutes(rng, 30)
            if status == "closed":
                closed = resolved + _minutes(rng, 600)
                closure = _pick(rng, [("success", 80), ("success_with_problem", 12), ("not_completed", 8)])
        elif rng.random() < 0.1:
            third_party = registered + _minutes(rng, 60)
        duplicate_of = rng.choice(recent) if recent and rng.random() < 0.06 else None
        registrar = rng.choice(_STAFF) if source != "monitoring" or rng.random() < 0.5 else "itsm-connector"
        worklog = sorted(set(rng.sample(_STAFF, rng.randint(0, 3))) | ({resolver} if resolver in _STAFF else set()))
        record: dict[str, Any] = {
            "id": ticket_id,
            "title": f"告警 {number}: {rng.choice(['端口 down', '磁盘空间不足', '闸机通信中断', 'CPU 过高'])}",
            "source": source,
            "reporter": rng.choice(_DEPARTMENTS) if rng.random() > 0.03 else None,
            "registrar": registrar,
            "ci": rng.choice(cis) if rng.random() > 0.05 else None,
            "category": rng.choice(_CATEGORIES) if rng.random() > 0.04 else None,
            "impact": impact,
            "urgency": urgency,
            "priority": _MATRIX[urgency][impact],
            "duplicate_of": duplicate_of,
            "occurred_at": occurred,
            "registered_at": registered,
            "assigned_at": assigned,
            "accepted_at": accepted,
            "resolved_at": resolved,
            "closed_at": closed,
            "third_party_at": third_party,
            "status": status,
            "closure_code": closure,
            "resolver": resolver,
            "resolver_role": role,
            "kb_used": done and rng.random() < 0.25,
            "worklog_staff": worklog,
            "suspensions": suspensions,
        }
        recent = ([*recent, ticket_id])[-50:]
        yield {k: _iso(v) for k, v in record.items()}


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value
