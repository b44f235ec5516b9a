"""The ticket-history format: a record per line, and a reader that skips bad lines by number."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connector.domain.models import ClosureCode, Impact, Priority, ResolverRole, Ticket, TicketStatus, Urgency
from connector.kpi.history import HistoryInputError, HistoryReader, HistoryRecord, open_history


def a_record(**overrides: Any) -> dict[str, Any]:
    """A valid closed ticket as JSON data; ``overrides`` change or (with ``...``) drop fields."""
    values: dict[str, Any] = {
        "id": "1001",
        "title": "核心交换机端口 down",
        "source": "monitoring",
        "reporter": "调度中心",
        "registrar": "张伟",
        "ci": "core-sw-01",
        "category": "网络",
        "impact": 2,
        "urgency": 2,
        "priority": 2,
        "duplicate_of": None,
        "occurred_at": "2026-10-05T08:00:00+08:00",
        "registered_at": "2026-10-05T08:02:00+08:00",
        "assigned_at": "2026-10-05T08:10:00+08:00",
        "accepted_at": "2026-10-05T08:15:00+08:00",
        "resolved_at": "2026-10-05T09:00:00+08:00",
        "closed_at": "2026-10-05T10:00:00+08:00",
        "third_party_at": None,
        "status": "closed",
        "closure_code": "success",
        "resolver": "王芳",
        "resolver_role": "second_line",
        "kb_used": False,
        "worklog_staff": ["张伟", "王芳"],
        "suspensions": [],
    }
    for key, value in overrides.items():
        if value is ...:
            values.pop(key)
        else:
            values[key] = value
    return values


def lines(*records: dict[str, Any] | str) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]


def test_a_valid_line_becomes_a_record_with_typed_values() -> None:
    record = HistoryRecord.model_validate_json(json.dumps(a_record(suspensions=[["2026-10-05T08:20:00+08:00", None]])))
    assert record.priority is Priority.HIGH and record.impact is Impact.SEVERE
    assert record.status is TicketStatus.CLOSED and record.closure_code is ClosureCode.SUCCESS
    assert record.resolver_role is ResolverRole.SECOND_LINE
    assert record.registered_at == datetime(2026, 10, 5, 0, 2, tzinfo=UTC)
    assert record.suspensions == ((datetime(2026, 10, 5, 0, 20, tzinfo=UTC), None),)
    assert record.done


def test_a_record_round_trips_through_its_line() -> None:
    record = HistoryRecord.model_validate(a_record())
    assert HistoryRecord.model_validate_json(record.to_line()) == record


def test_unknown_fields_are_ignored_so_a_newer_exporter_does_not_break_the_report() -> None:
    record = HistoryRecord.model_validate(a_record(escalation_level=2))
    assert record.id == "1001"


def test_numeric_ids_are_read_as_text() -> None:
    record = HistoryRecord.model_validate(a_record(id=1001, duplicate_of=998))
    assert (record.id, record.duplicate_of) == ("1001", "998")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"ci": ...}, "missing field ci"),
        ({"ci": ..., "category": ...}, "missing fields ci, category"),
        ({"occurred_at": "yesterday"}, "occurred_at: bad date 'yesterday'"),
        ({"registered_at": "2026-10-05T08:02:00"}, "registered_at: bad date '2026-10-05T08:02:00'"),
        ({"resolved_at": "2026-13-01T00:00:00+08:00"}, "resolved_at: bad date"),
        ({"priority": 5}, "priority:"),
        ({"status": "done"}, "status:"),
        ({"registered_at": "2026-10-05T07:00:00+08:00"}, "registered_at is before occurred_at"),
        ({"closed_at": "2026-10-05T08:30:00+08:00"}, "closed_at is before resolved_at"),
        ({"resolved_at": None}, "status closed needs resolved_at"),
        ({"closed_at": None}, "status closed needs closed_at"),
        ({"resolver_role": "third_party"}, "needs third_party_at"),
        ({"duplicate_of": "2"}, "duplicate_of names the ticket itself"),
        (
            {"suspensions": [["2026-10-05T08:40:00+08:00", "2026-10-05T08:20:00+08:00"]]},
            "suspension 1 ends before it starts",
        ),
    ],
)
def test_a_bad_line_is_skipped_with_its_number_and_the_reason(overrides: dict[str, Any], reason: str) -> None:
    good = a_record(id="1")
    reader = HistoryReader(lines(good, a_record(id="2", **overrides), a_record(id="3")))
    assert [r.id for r in reader] == ["1", "3"]
    (problem,) = reader.problems
    assert problem.line == 2
    assert reason in problem.reason
    stats = reader.stats()
    assert (stats.lines, stats.records, stats.skipped) == (3, 2, 1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("{not json", "not JSON"), ("[1, 2]", "not a JSON object"), ('"text"', "not a JSON object")],
)
def test_a_line_that_is_not_an_object_is_skipped(text: str, reason: str) -> None:
    reader = HistoryReader(lines(text, a_record()))
    assert [r.id for r in reader] == ["1001"]
    assert reader.problems[0].line == 1 and reason in reader.problems[0].reason


def test_a_repeated_ticket_id_is_a_bad_line_and_the_first_one_counts() -> None:
    reader = HistoryReader(lines(a_record(title="first"), a_record(title="second")))
    assert [r.title for r in reader] == ["first"]
    assert str(reader.problems[0]) == "line 2: ticket 1001 is already on line 1"


def test_blank_lines_and_a_byte_order_mark_are_not_problems() -> None:
    raw = ["\ufeff" + lines(a_record(id="1"))[0], "", "   ", lines(a_record(id="2"))[0]]
    reader = HistoryReader(raw)
    assert [r.id for r in reader] == ["1", "2"]
    assert reader.problems == []


def test_bytes_that_are_not_utf8_are_one_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    good = lines(a_record(id="1"))[0].encode()
    path.write_bytes(
        b"\xef\xbb\xbf" + good + b"\n" + b'{"id": "\xff\xfe"}\n' + lines(a_record(id="3"))[0].encode() + b"\n"
    )
    seen: list[int] = []
    with open_history(path, on_bytes=seen.append) as reader:
        ids = [r.id for r in reader]
    assert ids == ["1", "3"]
    assert [p.line for p in reader.problems] == [2]
    assert sum(seen) == path.stat().st_size


def test_a_missing_file_is_a_connector_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryInputError, match="cannot open the history"), open_history(tmp_path / "nope.jsonl"):
        pass


def test_from_ticket_takes_the_fields_a_ticket_has_and_the_journal_facts_it_lacks() -> None:
    t0 = datetime(2026, 10, 5, 0, 0, tzinfo=UTC)
    ticket = Ticket(
        ticket_id="42",
        key="zabbix:77",
        title="UPS on battery",
        description="station 12",
        status=TicketStatus.RESOLVED,
        contact="车辆段",
        ci="ups-012",
        category="其他",
        impact=Impact.GENERAL,
        urgency=Urgency.URGENT,
        priority=Priority.MEDIUM,
        registered_at=t0 + timedelta(minutes=1),
        resolver_role=ResolverRole.THIRD_PARTY,
        third_party_at=t0 + timedelta(minutes=30),
        kb_used=True,
        duplicate_of="zabbix:70",
    )
    record = HistoryRecord.from_ticket(
        ticket,
        occurred_at=t0,
        duplicate_of="40",
        registrar="itsm-connector",
        assigned_at=t0 + timedelta(minutes=5),
        resolved_at=t0 + timedelta(hours=3),
        resolver="浪潮运维",
        worklog_staff=["张伟"],
    )
    assert record.id == "42" and record.reporter == "车辆段" and record.duplicate_of == "40"
    assert record.registered_at == t0 + timedelta(minutes=1)
    assert record.third_party_at == t0 + timedelta(minutes=30)
    assert record.kb_used and record.worklog_staff == ("张伟",)
    with pytest.raises(ValidationError, match="needs third_party_at"):
        HistoryRecord.from_ticket(
            ticket.model_copy(update={"third_party_at": None}), occurred_at=t0, resolved_at=t0 + timedelta(hours=3)
        )
    with pytest.raises(ValueError, match="without a helpdesk id"):
        HistoryRecord.from_ticket(ticket.model_copy(update={"ticket_id": None}), occurred_at=t0)


def test_a_read_that_fails_midway_is_a_connector_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Failing(io.BytesIO):
        def __iter__(self) -> Any:
            yield lines(a_record())[0].encode()
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(Path, "open", lambda self, mode="r": Failing())
    with pytest.raises(HistoryInputError, match="cannot read the history: Input/output error"):  # noqa: SIM117
        with open_history(tmp_path / "h.jsonl") as reader:
            list(reader)
