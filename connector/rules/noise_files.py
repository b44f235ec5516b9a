"""The models of the alert-noise rule files (issue 18): ``flapping.yaml``, ``maintenance.yaml``,
``topology.yaml``.

Kept apart from ``connector.rules.files`` (which re-exports them and lists them in ``SCHEMAS``)
so each module stays one job: these files say when the connector holds back, not what a ticket
is. Loaded like every rule file: unknown keys and bad values are ``file:line`` errors.
"""

from __future__ import annotations

__all__ = [
    "FlappingFile",
    "GroupUpstreamModel",
    "MaintenanceFile",
    "StormModel",
    "TopologyFile",
    "WeeklyModel",
    "WindowModel",
]

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.domain.models import Priority


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FlappingFile(_Strict):
    """``flapping.yaml``: when one trigger's problem comes and goes too often to be new work."""

    enabled: bool = True
    #: a trigger (one fingerprint) is flapping when it changes state more than this many times…
    max_changes: int = Field(ge=1)
    #: …within this many minutes before it (one exactly that long before no longer counts)
    window_minutes: float = Field(gt=0)
    #: a flapping ticket is resolved once its last recovery has held this long (it settled)
    quiet_minutes: float = Field(gt=0)


_DAYS = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class WeeklyModel(_Strict):
    """A window that comes back every week: on ``days``, from ``start`` to ``end`` (local time
    of the file's ``timezone``); an ``end`` not after ``start`` ends the next day."""

    days: list[_DAYS] = Field(min_length=1)
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)


class WindowModel(_Strict):
    """One maintenance window: which CIs (by name or host group) and when (weekly or dated)."""

    name: str = Field(min_length=1)
    cis: list[str] = Field(default_factory=list)
    host_groups: list[str] = Field(default_factory=list)
    weekly: WeeklyModel | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> WindowModel:
        if not self.cis and not self.host_groups:
            raise ValueError(f"window {self.name!r} names no cis and no host_groups: it would hold nothing")
        dated = self.start is not None or self.end is not None
        if self.weekly is not None and dated:
            raise ValueError(f"window {self.name!r}: give either weekly or start/end, not both")
        if self.weekly is None and not dated:
            raise ValueError(f"window {self.name!r}: give weekly, or start and end")
        if dated and (self.start is None or self.end is None or self.end <= self.start):
            raise ValueError(f"window {self.name!r}: a dated window needs a start and a later end")
        return self


class MaintenanceFile(_Strict):
    """``maintenance.yaml``: planned work during which alerts open no ticket."""

    #: priorities that open their ticket even during maintenance (e.g. P1)
    open_priorities: list[Priority]
    #: the time zone of the weekly windows' times
    timezone: str = Field(min_length=1)
    windows: list[WindowModel] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai or UTC)") from None
        return value


class GroupUpstreamModel(_Strict):
    """Everything in a host group depends on these CIs."""

    host_group: str = Field(min_length=1)
    upstreams: list[str] = Field(min_length=1)


class StormModel(_Strict):
    """This many CIs with one symptom and no known upstream within ``seconds``: one storm incident."""

    min_cis: int = Field(ge=2)
    seconds: float = Field(gt=0)


class TopologyFile(_Strict):
    """``topology.yaml``: which CI's failure causes which (cause correlation)."""

    #: an alert this long after (or before) an upstream incident began is its child
    window_minutes: float = Field(gt=0)
    #: CI → the CIs it depends on (its upstreams; followed transitively)
    upstreams: dict[str, list[str]] = Field(default_factory=dict)
    groups: list[GroupUpstreamModel] = Field(default_factory=list)
    #: ``null``: no storm incidents
    storm: StormModel | None = None

    @model_validator(mode="after")
    def _not_its_own(self) -> TopologyFile:
        for ci, ups in self.upstreams.items():
            if ci in ups:
                raise ValueError(f"upstreams: {ci!r} is listed as its own upstream")
        return self
