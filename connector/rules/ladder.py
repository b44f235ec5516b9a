"""The rule data of escalation and notices: ``rules/escalation.yaml`` and ``rules/notifications.yaml``.

Both files are tables in the seed's shape (columns are roles, rows are priorities, cells are
minutes after creation), validated with ``file:line`` errors: unknown keys, roles that
``people.yaml`` does not declare (when it is loaded), channels that are not configured, and
rows whose times do not increase. Priority 4 takes priority 3's row unless it has its own
(PROCESS §4 Decision).

The escalation/SLA sweep reads them through small pure queries: ``EscalationRules.due`` and
``NotificationRules.due_timed`` say which steps a ticket has reached after ``elapsed`` time;
``channels_for``, ``status_roles``, ``sla_roles`` and ``kind_roles`` say where a notice goes.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_CHANNELS",
    "EscalationRules",
    "EscalationStep",
    "NotificationRules",
    "TimedStep",
    "default_rules_path",
    "load_escalation",
    "load_notification_rules",
]

import itertools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, ValidationInfo

from connector.domain.models import Priority
from connector.domain.notice import NoticeKind, StatusEvent
from connector.rules.sla import Stage
from connector.util.loading import known_name, load_with_context

#: the channel names the shipped rule files may use when no notify config is loaded
DEFAULT_CHANNELS = frozenset({"email", "phone", "wecom", "dingtalk"})

_ID = r"^[a-z][a-z0-9_.-]*$"
_Role = Annotated[str, Field(pattern=_ID), known_name("roles", "role")]
_Channel = Annotated[str, Field(pattern=_ID), known_name("channels", "channel")]
_REQUIRED = (Priority.HIGHEST, Priority.HIGH, Priority.MEDIUM)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _row(row: list[int | None], info: ValidationInfo) -> list[int | None]:
    """A row has one time per column of its table (``levels`` / ``roles``, validated before
    it), and its times increase."""
    columns = info.data.get("levels", info.data.get("roles"))
    if columns is not None and len(row) != len(columns):
        raise ValueError(f"{len(row)} times for {len(columns)} columns")
    times = [m for m in row if m is not None]
    for before, after in itertools.pairwise(times):
        if after <= before:
            raise ValueError(f"times must increase along the row: {after} comes after {before}")
    return row


#: a table row: minutes per column, strictly increasing, ``null`` for "not for this priority"
_Row = Annotated[list[PositiveInt | None], AfterValidator(_row)]


def _complete(rows: dict[Priority, Any]) -> dict[Priority, Any]:
    """Rows for P1–P3 are required (a missing one is almost always a mistake); P4 copies P3."""
    missing = [str(int(p)) for p in _REQUIRED if p not in rows]
    if missing:
        raise ValueError(f"no row for priority {', '.join(missing)} (a row of nulls switches one off)")
    return {**rows, Priority.LOW: rows.get(Priority.LOW, rows[Priority.MEDIUM])}


@dataclass(frozen=True)
class EscalationStep:
    """One level of the ladder for one priority."""

    level: int
    role: str
    after: timedelta  # since creation


@dataclass(frozen=True)
class TimedStep:
    """One timed notice of the §8 table for one priority."""

    role: str
    after: timedelta  # since creation


class Level(_Strict):
    """A column of the ladder: the role a level notifies."""

    role: _Role


class EscalationRules(_Strict):
    """``escalation.yaml``: the §6 ladder."""

    levels: list[Level] = Field(min_length=1)
    minutes: Annotated[dict[Priority, _Row], AfterValidator(_complete)]

    def ladder(self, priority: Priority) -> list[EscalationStep]:
        """Every level configured for ``priority``, in order."""
        row = self.minutes[priority]
        return [
            EscalationStep(number, level.role, timedelta(minutes=m))
            for number, (level, m) in enumerate(zip(self.levels, row, strict=True), start=1)
            if m is not None
        ]

    def due(self, priority: Priority, elapsed: timedelta) -> list[EscalationStep]:
        """The levels a ticket of ``priority`` has reached ``elapsed`` after creation."""
        return [step for step in self.ladder(priority) if step.after <= elapsed]


class TimedNotices(_Strict):
    """The timed-notice table: its role columns and a row of minutes per priority."""

    roles: list[_Role] = Field(min_length=1)
    minutes: Annotated[dict[Priority, _Row], AfterValidator(_complete)]


class SlaNotices(_Strict):
    """Who hears of SLA stages: every breach, and each stage's warning."""

    breach: list[_Role] = Field(min_length=1)
    warning: dict[Stage, list[_Role]] = Field(default_factory=dict)


class NotificationRules(_Strict):
    """``notifications.yaml``: channels, the timed notices, the status matrix, SLA notices."""

    channels: Annotated[dict[Priority, Annotated[list[_Channel], Field(min_length=1)]], AfterValidator(_complete)]
    kind_channels: dict[NoticeKind, Annotated[list[_Channel], Field(min_length=1)]] = Field(default_factory=dict)
    timed: TimedNotices
    status: dict[StatusEvent, list[_Role]] = Field(default_factory=dict)
    sla: SlaNotices
    reassignment: list[_Role] = Field(min_length=1)
    closing: list[_Role] = Field(default_factory=lambda: ["incident_manager"])
    outage: list[_Role] = Field(default_factory=list)
    restore: list[_Role] = Field(default_factory=list)

    def channels_for(self, kind: NoticeKind, priority: Priority) -> tuple[str, ...]:
        """The channels a notice of ``kind`` about a ticket of ``priority`` goes out on."""
        return tuple(self.kind_channels.get(kind) or self.channels[priority])

    def timed_for(self, priority: Priority) -> list[TimedStep]:
        """Every timed notice configured for ``priority``, in table order."""
        row = self.timed.minutes[priority]
        return [
            TimedStep(role, timedelta(minutes=m))
            for role, m in zip(self.timed.roles, row, strict=True)
            if m is not None
        ]

    def due_timed(self, priority: Priority, elapsed: timedelta) -> list[TimedStep]:
        """The timed notices a ticket of ``priority`` has reached ``elapsed`` after creation."""
        return [step for step in self.timed_for(priority) if step.after <= elapsed]

    def status_roles(self, event: StatusEvent) -> tuple[str, ...]:
        """Who hears of a status event (empty: no notice)."""
        return tuple(self.status.get(event, ()))

    def sla_roles(self, stage: Stage, *, breached: bool) -> tuple[str, ...]:
        """Who hears that ``stage`` is breached, or passed its warning (empty: no notice)."""
        return tuple(self.sla.breach if breached else self.sla.warning.get(stage, ()))

    def kind_roles(self, kind: NoticeKind) -> tuple[str, ...]:
        """Who hears of a reassignment alert, an outage or a restore."""
        table = {
            NoticeKind.REASSIGNMENT_ALERT: self.reassignment,
            NoticeKind.POLICY_ALERT: self.closing,
            NoticeKind.OUTAGE: self.outage,
            NoticeKind.RESTORE: self.restore,
        }
        if kind not in table:
            raise ValueError(f"the roles of a {kind} notice depend on more than its kind")
        return tuple(table[kind])


def default_rules_path(name: str) -> Path:
    """A rule file shipped with the connector (``escalation.yaml``, ``notifications.yaml``)."""
    return Path(str(resources.files("connector") / "rules" / "defaults" / name))


def _context(roles: Collection[str] | None, channels: Collection[str] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"channels": frozenset(channels) if channels is not None else DEFAULT_CHANNELS}
    if roles is not None:
        context["roles"] = frozenset(roles)
    return context


def load_escalation(path: Path | None = None, *, roles: Collection[str] | None = None) -> EscalationRules:
    """Load and validate an escalation file (default: the shipped one); raises ``ConfigError``.

    :param roles: the role ids a rule may name (``Directory.role_ids``); ``None`` when
        ``people.yaml`` is not loaded, and then only their spelling is checked.
    """
    return load_with_context(path or default_rules_path("escalation.yaml"), EscalationRules, _context(roles, None))


def load_notification_rules(
    path: Path | None = None, *, roles: Collection[str] | None = None, channels: Collection[str] | None = None
) -> NotificationRules:
    """Load and validate a notifications file (default: the shipped one); raises ``ConfigError``.

    :param roles: as for ``load_escalation``.
    :param channels: the configured channel names; ``None``: the default names
        (``DEFAULT_CHANNELS``), so a typo is caught even before channels are configured.
    """
    return load_with_context(
        path or default_rules_path("notifications.yaml"), NotificationRules, _context(roles, channels)
    )
