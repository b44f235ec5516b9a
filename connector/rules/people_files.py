"""The shapes of the two rule files about people: ``lifecycle.yaml`` (who may close or verify a
ticket, how many reassignments escalate) and ``replies.yaml`` (what the connector answers by mail).

Pydantic models at the boundary, like the other rule files (``connector.rules.files`` lists them
all in ``SCHEMAS``); role names are checked against ``people.yaml`` when the validation context
has its roles.
"""

from __future__ import annotations

__all__ = [
    "REPLY_PLACEHOLDERS",
    "AdoptionModel",
    "CalendarModel",
    "ClosingModel",
    "ConfirmationModel",
    "LifecycleFile",
    "ReassignmentModel",
    "RejectionModel",
    "RepliesFile",
    "ReplyText",
    "VerificationModel",
]

import re
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.domain.models import ClosureCode
from connector.rules.calendar import WEEKDAYS, ClosingWait, WorkingCalendar
from connector.util.loading import known_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- lifecycle.yaml ------------------------------------------------------------------------------

_RoleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$"), known_name("roles", "role")]


class ReassignmentModel(_Strict):
    """When cross-group reassignments escalate (seed §3.1.3.3)."""

    limit: int = Field(ge=0, description="more cross-group reassignments than this escalate to the incident manager")


class ClosingModel(_Strict):
    """Who may close a ticket (seed §3.1.3.10): the 1st line, and the role that may override."""

    roles: list[_RoleId] = Field(description="holders of these roles may close")
    first_line_groups: bool = Field(description="handlers of a group whose line is first_line may close")
    override_role: _RoleId = Field(description="may close any ticket, whoever it is assigned to")

    def closing_roles(self) -> frozenset[str]:
        """Every role whose holders may close: the listed ones and the override."""
        return frozenset((*self.roles, self.override_role))


class VerificationModel(_Strict):
    """Who verifies a closed record (PROCESS §1, §11), and when they get the daily digest of the
    records still unverified."""

    roles: list[_RoleId] = Field(min_length=1)
    digest_hour: int = Field(8, ge=0, le=23, description="local hour (reports.timezone) of the daily digest")


class RejectionModel(_Strict):
    """When a handler's rejections of an assignment escalate (PROCESS §7, IM 2.3–2.5: "2 failed
    dispatches")."""

    escalate_at: int = Field(
        2, ge=1, description="the rejection of one ticket with this number (and every one after) escalates"
    )


class AdoptionModel(_Strict):
    """Which tickets made by people in the helpdesk the sync-back takes over (issue 12): all of
    the configured project/entity, except what a site leaves alone."""

    enabled: bool = Field(True, description="take over tickets the connector did not make")
    source: Literal["user_report", "monitoring", "inspection"] = Field(
        "user_report", description="the source (field 9) of an adopted ticket whose source the desk left empty"
    )
    since: datetime | None = Field(
        None,
        description="adopt only tickets created at or after this moment; null: from the sync-back's first run "
        "(remembered in the state file), so years of old tickets are not adopted at once",
    )
    skip_trackers: list[str] = Field(default_factory=list, description="tracker/type names to leave alone")
    skip_categories: list[str] = Field(default_factory=list, description="categories to leave alone")
    skip_entities: list[str] = Field(
        default_factory=list,
        description="GLPI entities to leave alone, by complete name ('Root entity > Finance'); the entities "
        "below one are left alone too",
    )


_Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class CalendarModel(_Strict):
    """The working calendar the confirmation wait is counted in."""

    working_days: list[_Weekday] = Field(min_length=1, description="the working weekdays")
    holidays: list[date] = Field(default_factory=list, description="dates that are not working days")
    extra_working_days: list[date] = Field(
        default_factory=list, description="dates worked although their weekday is not (a weekend worked in lieu)"
    )
    timezone: str | None = Field(
        None, description="IANA zone the days are counted in; null: the config's reports.timezone (the site's)"
    )

    @field_validator("working_days")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return sorted(set(value), key=WEEKDAYS.index)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from None
        return value


class ConfirmationModel(_Strict):
    """How long a resolved ticket waits for its user to confirm or reject the resolution before
    it is closed without an answer (PROCESS §11, IM 5.x; issue 12, item 4)."""

    wait_working_days: int = Field(ge=1, description="working days after the resolution")
    closure_code: ClosureCode = Field(description="the closure code of a close without the user's answer")
    calendar: CalendarModel

    def wait(self, site_timezone: str) -> ClosingWait:
        """The wait, its days counted in the calendar's zone, else ``site_timezone``."""
        calendar = self.calendar
        zone = calendar.timezone or site_timezone
        return ClosingWait(
            self.wait_working_days,
            WorkingCalendar.of(zone, calendar.working_days, calendar.holidays, calendar.extra_working_days),
            self.closure_code,
        )


class LifecycleFile(_Strict):
    """``lifecycle.yaml``: what people may do to a ticket, and the numbers the lifecycle counts."""

    reassignment: ReassignmentModel
    closing: ClosingModel
    verification: VerificationModel
    rejection: RejectionModel = Field(default_factory=RejectionModel)
    adoption: AdoptionModel = Field(default_factory=AdoptionModel)
    #: ``None`` (a site file from before it): no automatic close, and no note on an early one
    confirmation: ConfirmationModel | None = None


# --- replies.yaml --------------------------------------------------------------------------------

#: the values a reply text may name, each filled in as plain text (never as a template)
REPLY_PLACEHOLDERS = frozenset({"title", "desk"})
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class ReplyText(_Strict):
    """A mail the connector answers with: a subject and a text; ``{title}`` and ``{desk}`` are
    filled in when it is sent."""

    subject: str = Field(min_length=1)
    text: str = Field(min_length=1)

    @field_validator("subject", "text")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(value)} - REPLY_PLACEHOLDERS)
        if unknown:
            known = ", ".join(f"{{{name}}}" for name in sorted(REPLY_PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{unknown[0]}}} (known: {known})")
        return value

    def fill(self, **values: str) -> tuple[str, str]:
        """The subject and text with the placeholders replaced in one pass, so a value (an
        untrusted mail title) is inserted as it is: a ``{desk}`` inside it stays as written."""

        def one(template: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)

        return one(self.subject), one(self.text)


class RepliesFile(_Strict):
    """``replies.yaml``: what the connector answers by mail (IM 1.1)."""

    refused_sender: ReplyText = Field(description="to a sender the desk does not know, when the source rejects them")
