"""The wait for the user's confirmation (issue 12, item 4; PROCESS §11, IM 5.1–5.2) on the
simulated clock: a resolved ticket whose user neither confirms nor rejects is closed by the
connector once ``lifecycle.yaml``'s wait of working days has passed (its own event line, a note
naming the wait, the ``closed`` notice to the user); a 1st-line close before the wait stands but
is noted and counted; a confirmed or reopened ticket is not closed. Every close is asserted with
its minute and who hears of it (``config/people.example.yaml``)."""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.cli.main import main
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.domain.models import ClosureCode, Ticket, TicketSource
from connector.notify.dispatch import Channel
from connector.notify.people import Directory, load_people
from connector.notify.render import Renderer
from connector.notify.settings import Notifications
from connector.plugins.local import LocalBackend
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.process.roster import DirectoryRoster
from connector.rules.calendar import ClosingWait, WorkingCalendar
from connector.rules.loading import default_rulebook, shipped_rules_dir
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.notify_helpers import PEOPLE_EXAMPLE
from tests.state_backend import make_store
from tests.unit.test_adoption import Recorder, Sent
from tests.unit.test_desk_process import control, events, line, opened

USER = "li.na@metro.example"


def run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    rows: list[dict[str, Any]],
    until: str,
    rules: Path | None = None,
) -> list[Any]:
    """``simulate --until`` with ``config/people.example.yaml`` (and a site's rules directory)."""
    (tmp_path / "people.yaml").write_text(PEOPLE_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "connector.yaml"
    config.write_text(
        textwrap.dedent(
            """
            state: {path: state.db}
            backend: {type: local, path: tickets.db}
            reports: {timezone: Asia/Shanghai}
            notify:
              people: people.yaml
              service_desk: desk 8888
              channels:
                - {type: smtp, host: relay.metro.example, sender: 'ITSM <itsm@metro.example>'}
                - {type: webhook, url: 'https://gw.metro.example/sms'}
            """
        ),
        encoding="utf-8",
    )
    path = tmp_path / "desk.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    extra = ["--rules", str(rules)] if rules is not None else []
    assert main(["simulate", "--config", str(config), *extra, "--input", str(path), "--until", until]) == 0
    return [json.loads(text) for text in capsys.readouterr().out.splitlines()]


def resolved(minute: int = 10) -> list[dict[str, Any]]:
    """The desk's ticket of Thursday 2026-11-26 10:00 Shanghai, resolved at 10:``minute``."""
    return [
        opened(reporter=USER),
        control("assign", 2, group="network", assignee="zhangw"),
        control("accept", 3, by="zhangw"),
        control("resolve", minute, by="zhangw"),
    ]


def closes(out: list[Any]) -> list[tuple[str, str, str]]:
    return [(e["at"], e["due"], e["detail"]) for e in out if e.get("type") == "auto_close"]


# --- the working calendar ------------------------------------------------------------------------


def shanghai(**extra: Any) -> WorkingCalendar:
    return WorkingCalendar.of("Asia/Shanghai", ["mon", "tue", "wed", "thu", "fri"], **extra)


@pytest.mark.parametrize(
    ("resolved_at", "ends"),
    [
        # Thursday 10:10 local → Tuesday 10:10 (Fri, Mon, Tue)
        (datetime(2026, 11, 26, 2, 10, tzinfo=UTC), datetime(2026, 12, 1, 2, 10, tzinfo=UTC)),
        # Friday 15:00 local → Wednesday 15:00
        (datetime(2026, 11, 27, 7, 0, tzinfo=UTC), datetime(2026, 12, 2, 7, 0, tzinfo=UTC)),
        # Saturday: the weekend does not count → the end of Wednesday (Thursday 00:00 local)
        (datetime(2026, 11, 28, 2, 0, tzinfo=UTC), datetime(2026, 12, 2, 16, 0, tzinfo=UTC)),
    ],
)
def test_three_working_days_skip_the_weekend(resolved_at: datetime, ends: datetime) -> None:
    assert shanghai().add_working_days(resolved_at, 3) == ends


def test_holidays_do_not_count_and_a_weekend_worked_in_lieu_does() -> None:
    start = datetime(2026, 11, 26, 2, 10, tzinfo=UTC)  # Thursday
    holiday = shanghai(holidays=[date(2026, 11, 27)])  # Friday off: Mon, Tue, Wed
    assert holiday.add_working_days(start, 3) == datetime(2026, 12, 2, 2, 10, tzinfo=UTC)
    in_lieu = shanghai(extra_working_days=[date(2026, 11, 28)])  # Saturday worked: Fri, Sat, Mon
    assert in_lieu.add_working_days(start, 3) == datetime(2026, 11, 30, 2, 10, tzinfo=UTC)


def test_days_are_counted_on_the_local_wall_clock_across_a_dst_change() -> None:
    berlin = WorkingCalendar.of("Europe/Berlin", ["mon", "tue", "wed", "thu", "fri"])
    # Friday 2026-10-23 15:00 CEST (13:00 UTC) → Wednesday 28th 15:00 CET (14:00 UTC): the clocks went back
    assert berlin.add_working_days(datetime(2026, 10, 23, 13, 0, tzinfo=UTC), 3) == datetime(
        2026, 10, 28, 14, 0, tzinfo=UTC
    )


def test_the_wait_names_itself() -> None:
    assert ClosingWait(3, shanghai(), ClosureCode.SUCCESS).describe() == "3 working days"
    assert ClosingWait(1, shanghai(), ClosureCode.SUCCESS).describe() == "1 working day"


# --- the connector closes after the wait ---------------------------------------------------------


def test_an_unanswered_resolution_is_closed_by_the_connector_after_three_working_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, resolved(), until="2026-12-04T00:00:00Z")
    # resolved Thursday 10:10 Shanghai: the wait ends Tuesday 10:10 (02:10 UTC), not a minute earlier
    ((at, due, note),) = closes(out)
    assert (at, due) == ("2026-12-01T02:10:00+00:00", "2026-12-01T02:10:00+00:00")
    assert note.startswith("自动关闭 closed by the connector: resolved 2026-11-26T02:10:00+00:00, the user neither")
    assert "within 3 working days (lifecycle.yaml confirmation.wait_working_days); closure code success" in note
    closed = [(e["at"], e["channel"], e["recipients"]) for e in out if e.get("status") == "closed"]
    auto = next(e for e in out if e.get("type") == "auto_close")
    assert auto["status"] == "closed" and auto["closure_code"] == "success" and auto["external_id"] == "d1"
    assert closed[0] == ("2026-12-01T02:10:00+00:00", None, [])  # the auto_close line itself
    assert closed[1:] == [("2026-12-01T02:10:00+00:00", "email", [USER])]  # the `closed` notice: the user


def test_nothing_is_closed_before_the_wait_is_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(tmp_path, capsys, resolved(), until="2026-12-01T02:09:00Z")
    assert closes(out) == []


def test_a_close_by_the_first_line_before_the_wait_stands_noted_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [*resolved(), control("close", 30, by="desk", closure_code="success")]
    out = run(tmp_path, capsys, rows, until="2026-12-04T00:00:00Z")
    close = line(out, 5)
    assert "refused" not in close
    assert "用户确认前关闭 closed before the user confirmed: resolved 2026-11-26T02:10:00+00:00" in close["reason"]
    assert (
        "the wait of 3 working days for the user's answer ends 2026-12-01T02:10:00+00:00 (counted)" in close["reason"]
    )
    assert closes(out) == []  # closed already: the connector does not close it again
    assert events(out, "policy_alert") == []


def test_a_confirmed_resolution_is_left_to_the_first_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reply = {
        "source": "mail",
        "external_id": "m1",
        "title": "Re: 财务系统无法登录",
        "description": "好了，谢谢",
        "reporter": "li.na@metro.example",
        "reply_to": "1",
        "occurred_at": "2026-11-26T03:00:00Z",
    }
    rows = [*resolved(), reply, control("close", 0, by="desk", closure_code="success")]
    rows[-1]["at"] = "2026-11-26T04:00:00Z"
    out = run(tmp_path, capsys, rows[:-1], until="2026-12-04T00:00:00Z")
    assert closes(out) == []  # the user confirmed: the 1st line closes it, not the connector
    out = run(tmp_path, capsys, rows, until="2026-11-26T05:00:00Z")
    assert "closed before the user confirmed" not in line(out, 6)["reason"]


def test_a_reopened_ticket_waits_again_from_its_next_resolution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        *resolved(),
        control("reopen", 20, by="li.na", reason="still cannot log in"),
        {**control("resolve", 0, by="zhangw"), "at": "2026-11-27T02:00:00Z"},  # Friday 10:00 local
    ]
    out = run(tmp_path, capsys, rows, until="2026-12-04T00:00:00Z")
    # Friday 10:00 → Wednesday 10:00 local: the first resolution's Tuesday passed without a close
    assert [(a, d) for a, d, _ in closes(out)] == [("2026-12-02T02:00:00+00:00", "2026-12-02T02:00:00+00:00")]


def test_a_site_wait_and_calendar_move_the_close(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(shipped_rules_dir(), rules)
    text = (rules / "lifecycle.yaml").read_text(encoding="utf-8")
    text = text.replace("wait_working_days: 3", "wait_working_days: 1").replace(
        "holidays: []", "holidays: [2026-11-27]"
    )
    (rules / "lifecycle.yaml").write_text(text, encoding="utf-8")
    out = run(tmp_path, capsys, resolved(), until="2026-12-04T00:00:00Z", rules=rules)
    # one working day after Thursday 10:10, Friday a holiday: Monday 10:10 local
    assert [a for a, _, _ in closes(out)] == ["2026-11-30T02:10:00+00:00"]
    assert "within 1 working day " in closes(out)[0][2]


# --- the daemon: the sync-back pass closes it in the helpdesk, once ------------------------------


def test_the_sync_back_closes_an_unanswered_ticket_in_the_helpdesk_once(tmp_path: Path) -> None:
    start = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # Thursday 10:00 Shanghai
    clock = FakeClock(start)
    sent: Sent = []
    directory = Directory(load_people(PEOPLE_EXAMPLE))
    book = default_rulebook()
    channels = {"email": Recorder("email", sent), "phone": Recorder("phone", sent)}
    notifications = Notifications(
        directory,
        book.escalation,
        book.notices,
        Renderer(service_desk="desk 8888", directory=directory, language="en", timezone="Asia/Shanghai"),
        {name: Channel(name, name, notifier) for name, notifier in channels.items()},  # type: ignore[arg-type]
    )
    helpdesk = LocalBackend(tmp_path / "tickets.db", clock)
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=helpdesk,
        sources={},
        pipeline=Pipeline.from_manager(build_plugin_manager(), book),
        clock=clock,
        sweep_rules=SweepRules.of(book, notifications, timezone="Asia/Shanghai"),
        notifications=notifications,
    )
    sync = SyncBack(engine, DirectoryRoster(directory))

    def cycle(at: datetime) -> None:
        clock.set(at)
        sync.run()
        engine.drain_outbox()

    cycle(start)  # adoption starts now
    clock.set(start + timedelta(minutes=1))
    desk = Ticket(
        key="desk-made-1",
        title="cannot log in",
        description="phone call",
        contact=USER,
        source=TicketSource.USER_REPORT,
    )
    tid = helpdesk.create_ticket(desk, actor="desk").ticket_id
    cycle(start + timedelta(minutes=2))
    helpdesk.update_ticket(tid, {"assignee": "zhangw", "assignment_group": "network"}, actor="desk")
    clock.set(start + timedelta(minutes=10))
    helpdesk.update_ticket(tid, {"status": "resolved"}, "fixed", actor="zhangw")  # Thursday 10:10 local
    cycle(start + timedelta(minutes=11))
    key = f"helpdesk:{tid}"
    sent.clear()

    cycle(datetime(2026, 12, 1, 2, 9, tzinfo=UTC))  # Tuesday 10:09: a minute before the wait ends
    assert engine.store.get(key).status.value == "resolved"  # type: ignore[union-attr]
    cycle(datetime(2026, 12, 1, 2, 11, tzinfo=UTC))
    state = engine.store.get(key)
    assert state is not None and state.status.value == "closed"
    (row,) = [t for t in helpdesk.tickets() if str(t["id"]) == tid]
    assert (row["status"], row["closure_code"]) == ("closed", "success")
    (note,) = [n for n in row["notes"] if n.startswith("自动关闭")]
    assert "within 3 working days" in note
    assert [(c, addresses) for c, _, addresses, _ in sent] == [("email", (USER,))]  # `closed` to the user
    cycle(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))  # the next pass: the connector's own close is not an event
    (row,) = [t for t in helpdesk.tickets() if str(t["id"]) == tid]
    assert len([n for n in row["notes"] if n.startswith("自动关闭")]) == 1
    assert len(sent) == 1
