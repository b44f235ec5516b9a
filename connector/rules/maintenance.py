"""Maintenance (``maintenance.yaml``, issue 18 item 2): is this alert in planned work?

Pure: an alert and the moment it is decided in; the window that holds it and when that window
ends out. The source's own word comes first (``Alert.maintenance``: a Zabbix event suppressed by
a maintenance period, with ``maintenance_until`` when Zabbix says when it ends); then the rule
book's windows, weekly (local time of the file's ``timezone``; an end not after the start ends
the next day) or dated, matched by CI name or host group. Correlation turns a hold into
``Action.SUPPRESSED`` unless the draft's priority is one of ``open_priorities``.
"""

from __future__ import annotations

__all__ = ["Hold", "MaintenancePolicy", "Window", "build_maintenance"]

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connector.domain.models import Alert, Priority
from connector.rules.noise_files import MaintenanceFile

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Hold:
    """Why an alert is held: the window's name, and when it ends (``None``: not known)."""

    window: str
    until: datetime | None


@dataclass(frozen=True)
class Window:
    """One window of ``maintenance.yaml``, ready to test."""

    name: str
    cis: frozenset[str]
    host_groups: frozenset[str]
    days: frozenset[int] = frozenset()  # weekly: weekday numbers (Monday 0)
    start_time: time | None = None
    end_time: time | None = None
    start: datetime | None = None  # dated
    end: datetime | None = None

    def holds(self, alert: Alert) -> bool:
        """Whether the window covers the alert's CI (by name or host group)."""
        return (alert.ci is not None and alert.ci in self.cis) or bool(self.host_groups.intersection(alert.host_groups))

    def end_if_open(self, at: datetime, zone: ZoneInfo) -> datetime | None:
        """When the occurrence of the window that contains ``at`` ends (UTC), or ``None`` (closed)."""
        if self.start is not None and self.end is not None:
            return self.end.astimezone(UTC) if self.start <= at < self.end else None
        assert self.start_time is not None and self.end_time is not None
        local = at.astimezone(zone)
        for back in (0, 1):  # today's occurrence, or yesterday's running past midnight
            day: date = local.date() - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            opens = datetime.combine(day, self.start_time, zone)
            closes_on = day + timedelta(days=1) if self.end_time <= self.start_time else day
            closes = datetime.combine(closes_on, self.end_time, zone)
            if opens <= local < closes:
                return closes.astimezone(UTC)
        return None


@dataclass(frozen=True)
class MaintenancePolicy:
    """``maintenance.yaml`` ready to apply."""

    open_priorities: frozenset[Priority]
    zone: ZoneInfo
    windows: tuple[Window, ...] = ()

    def hold(self, alert: Alert, at: datetime) -> Hold | None:
        """The maintenance that holds ``alert`` decided at ``at``, or ``None``."""
        if alert.maintenance:
            return Hold("the source's maintenance period", alert.maintenance_until)
        for window in self.windows:
            if window.holds(alert):
                end = window.end_if_open(at, self.zone)
                if end is not None:
                    return Hold(window.name, end)
        return None


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def build_maintenance(model: MaintenanceFile) -> MaintenancePolicy:
    """The windows of ``maintenance.yaml``, compiled."""
    windows = []
    for w in model.windows:
        weekly = w.weekly
        windows.append(
            Window(
                name=w.name,
                cis=frozenset(w.cis),
                host_groups=frozenset(w.host_groups),
                days=frozenset(_WEEKDAYS.index(d) for d in weekly.days) if weekly else frozenset(),
                start_time=_clock(weekly.start) if weekly else None,
                end_time=_clock(weekly.end) if weekly else None,
                start=w.start,
                end=w.end,
            )
        )
    return MaintenancePolicy(frozenset(model.open_priorities), ZoneInfo(model.timezone), tuple(windows))
