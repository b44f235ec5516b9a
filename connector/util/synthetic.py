"""Realistic, reproducible alert streams (replay format) for the benchmark, tests and trials.

A stream is a night of a monitoring system: problems start on hosts (a trigger kind on a host
is one fingerprint), flap (a new event of the same trigger: a duplicate or a storm), are sent
again (the same event twice: an exact repeat), and recover. ``repeat_ratio`` of the lines are
repeats of a problem already active. The same seed gives the same stream.
"""

from __future__ import annotations

__all__ = ["TRIGGERS", "alert_stream"]

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

#: trigger kinds: title template (``{host}``, ``{n}`` a number that changes per event), severity
TRIGGERS: tuple[tuple[str, int], ...] = (
    ("Interface Gi1/0/{port} down on {host}", 5),
    ("ICMP ping loss {n}% on {host}", 4),
    ("CPU utilization {n}% for 15m on {host}", 3),
    ("Disk /var used {n}% on {host}", 2),
    ("MySQL replication lag {n}s on {host}", 4),
    ("HTTP check failed: login page returns 502 on {host}", 4),
    ("Nightly backup job failed on {host}", 3),
    ("Oracle tablespace USERS {n}% on {host}", 3),
    ("Mail queue {n} messages on {host}", 3),
    ("Certificate expires in {n} days on {host}", 2),
    ("Service heartbeat lost for {n} minutes on {host}", 5),
    ("Memory usage {n}% on {host}", 3),
    ("Process java not running on {host}", 4),
    ("NTP offset {n} ms on {host}", 1),
    ("Response time {n} s for tile service on {host}", 3),
)
_GROUPS = (
    ("afc", ["Metro/AFC", "Linux servers"], "票务管理系统"),
    ("erp", ["Metro/ERP", "Linux servers"], "财务管理系统"),
    ("core-sw", ["Metro/Network core"], "网络"),
    ("station-gw", ["Metro/Stations"], "车站收益系统"),
    ("oa", ["Metro/OA", "Windows servers"], "办公自动化系统(新)"),
    ("gis", ["Metro/GIS"], "GIS系统"),
    ("hr-db", ["Metro/HR", "Databases"], "人力资源管理系统"),
    ("backup", ["Metro/Storage"], "存储和备份系统"),
)


def _trigger(index: int) -> tuple[str, int]:
    base, severity = TRIGGERS[index % len(TRIGGERS)]
    variant = index // len(TRIGGERS)
    return (base if variant == 0 else f"{base} (check {variant})"), severity


def alert_stream(
    count: int,
    *,
    hosts: int = 200,
    triggers: int = 50,
    repeat_ratio: float = 0.7,
    exact_repeat_share: float = 0.1,
    recovery_share: float = 0.25,
    seed: int = 1,
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC),
    mean_gap_seconds: float = 2.0,
    source: str = "zabbix",
) -> Iterator[dict[str, Any]]:
    """``count`` replay lines (dicts). Of the lines, about ``repeat_ratio`` repeat an active
    problem, mostly one of the last to start (storms are recent) — of those
    ``exact_repeat_share`` send an event again, ``recovery_share`` recover it, the rest are new
    events of the same trigger (flaps)."""
    rng = random.Random(seed)
    now = start
    next_event = 1
    active: dict[tuple[int, int], list[dict[str, Any]]] = {}  # (host, trigger) -> events
    active_keys: list[tuple[int, int]] = []
    emitted = 0
    while emitted < count:
        now += timedelta(seconds=rng.expovariate(1.0 / mean_gap_seconds))
        if active_keys and rng.random() < repeat_ratio:
            # storms are recent: a repeat mostly hits one of the last problems to start
            index = max(0, len(active_keys) - 1 - int(rng.expovariate(1.0 / 25)))
            problem = active_keys[index]
            events = active[problem]
            roll = rng.random()
            if roll < exact_repeat_share:
                emitted += 1
                yield dict(rng.choice(events))
                continue
            if roll < exact_repeat_share + recovery_share:
                # the fault is over: every event Zabbix raised for it recovers
                for event in events[: count - emitted]:
                    emitted += 1
                    yield {**event, "recovered_at": now.isoformat()}
                del active[problem]
                active_keys.pop(index)
                continue
            host, trig = problem
        else:
            host, trig = rng.randrange(hosts), rng.randrange(triggers)
        line = _event(host, trig, next_event, now, rng, source)
        next_event += 1
        key = (host, trig)
        if key not in active:
            active[key] = []
            active_keys.append(key)
        active[key].append(line)
        emitted += 1
        yield line


def _event(host: int, trig: int, eventid: int, now: datetime, rng: random.Random, source: str) -> dict[str, Any]:
    prefix, groups, service = _GROUPS[host % len(_GROUPS)]
    name = f"{prefix}-{host:03d}"
    template, severity = _trigger(trig)
    title = template.format(host=name, n=rng.randint(50, 999), port=host % 48 + 1)
    return {
        "source": source,
        "external_id": str(eventid),
        "title": title,
        "ci": name,
        "host_groups": groups,
        "tags": {"service": service, "trigger": str(trig)},
        "severity": severity,
        "service": service,
        "occurred_at": now.isoformat(),
    }
