# ruff: noqa: F811  (the fixtures of test_adoption are imported and used by name)
"""Issue 12, item 5: a duty-group leader verifies a closed record in the helpdesk itself — a note
line ``verified`` (or ``verify: reopen <reason>``) — read by the sync-back on the local backend and
a fake clock; anyone else's is refused and reported to the incident manager at that minute; the
report rebuilt from the helpdesk counts the accepted verifications only (the verified ratio in
JSON, CSV and HTML)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.domain.clock import FakeClock
from connector.domain.models import Impact, TicketStatus, Urgency
from connector.domain.verification import Verdict, verdict_in
from connector.kpi.export import export_records
from connector.kpi.periods import Period
from connector.kpi.render_csv import csv_files
from connector.kpi.render_html import render_html
from connector.kpi.render_json import report_json
from connector.kpi.report import build_report
from connector.notify.people import Directory
from connector.process.roster import DirectoryRoster
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.unit.test_adoption import (  # noqa: F401  (the fixtures are used by name)
    INCIDENT_MANAGER,
    T0,
    Sent,
    backend,
    cycle,
    desk_ticket,
    directory,
    engine,
    sent,
    ticket,
)


def test_the_verification_lines_a_leader_writes() -> None:
    assert verdict_in("checked the record\nverified\n") == Verdict(reopen=False)
    assert verdict_in("  Verify: OK ") == Verdict(reopen=False)
    assert verdict_in("已核查") == Verdict(reopen=False)
    assert verdict_in("verify: reopen the solution field is empty") == Verdict(True, "the solution field is empty")
    assert verdict_in("核查退回: 缺少解决方案") == Verdict(True, "缺少解决方案")
    assert verdict_in("the fix was verified by the user") is None  # a mention is not a verification
    assert verdict_in("") is None


def closed_desk_ticket(engine: Engine, clock: FakeClock, sync: SyncBack, n: int = 1) -> str:
    """A desk-made ticket, adopted, resolved by its handler and closed by the desk."""
    tid = desk_ticket(engine, n, impact=Impact.GENERAL, urgency=Urgency.NORMAL)
    helpdesk = backend(engine)
    clock.set(clock.now() + timedelta(minutes=1))
    cycle(engine, sync)
    helpdesk.update_ticket(tid, {"assignee": "zhangw", "assignment_group": "network"}, actor="desk")
    clock.set(clock.now() + timedelta(minutes=1))
    helpdesk.update_ticket(tid, {"status": TicketStatus.RESOLVED}, "fixed", actor="zhangw")
    clock.set(clock.now() + timedelta(minutes=1))
    helpdesk.update_ticket(tid, {"status": TicketStatus.CLOSED, "closure_code": "success"}, actor="desk")
    clock.set(clock.now() + timedelta(minutes=1))
    cycle(engine, sync)
    return tid


def test_a_leaders_note_verifies_anyone_elses_is_refused_and_the_report_counts_the_accepted_ones(
    engine: Engine,
    clock: FakeClock,
    sent: Sent,
    directory: Directory,
) -> None:
    sync = SyncBack(engine, DirectoryRoster(directory))
    cycle(engine, sync)  # adoption starts at T0
    first = closed_desk_ticket(engine, clock, sync, 1)
    second = closed_desk_ticket(engine, clock, sync, 2)
    helpdesk = backend(engine)
    sent.clear()

    # an engineer writes "verified": refused, reported to the incident manager at that minute
    clock.set(T0 + timedelta(minutes=20))
    helpdesk.add_note(first, "verified", actor="zhangw")
    clock.set(T0 + timedelta(minutes=21))
    cycle(engine, sync)
    state = engine.store.get(f"helpdesk:{first}")
    assert state is not None and state.verified_at is None
    assert any(
        "核查被拒绝 verification refused: zhangw is not a duty-group leader" in n
        for n in ticket(engine, first)["notes"]
    )
    assert [(c, a) for c, k, a, _ in sent if k == f"helpdesk:{first}"] == [("email", (INCIDENT_MANAGER,))]

    # the duty-group leader verifies it
    clock.set(T0 + timedelta(minutes=22))
    helpdesk.add_note(first, "looked at the record\nverified", actor="zhou.min")
    clock.set(T0 + timedelta(minutes=23))
    cycle(engine, sync)
    state = engine.store.get(f"helpdesk:{first}")
    assert state is not None and state.verified_at == T0 + timedelta(minutes=22)
    assert any(
        n.startswith("已核查 verified by the duty-group leader zhou.min") for n in ticket(engine, first)["notes"]
    )

    # the leader sends the second back with a reason: reopened in the helpdesk
    clock.set(T0 + timedelta(minutes=24))
    helpdesk.add_note(second, "verify: reopen the solution field is empty", actor="zhou.min")
    clock.set(T0 + timedelta(minutes=25))
    cycle(engine, sync)
    assert ticket(engine, second)["status"] != "closed"
    clock.set(T0 + timedelta(minutes=26))
    helpdesk.update_ticket(second, {"status": TicketStatus.RESOLVED}, "solution written", actor="zhangw")
    helpdesk.update_ticket(second, {"status": TicketStatus.CLOSED, "closure_code": "success"}, actor="desk")
    clock.set(T0 + timedelta(minutes=27))
    cycle(engine, sync)

    # the report rebuilt from the helpdesk: 1 of the 2 closed records verified
    records = list(export_records(helpdesk, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)))
    assert len(records) == 2
    report = build_report(records, Period(2026, "month", 11), as_of=T0 + timedelta(hours=1), tz="Asia/Shanghai")
    data = report_json(report, "en")
    assert data["kpis"]["verified"] == {"count": 1, "ratio": 0.5}
    (kpis_csv,) = [content for name, content in csv_files(report, "en").items() if name.endswith("-kpis.csv")]
    row = next(
        line for line in kpis_csv.decode("utf-8-sig").splitlines() if "verified by the duty-group leader" in line
    )
    assert row.startswith("—,Closed records verified by the duty-group leader,1,")
    assert "Closed records verified by the duty-group leader" in render_html(report, "en")
