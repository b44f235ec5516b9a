"""The output lines of ``simulate``: their fields (a documented contract admins script against:
extend, never break), how a line is started, what a line about an existing ticket shows, and
how a control line's values are read."""

from __future__ import annotations

__all__ = ["FIELDS", "TICKET_FIELDS", "auto_close_line", "first_error", "from_state", "level", "new_line"]

from datetime import datetime
from typing import Any

from connector.domain.clock import isoformat
from connector.domain.ledger import TicketState
from connector.domain.models import ClosureCode, Impact, Priority, Urgency

#: the fields of every output line, in order (the issue's list, then where and why)
FIELDS = (
    "line",
    "external_id",
    "source",
    "action",
    "fingerprint",
    "category",
    "area",
    "subarea",
    "nature",
    "service",
    "ci",
    "assignment_group",
    "impact",
    "urgency",
    "priority",
    "sla_due",
    "duplicate_of",
    "recurrence_of",
    "ticket",
    "ticket_id",
    "rule",
    "reason",
    "at",
)
TICKET_FIELDS = ("category", "area", "subarea", "nature", "service", "ci", "assignment_group")


def level(kind: type[Impact] | type[Urgency] | type[Priority], value: Any) -> Any:
    """A control line's impact/urgency/priority (1–4), ``None`` when absent."""
    if value is None:
        return None
    try:
        return kind(int(value))
    except (TypeError, ValueError):
        raise ValueError(f"{kind.__name__.lower()} {value!r} is not one of 1, 2, 3, 4") from None


def first_error(exc: Exception) -> str:
    """A validation error's first message (a missing title), else the error's text."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)


def from_state(out: dict[str, Any], state: TicketState) -> None:
    for name in TICKET_FIELDS:
        out[name] = state.content.get(name)
    # the content is what the ticket was made with; an assign/reassign (or a rejection) moves
    # the ticket, and the line must show where it is now (issue 12, 8b)
    if state.assignment_group is not None or state.assigned_at is not None:
        out["assignment_group"] = state.assignment_group
    out.update(
        impact=None if state.impact is None else int(state.impact),
        urgency=None if state.urgency is None else int(state.urgency),
        priority=None if state.priority is None else int(state.priority),
    )


def new_line(
    lineno: int, external_id: str | None, source: str | None, action: str, *, reason: str, at: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(FIELDS)
    out.update(line=lineno, external_id=external_id, source=source, action=action, reason=reason, at=at)
    return out


def auto_close_line(
    state: TicketState, external_id: str | None, at: datetime, due: datetime, note: str | None, code: ClosureCode
) -> dict[str, Any]:
    """The event line of the connector closing a resolved ticket its user did not answer within
    the confirmation wait: the fields of a notice's event line (``channel`` ``None``, no
    recipients: it is not a notice), ``due`` the end of the wait, plus ``closure_code``."""
    return {
        "type": "auto_close",
        "external_id": external_id,
        "ticket": state.key,
        "ticket_id": state.ticket_id,
        "at": isoformat(at),
        "due": isoformat(due),
        "late": at > due,
        "priority": None if state.priority is None else int(state.priority),
        "level": None,
        "role": None,
        "stage": None,
        "status": state.status.value,
        "detail": note,
        "channel": None,
        "recipients": [],
        "closure_code": code.value,
    }
