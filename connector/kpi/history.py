"""The ticket history the KPI reports read: one JSON object per ticket per line.

The format is documented in ``docs/history-format.md``. ``HistoryRecord`` is its schema (every
field must be present; ``null`` where the format allows it), and ``HistoryReader`` streams a
file of them: a line that does not validate is reported with its line number and skipped, so a
single broken export line never hides a month's numbers, and the report says how many lines it
left out.

The record is what an ``export-history`` command writes from the helpdesk; ``from_ticket``
builds one from a ``connector.domain.models.Ticket`` plus the facts a ``Ticket`` does not carry (the
helpdesk's id of the master, the journal's timestamps, the work-log names).
"""

from __future__ import annotations

__all__ = [
    "HistoryInputError",
    "HistoryReader",
    "HistoryRecord",
    "InputStats",
    "LineProblem",
    "Suspension",
    "describe",
    "open_history",
]

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from connector.domain.clock import ensure_utc
from connector.domain.errors import ConnectorError
from connector.domain.models import (
    ClosureCode,
    Impact,
    Priority,
    ResolverRole,
    Ticket,
    TicketSource,
    TicketStatus,
    Urgency,
)

#: a moment with its offset in the file, kept as aware UTC: every comparison afterwards is between
#: datetimes of one zone, which Python does without asking each one for its offset (fast)
Moment = Annotated[AwareDatetime, AfterValidator(ensure_utc)]

#: a suspension: when the customer agreed to pause, and when work resumed (``None``: still paused)
Suspension = tuple[Moment, Moment | None]

_DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
#: (later, earlier): each moment, when both are known, comes no earlier than the other
_ORDER = (
    ("registered_at", "occurred_at"),
    ("assigned_at", "registered_at"),
    ("accepted_at", "assigned_at"),
    ("resolved_at", "registered_at"),
    ("closed_at", "resolved_at"),
    ("third_party_at", "registered_at"),
)


class HistoryInputError(ConnectorError):
    """Raised when the history file cannot be opened or read at all (not for a bad line)."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class HistoryRecord(BaseModel):
    """One ticket as the KPI reports see it (``docs/history-format.md``).

    Every field is required so that an exporter that forgets one is caught on the first line,
    not by a KPI that is silently zero. Unknown fields are ignored, so a newer exporter may add
    fields without breaking an older report.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1, coerce_numbers_to_str=True, description="the helpdesk's ticket id")
    title: str
    source: TicketSource
    reporter: str | None = Field(description="the user or department that reported it (reports group 'by user')")
    registrar: str | None = Field(description="the staff member who registered it (KPI 13, 16)")
    ci: str | None = Field(description="the affected configuration item (device)")
    category: str | None
    impact: Impact
    urgency: Urgency
    priority: Priority
    duplicate_of: str | None = Field(
        coerce_numbers_to_str=True, description="the master ticket's id when this one is a duplicate"
    )
    occurred_at: Moment
    registered_at: Moment
    assigned_at: Moment | None = Field(description="the first assignment")
    accepted_at: Moment | None = Field(description="the first acceptance by the assignee")
    resolved_at: Moment | None = Field(description="the current resolution (null unless resolved/closed)")
    closed_at: Moment | None
    third_party_at: Moment | None = Field(description="when it was handed to a third party")
    status: TicketStatus
    closure_code: ClosureCode | None
    resolver: str | None = Field(description="who resolved it (a person, or the third party's name)")
    resolver_role: ResolverRole | None
    kb_used: bool
    worklog_staff: tuple[str, ...] = Field(description="everyone who wrote in the ticket's work log")
    suspensions: tuple[Suspension, ...]
    verified_at: Moment | None = Field(
        None, description="when a duty-group leader's verification of the closed record was accepted (§3.1.3.10.2)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """The order of the moments, and what a status promises; a broken line is refused here
        rather than producing a negative duration or a ticket that is both open and resolved."""
        for later, earlier in _ORDER:
            value, before = getattr(self, later), getattr(self, earlier)
            if value is not None and before is not None and value < before:
                raise ValueError(f"{later} is before {earlier}")
        if self.status in _DONE and self.resolved_at is None:
            raise ValueError(f"status {self.status.value} needs resolved_at")
        if self.status is TicketStatus.CLOSED and self.closed_at is None:
            raise ValueError("status closed needs closed_at")
        if self.resolver_role is ResolverRole.THIRD_PARTY and self.resolved_at and self.third_party_at is None:
            raise ValueError("resolved by a third party needs third_party_at (KPI 9 measures from it)")
        if self.duplicate_of == self.id:
            raise ValueError("duplicate_of names the ticket itself")
        for number, (start, end) in enumerate(self.suspensions, 1):
            if end is not None and end < start:
                raise ValueError(f"suspension {number} ends before it starts")
        return self

    @property
    def done(self) -> bool:
        """Resolved or closed (the seed's 【事件状态】='已解决' or '关闭')."""
        return self.status in _DONE

    @classmethod
    def from_ticket(
        cls,
        ticket: Ticket,
        *,
        occurred_at: datetime,
        registered_at: datetime | None = None,
        duplicate_of: str | None = None,
        registrar: str | None = None,
        assigned_at: datetime | None = None,
        accepted_at: datetime | None = None,
        resolved_at: datetime | None = None,
        closed_at: datetime | None = None,
        resolver: str | None = None,
        worklog_staff: Sequence[str] = (),
        suspensions: Sequence[tuple[datetime, datetime | None]] = (),
    ) -> HistoryRecord:
        """The record of a helpdesk ticket, for ``export-history``.

        A ``Ticket`` knows its fields and process markers; the keywords are what only the
        helpdesk's journal knows. ``duplicate_of`` is the master's *helpdesk id* (the ticket
        holds the master's connector key, which the exporter maps). ``registered_at`` defaults
        to the ticket's own; the reporter falls back to the contact.
        """
        if ticket.ticket_id is None:
            raise ValueError("a ticket without a helpdesk id cannot be exported")
        registered = registered_at or ticket.registered_at
        if registered is None:
            raise ValueError(f"ticket {ticket.ticket_id} has no registration time")
        return cls.model_validate(
            {
                "id": ticket.ticket_id,
                "title": ticket.title,
                "source": ticket.source,
                "reporter": ticket.reporter or ticket.contact,
                "registrar": registrar,
                "ci": ticket.ci,
                "category": ticket.category,
                "impact": ticket.impact,
                "urgency": ticket.urgency,
                "priority": ticket.priority,
                "duplicate_of": duplicate_of,
                "occurred_at": occurred_at,
                "registered_at": registered,
                "assigned_at": assigned_at,
                "accepted_at": accepted_at,
                "resolved_at": resolved_at,
                "closed_at": closed_at,
                "third_party_at": ticket.third_party_at,
                "status": ticket.status,
                "closure_code": ticket.closure_code,
                "resolver": resolver,
                "resolver_role": ticket.resolver_role,
                "kb_used": ticket.kb_used,
                "worklog_staff": tuple(worklog_staff),
                "suspensions": tuple(suspensions),
            }
        )

    def to_line(self) -> str:
        """The record as one line of the history file (no newline)."""
        return self.model_dump_json()


@dataclass(frozen=True)
class LineProblem:
    """A history line that was skipped, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class InputStats:
    """What reading the history left behind: lines seen, records kept, lines skipped."""

    name: str
    lines: int
    records: int
    problems: tuple[LineProblem, ...]

    @property
    def skipped(self) -> int:
        """How many lines were left out of the report."""
        return len(self.problems)


@dataclass
class HistoryReader:
    """Iterates the valid records of a history, collecting every line it skipped.

    ``lines`` may be bytes (read in binary, so a line that is not UTF-8 is one bad line rather
    than the end of the file) or text. Blank lines are ignored. A ticket id that appears again
    is a bad line: the first one counts.
    """

    lines: Iterable[bytes | str]
    name: str = "<history>"
    problems: list[LineProblem] = field(default_factory=list)
    line_count: int = 0
    record_count: int = 0

    def __iter__(self) -> Iterator[HistoryRecord]:
        seen: dict[str, int] = {}
        validate = HistoryRecord.model_validate_json
        for number, raw in enumerate(self.lines, 1):
            self.line_count = number
            text = raw.strip()
            if number == 1:  # a byte-order mark, as Windows tools write one
                text = text.removeprefix(b"\xef\xbb\xbf") if isinstance(text, bytes) else text.removeprefix("\ufeff")
            if not text:
                continue
            try:
                record = validate(text)
            except ValidationError as exc:
                self.problems.append(LineProblem(number, describe(exc)))
                continue
            first = seen.setdefault(record.id, number)
            if first != number:
                self.problems.append(LineProblem(number, f"ticket {record.id} is already on line {first}"))
                continue
            self.record_count += 1
            yield record

    def stats(self) -> InputStats:
        """The counts so far (complete once the iteration has ended)."""
        return InputStats(self.name, self.line_count, self.record_count, tuple(self.problems))


def describe(exc: ValidationError) -> str:
    """A validation error as one short line a desk admin can act on: which field, what is wrong."""
    errors = exc.errors(include_url=False)
    missing = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "missing"]
    parts = []
    if missing:
        shown = ", ".join(missing[:6]) + (f", … ({len(missing)} in all)" if len(missing) > 6 else "")
        parts.append(f"missing field{'s' if len(missing) > 1 else ''} {shown}")
    others = [e for e in errors if e["type"] != "missing"]
    for error in others[:3]:
        kind = error["type"]
        where = ".".join(str(p) for p in error["loc"])
        if kind == "json_invalid":
            parts.append(f"not JSON ({error['msg'].removeprefix('Invalid JSON: ')})")
        elif kind == "model_type" and not where:
            parts.append("not a JSON object")
        elif kind.startswith(("datetime", "timezone")):
            parts.append(f"{where}: bad date {error['input']!r} ({error['msg']})")
        elif kind == "value_error":
            parts.append(f"{where + ': ' if where else ''}{error['msg'].removeprefix('Value error, ')}")
        else:
            parts.append(f"{where or 'line'}: {error['msg']}")
    if len(others) > 3:
        parts.append(f"and {len(others) - 3} more")
    return "; ".join(parts)


@contextmanager
def open_history(path: Path, *, on_bytes: Callable[[int], None] | None = None) -> Iterator[HistoryReader]:
    """A reader over the history file at ``path``, closed when the ``with`` block ends.

    ``on_bytes`` is told how many bytes each line had (the progress bar counts them); without
    it the file is iterated directly. An ``OSError`` inside the block is a failed read.
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise HistoryInputError(f"cannot open the history: {exc.strerror}", path=str(path)) from exc

    def counted(tell: Callable[[int], None]) -> Iterator[bytes]:
        for line in handle:
            tell(len(line))
            yield line

    with handle:
        try:
            yield HistoryReader(handle if on_bytes is None else counted(on_bytes), name=str(path))
        except OSError as exc:  # a read failing in the middle (a disk, a network mount)
            raise HistoryInputError(f"cannot read the history: {exc.strerror}", path=str(path)) from exc
