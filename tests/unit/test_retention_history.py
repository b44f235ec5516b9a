"""Retention end to end, on the real engine, the local helpdesk and a fake clock (issue 15):

- the KPIs and reports of a period are the same after its raw rows were pruned from the state
  file — they are rebuilt from the helpdesk alone — and the next sync-back, sweep and drain
  write nothing to the helpdesk for the pruned tickets (no adoption again, no step again);
- under a steady alert rate with pruning on, the state file stops growing: the rows of every
  table and the file's bytes reach a plateau (freed pages are reused; no VACUUM needed).
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.cli.main import main
from connector.contracts.plugin_manager import build_plugin_manager
from connector.domain.clock import FakeClock
from connector.domain.models import ClosureCode, TicketStatus
from connector.plugins.local import LocalBackend
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.config import RetentionSettings
from connector.runtime.engine import Engine
from connector.runtime.retention_job import RetentionJob
from connector.runtime.syncback import SyncBack
from connector.state.store import Store
from tests.conformance.harness import an_alert
from tests.state_backend import make_store

START = datetime(2025, 9, 1, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
CIS = ("cs-01", "db01", "web01", "erp-app02")


@dataclass
class Desk:
    """A small site: the engine with its sweep, the local helpdesk, the sync-back."""

    clock: FakeClock
    backend: LocalBackend
    engine: Engine
    sync: SyncBack
    state: Path
    made: int = 0

    def day(self, tickets: int, *, late_every: int = 3, hosts: int | None = None) -> None:
        """One working day from 09:00: ``tickets`` alerts (each with a repeat),
        the desk dispatching, the 2nd line resolving — every ``late_every``-th one late, past
        its escalation steps — and the desk closing; the sweep, sync-back and drain as the
        daemon runs them. ``hosts``: the alerts cycle over that many hosts instead of four
        (four make recurrences; a recurrence copies its original's description, chain and all)."""
        day_start = self.clock.now()
        for n in range(tickets):
            self.made += 1
            self.clock.set(day_start + timedelta(minutes=10 * n))
            ci = CIS[self.made % len(CIS)] if hosts is None else f"host-{self.made % hosts:02}"
            first = an_alert(self.clock, f"p{self.made}", ci=ci, title=f"{ci} down", severity=3 + self.made % 3)
            repeat = an_alert(self.clock, f"p{self.made}-again", ci=ci, title=f"{ci} down", severity=first.severity)
            self.engine.ingest("zabbix", [first, repeat])
            self.cycle()
            ref = self.backend.find_by_key(first.key)
            assert ref is not None
            self.clock.advance(minutes=4)
            with self.backend.as_user("desk"):
                self.backend.update_ticket(ref.ticket_id, {"assignment_group": "网络组", "assignee": "zhangw"})
            self.clock.advance(minutes=3)
            with self.backend.as_user("zhangw"):
                self.backend.update_ticket(ref.ticket_id, {"status": TicketStatus.IN_PROGRESS})
        self.clock.set(day_start + timedelta(hours=2))
        self.cycle()
        working = [t for t in self.backend.tickets() if t["status"] == TicketStatus.IN_PROGRESS.value]
        for number, ticket in enumerate(working):
            late = number % late_every == 0
            self.clock.advance(hours=5 if late else 0.5)
            self.cycle()  # the sweep fires what is due meanwhile
            with self.backend.as_user("zhangw"):
                self.backend.update_ticket(str(ticket["id"]), {"status": TicketStatus.RESOLVED}, "fixed")
            self.clock.advance(minutes=20)
            with self.backend.as_user("desk"):
                self.backend.update_ticket(
                    str(ticket["id"]), {"status": TicketStatus.CLOSED, "closure_code": ClosureCode.SUCCESS}
                )
        self.clock.advance(minutes=5)
        self.cycle()
        self.clock.set(day_start + timedelta(days=1))

    def cycle(self) -> None:
        self.engine.process_pending()
        self.sync.run()
        self.engine.sweep()
        self.engine.drain_outbox()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    clock = FakeClock(START)
    backend = LocalBackend(tmp_path / "helpdesk.db", clock)
    rulebook = default_rulebook()
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(build_plugin_manager(), rulebook),
        clock=clock,
        # as the daemon builds it: resolved tickets (the duplicates) close after the confirmation wait
        sweep_rules=SweepRules.of(rulebook, None, timezone="Asia/Shanghai"),
    )
    sync = SyncBack(engine)
    sync.run()  # the first pass: adoption starts now
    site = Desk(clock, backend, engine, sync, tmp_path / "state.db")
    yield site
    engine.store.close()
    backend.close()


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def report(config: Path, period: str) -> dict[str, object]:
    code, stdout, stderr = cli(
        "report", "--period", period, "--config", str(config), "--as-of", "2025-12-05T09:00+08:00"
    )
    assert code == 0, stderr
    data: dict[str, object] = json.loads(stdout)
    return data


def test_kpis_and_reports_of_the_kept_period_are_unchanged_by_pruning(desk: Desk, tmp_path: Path) -> None:
    for _ in range(25):  # September to mid-November, two tickets every third day
        desk.day(2)
        desk.clock.advance(days=2)
    desk.clock.set(datetime(2025, 12, 5, 1, 0, tzinfo=UTC))
    desk.cycle()
    config = tmp_path / "connector.yaml"
    config.write_text("state: {path: state.db}\nbackend: {type: local, path: helpdesk.db}\n")
    months = ("2025-09", "2025-10", "2025-11")
    before = {month: report(config, month) for month in months}
    assert all(r["kpis"]["total"] for r in before.values())  # type: ignore[index]
    helpdesk_before = desk.backend.tickets()
    steps_before = len(desk.engine.store.steps())
    assert steps_before and any(s["late"] for s in desk.engine.store.steps())

    # a month of everything: what finished before 5 November goes
    month = RetentionSettings(journal_days=30, outbox_days=30, steps_days=30, dead_letter_days=30, tickets_days=30)
    job = RetentionJob(
        desk.engine.store,
        desk.clock,
        month,
        recurrence_window=lambda: desk.engine.pipeline.rules.dedup.recurrence_window,
    )
    result = job.run()
    assert result.deleted["tickets"] > 30 and result.deleted["journal"] > 60 and result.deleted["outbox"] > 100
    assert 0 < len(desk.engine.store.steps()) < steps_before
    kept = desk.engine.store.all_tickets()
    assert kept and all((t["closed_at"] or t["resolved_at"]) >= "2025-11-05" for t in kept)

    desk.clock.advance(minutes=1)
    desk.cycle()  # the daemon goes on: nothing is adopted again, no step fires again
    assert desk.backend.tickets() == helpdesk_before
    assert desk.engine.store.outbox_counts().get("pending", 0) == 0
    assert {month: report(config, month) for month in months} == before


def rows(store: Store) -> dict[str, int]:
    return {table: n for table, n in store.table_rows().items() if table != "cursors"}


def file_bytes(path: Path) -> tuple[int, int]:
    """The file's bytes as it is (its write-ahead log folded in first), and as ``VACUUM`` would
    leave it (the live data, densely packed: measured on a copy, the file itself untouched)."""
    compact = path.with_name("compact.db")
    compact.unlink(missing_ok=True)
    db = sqlite3.connect(path)  # the test's own look, beside the engine's connection
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM INTO ?", (str(compact),))
    finally:
        db.close()
    return path.stat().st_size, compact.stat().st_size


def test_the_state_file_stays_bounded_under_a_steady_alert_rate(desk: Desk) -> None:
    ages = RetentionSettings(journal_days=3, outbox_days=3, steps_days=8, dead_letter_days=3, tickets_days=8)
    job = RetentionJob(
        desk.engine.store,
        desk.clock,
        ages,
        recurrence_window=lambda: desk.engine.pipeline.rules.dedup.recurrence_window,
    )
    seen: dict[int, tuple[dict[str, int], tuple[int, int]]] = {}
    for day in range(1, 29):
        desk.day(2, late_every=2, hosts=40)  # a host again after 20 days: past the recurrence window
        job.run()  # once a day here; the daemon prunes every hour
        if day in (14, 21, 28):  # the same weekday: the confirmation wait counts working days
            seen[day] = (rows(desk.engine.store), file_bytes(desk.state))
    (rows14, (_, live14)), (rows21, (_, live21)), (rows28, (size28, live28)) = seen[14], seen[21], seen[28]
    assert rows14["tickets"] > 0 and rows14["journal"] > 0 and rows14["steps"] > 0
    assert rows28 == rows21 == rows14  # the same days are kept: a plateau, table by table
    # the live data stays the same size; the file around it only by how full SQLite keeps its pages
    assert live28 <= live21 * 1.03 and live21 <= live14 * 1.03
    assert size28 <= 2 * live28
    assert desk.made == 56 and rows28["tickets"] < 56  # without pruning: 112 (with the duplicates) and counting
