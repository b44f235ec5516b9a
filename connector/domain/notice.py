"""``Notice``: what one notice says, as data that can wait in the outbox as JSON.

The escalation/SLA sweep composes a ``Notice`` when a rule fires and puts it in the outbox; the
outbox later renders and sends it (``connector.notify.dispatch.send_notice``). Everything needed
to render and address it is inside: the ticket reference, the seed's standard content (§3.1.3.7:
short description, affected service, estimated restore time, how to reach the service desk),
the roles it goes to, and the ticket context that dynamic roles need (contact, assignee, group).

Text fields (title, service, detail) come from alerts and are untrusted; the renderer escapes
them for each format and never evaluates them as templates.
"""

from __future__ import annotations

__all__ = ["Contact", "Notice", "NoticeKind", "StatusEvent", "TicketLink"]

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.domain.clock import ensure_utc
from connector.domain.models import Priority, Stage


class NoticeKind(StrEnum):
    """Why a notice is sent; templates and the channel table are chosen by it."""

    ESCALATION = "escalation"  # a level of the §6 ladder was reached
    NOTICE = "notice"  # a timed notice of §8 (project manager at 5 min, …)
    SLA_WARNING = "sla_warning"  # a stage passed its warning (the range's lower bound)
    SLA_BREACH = "sla_breach"  # a stage passed its target
    REASSIGNMENT_ALERT = "reassignment_alert"  # cross-group or too many reassignments (§7)
    POLICY_ALERT = "policy_alert"  # a close the process does not allow was reverted (§11)
    STATUS = "status"  # the §8 status matrix (opened, assigned, resolved, …)
    OUTAGE = "outage"  # the incident interrupts a service
    RESTORE = "restore"  # the service is back


class StatusEvent(StrEnum):
    """The rows of the §8 status matrix: a status change, or the assignment itself."""

    OPEN = "open"  # 待处理: registered, waiting to be handled
    ASSIGNED = "assigned"  # 已分派
    IN_PROGRESS = "in_progress"  # 受理中
    PENDING_CHANGE = "pending_change"  # 待定变更 (not in the seed's matrix)
    SUSPENDED = "suspended"  # 挂起
    RESOLVED = "resolved"  # 已解决: the user is asked to confirm closure
    CLOSED = "closed"  # 关闭


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TicketLink(_Frozen):
    """Which ticket a notice is about: the connector's key, and the helpdesk's id and URL once known."""

    key: str = Field(min_length=1)
    ticket_id: str | None = None
    url: str | None = None


class Contact(_Frozen):
    """The ticket's user (reporter), reached through the dynamic role ``user``."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    wecom: str | None = None
    dingtalk: str | None = None


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else ensure_utc(value)


class Notice(_Frozen):
    """One notice about one ticket, to one or more roles.

    ``roles`` are role ids of ``people.yaml`` or the dynamic roles ``user`` (the ticket's
    contact), ``assignee`` (the assigned handler, else the group's handlers) and ``group``
    (the assignment group's handlers). ``due_at`` is when the rule fired; ``late`` says the
    notice is sent after it should have been (the connector was down), and the text says so.
    """

    kind: NoticeKind
    ticket: TicketLink
    priority: Priority
    title: str = Field(min_length=1, description="short description (the ticket title)")
    service: str | None = Field(None, description="the affected service")
    ci: str | None = None
    estimated_restore: datetime | None = Field(None, description="when the service should be back")
    service_desk: str | None = Field(None, description="how to reach the desk; default: the notify config's")
    roles: tuple[str, ...] = Field(min_length=1)
    level: int | None = Field(None, ge=1, description="escalation level (kind escalation)")
    stage: Stage | None = Field(None, description="the SLA stage (kinds sla_warning, sla_breach)")
    status: StatusEvent | None = Field(None, description="the status event (kind status)")
    minutes: int | None = Field(None, ge=0, description="the rule's threshold, minutes after creation")
    due_at: datetime
    late: bool = False
    registered_at: datetime | None = None
    outage_start: datetime | None = None
    outage_end: datetime | None = None
    contact: Contact | None = None
    assignee: str | None = None
    assignment_group: str | None = None
    detail: str = Field("", description="extra text, e.g. why it was reassigned (untrusted)")
    lang: str | None = Field(None, pattern=r"^(zh|en)$", description="override the site's language")

    @field_validator("estimated_restore", "due_at", "registered_at", "outage_start", "outage_end")
    @classmethod
    def _times_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @property
    def identity(self) -> str:
        """A stable id of what this notice is for, for the sweep's ledger ("fires once"):
        the same rule on the same ticket gives the same identity."""
        what = {
            NoticeKind.ESCALATION: f"L{self.level}",
            NoticeKind.NOTICE: ",".join(self.roles),
            NoticeKind.SLA_WARNING: str(self.stage),
            NoticeKind.SLA_BREACH: str(self.stage),
            NoticeKind.STATUS: str(self.status),
        }.get(self.kind, self.due_at.isoformat())
        return f"{self.kind}:{self.ticket.key}:{what}"
