"""Retention (issue 15, Deliver 3): old finished rows go, in small transactions; what something
still needs stays — an unfinished journal entry, an owed operation, a dead item whose letter is
still there, an open ticket and its steps, an adopted ticket, a master a kept ticket names."""

from __future__ import annotations

import dataclasses
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.cli.main import main
from connector.domain.clock import FakeClock
from connector.domain.errors import ConfigError
from connector.domain.knowledge import Solved
from connector.domain.ledger import TicketState
from connector.domain.models import Alert, TicketStatus
from connector.runtime.config import RetentionSettings
from connector.runtime.retention_job import RetentionJob
from connector.state.retention import Cutoffs, table_names
from connector.state.schema import MIGRATIONS
from connector.state.store import Store
from tests.state_backend import make_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OLD = T0  # a year and more before NOW: past every default age
NOW = T0 + timedelta(days=500)
RECENT = NOW - timedelta(days=1)


def a_ticket(
    store: Store, key: str, at: datetime, status: TicketStatus, fingerprint: str = "fp", **values: object
) -> None:
    state = TicketState(key=key, ticket_id=None, status=TicketStatus.OPEN, fingerprint=fingerprint, created_at=at)
    store.ticket_add(dataclasses.replace(state, **values), "local")  # type: ignore[arg-type]
    if status is not TicketStatus.OPEN:
        store.ticket_set_status(key, status, at)


def journal(store: Store, key: str, at: datetime, status: str | None) -> None:
    store.journal_add("zabbix", key, key, "{}", at)
    if status is not None:
        (entry,) = [e for e in store.journal_pending() if e.event_key == key]
        store.journal_finish(entry.id, status, status, at)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "state.db")


def fill(store: Store) -> None:
    """One of each kind of row, old and recent, needed and not."""
    with store.transaction():
        journal(store, "old-done", OLD, "done")
        journal(store, "recent-done", RECENT, "done")
        journal(store, "old-pending", OLD, None)  # never decided (a bug, a crash loop): kept
        store.journal_dead("zabbix", "old-dead-lettered", "x", "{}", "bad input", NOW - timedelta(days=40))
        store.journal_dead("zabbix", "old-dead-purged", "y", "{}", "bad input", OLD)
        store.purge_dead_letters([store.dead_letter_rows()[-1].id])  # its letter purged: the item may go

        done = store.enqueue("backend", "note", "t-old", {}, OLD)
        store.op_done(done, OLD)
        store.op_done(store.enqueue("backend", "note", "t-old", {}, RECENT), RECENT)
        store.enqueue("backend", "note", "t-owed", {}, OLD)  # owed for over a year: kept
        dead = store.enqueue("backend", "update", "t-old", {}, OLD)
        (op,) = [o for o in store.pending_ops(100) if o.id == dead]
        store.op_dead(op, "refused", NOW - timedelta(days=40))  # its letter is 40 days old: both kept

        store.dead_letter("intake", "mail", None, "spam", None, OLD)  # past 90 days: goes

        a_ticket(store, "t-old", OLD, TicketStatus.CLOSED)
        store.ticket_set_ref("t-old", "101", "http://helpdesk/101")
        store.set_helpdesk_seen("local", "101", OLD)  # what the sync-back knew of it goes with it
        store.set_helpdesk_seen("local", "102", OLD)  # a ticket the connector still holds: kept
        store.record_step("t-old", "notice:P1", OLD, OLD, False)
        store.alias_add("zabbix:repeat", "t-old", OLD)
        store.storm_note_written("t-old", OLD)  # the storm guard's note row goes with its master
        store.storm_note_written("t-open", OLD)  # an open master's: kept
        store.problem_add("problem:1", "db1|fp", OLD)  # the problem record stays, its old incident's link goes
        store.problem_link("t-old", "problem:1", OLD)
        store.problem_link("t-open", "problem:1", OLD)
        store.change_link_add("t-old", "42", OLD)
        store.change_link_close("t-old", "42", OLD)
        for key, at in (("t-old", OLD), ("t-dup", RECENT)):  # what a solved ticket taught: as old as it
            store.remember_solved(Solved(key, "1", "disk full", "db1", "fp", "Hardware", "rotated logs", at))
        a_ticket(store, "helpdesk:7", OLD, TicketStatus.CLOSED)  # adopted: kept
        a_ticket(store, "t-open", OLD, TicketStatus.IN_PROGRESS)
        store.ticket_set_ref("t-open", "102", "http://helpdesk/102")  # open for a year: kept, with its steps
        store.record_step("t-open", "escalate:1", OLD, OLD, True)
        a_ticket(store, "t-master", OLD, TicketStatus.CLOSED)  # a kept duplicate names it: kept
        a_ticket(store, "t-dup", RECENT, TicketStatus.CLOSED, master_key="t-master")
        a_ticket(store, "t-owed", OLD, TicketStatus.CLOSED)  # an operation is still owed for it: kept

        store.change_add("fp-a", OLD)
        store.change_add("fp-a", OLD + timedelta(minutes=5))  # the newest of a flapping ticket's: kept
        a_ticket(store, "t-flap", OLD, TicketStatus.OPEN, fingerprint="fp-a")
        store.ticket_set_flapping("t-flap", OLD)
        store.change_add("fp-b", RECENT)
        store.change_add("fp-c", OLD)  # no flapping ticket: both go
        store.change_add("fp-c", OLD + timedelta(minutes=5))
        store.hold_add(Alert(source="zabbix", external_id="h1", title="t", occurred_at=OLD), None, OLD)
        store.problem_recovered("zabbix:h1", OLD)  # recovered while held: finished
        for held in ("h2", "h3"):
            store.hold_add(Alert(source="zabbix", external_id=held, title="t", occurred_at=OLD), None, OLD)
        store.problem_recovered("zabbix:h3", RECENT)  # held long, recovered lately: kept (h2: still held)


def test_old_finished_rows_go_and_what_is_needed_stays(store: Store) -> None:
    fill(store)
    result = RetentionJob(store, FakeClock(NOW), RetentionSettings()).run()

    assert {o.event_key for o in store.journal_outcomes()} == {"recent-done", "old-pending", "old-dead-lettered"}
    assert {(r["ticket_key"], r["status"]) for r in store.outbox_rows()} == {
        ("t-old", "done"),  # the recent one
        ("t-owed", "pending"),
        ("t-old", "dead"),
    }
    assert [x.reason for x in store.dead_letter_rows()] == ["bad input", "update: refused"]
    assert {t["key"] for t in store.all_tickets()} == {"helpdesk:7", "t-open", "t-master", "t-dup", "t-owed", "t-flap"}
    assert [s["key"] for s in store.steps()] == ["t-open"]
    assert store.alias_of("zabbix:repeat") is None
    assert store.last_change("fp-a") == OLD + timedelta(minutes=5) and store.state_changes("fp-a", OLD) == 1
    assert store.last_change("fp-c") is None and store.last_change("fp-b") == RECENT
    assert store.is_held("zabbix:h2") and store.hold_counts() == {"held": 1, "recovered": 1, "opened": 0}
    assert result.deleted == {
        "dead_letter": 1,
        "journal": 2,
        "outbox": 1,
        "state_changes": 3,
        "holds": 1,
        "steps": 1,
        "tickets": 1,
        "aliases": 1,
        "ticket_upstreams": 0,
        "storm_notes": 1,
        "problem_links": 1,
        "change_links": 1,
        "helpdesk_seen": 1,
        "solved": 1,
    }
    assert store.storm_note("t-old") is None and store.storm_note("t-open") is not None
    assert store.solved("t-old") is None and store.solved("t-dup") is not None
    assert store.problem_of("t-old") is None and store.problem_of("t-open") == "problem:1"
    assert store.helpdesk_seen("local", "101") is None and store.helpdesk_seen("local", "102") == OLD


def test_a_dry_run_counts_what_a_pass_deletes_and_deletes_nothing(store: Store) -> None:
    fill(store)
    before = store.table_rows()
    dry = RetentionJob(store, FakeClock(NOW), RetentionSettings()).run(dry_run=True)
    assert store.table_rows() == before and dry.batches == 0
    real = RetentionJob(store, FakeClock(NOW), RetentionSettings()).run()
    assert {k: v for k, v in dry.deleted.items() if v} == {k: v for k, v in real.deleted.items() if v}
    assert sum(before.values()) - sum(store.table_rows().values()) == real.total


def test_nothing_goes_before_its_age_and_null_or_zero_keeps_forever(store: Store) -> None:
    fill(store)
    before = store.table_rows()
    assert RetentionJob(store, FakeClock(OLD + timedelta(days=29)), RetentionSettings()).run().total == 0
    forever = RetentionSettings(
        journal_days=None, outbox_days=0, steps_days=None, dead_letter_days=0, tickets_days=None
    )
    assert RetentionJob(store, FakeClock(NOW), forever).run().total == 0
    assert store.table_rows() == before


def test_deletes_in_batches_and_stops_between_two(store: Store) -> None:
    with store.transaction():
        for n in range(1200):
            journal(store, f"e{n}", OLD, "done")
    settings = RetentionSettings(batch=500)
    asked: list[int] = []

    def stopping() -> bool:  # asked before each batch; a stop comes after the first journal batch
        asked.append(len(store.journal_outcomes()))
        return asked[-1] < 1200

    first = RetentionJob(store, FakeClock(NOW), settings, stopping=stopping).run()
    # dead letters (none), the journal's first batch, then the stop: no other rule runs
    assert (first.deleted, first.batches, asked) == ({"dead_letter": 0, "journal": 500}, 1, [1200, 1200, 700])
    rest = RetentionJob(store, FakeClock(NOW), settings).run()
    assert (rest.deleted["journal"], rest.batches) == (700, 2)  # 500, then 200: the last batch
    assert store.journal_outcomes() == []


def test_tickets_stay_at_least_the_recurrence_window_and_steps_go_with_their_ticket(store: Store) -> None:
    job = RetentionJob(
        store,
        FakeClock(NOW),
        RetentionSettings(tickets_days=1, steps_days=30),
        recurrence_window=lambda: timedelta(days=7),
    )
    cutoffs = job.cutoffs(NOW)
    assert cutoffs.tickets == NOW - timedelta(days=7)  # not 1: a recurrence needs the ticket it repeats
    assert cutoffs.steps == cutoffs.tickets  # a ticket's steps cannot outlive it
    assert Cutoffs.at(NOW, steps=timedelta(days=3), tickets=timedelta(days=9)).steps == NOW - timedelta(days=3)


def test_every_table_of_the_schema_is_counted(store: Store) -> None:
    rows = store.table_rows()
    assert set(rows) == set(table_names()) and {"journal", "outbox", "tickets", "steps", "dead_letter"} <= set(rows)
    assert all(f"CREATE TABLE {name}" in "".join(MIGRATIONS) for name in rows)


def test_negative_ages_are_refused_with_the_line(tmp_path: Path) -> None:
    from connector.contracts.plugin_manager import build_plugin_manager
    from connector.runtime.app import load

    config = tmp_path / "connector.yaml"
    config.write_text(
        "state: {path: state.db}\nbackend: {type: local, path: helpdesk.db}\n"
        "retention:\n  journal_days: -1\n  batch: 0\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(config, build_plugin_manager())
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "connector.yaml:4" in text and "journal_days" in text
    assert "connector.yaml:5" in text and "batch" in text
    config.write_text(
        "state: {path: state.db}\nbackend: {type: local, path: helpdesk.db}\nretention: {journal_days: null}\n"
    )
    loaded, _ = load(config, build_plugin_manager())
    assert loaded.core.retention.journal_days is None and loaded.core.retention.outbox_days == 30


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_state_prune_and_status_sizes_from_the_command_line(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    with store.transaction():  # finished long ago by the real clock
        for n in range(3):
            journal(store, f"e{n}", datetime(2020, 1, 1, tzinfo=UTC), "done")
    store.close()
    config = tmp_path / "connector.yaml"
    config.write_text("state: {path: state.db}\nbackend: {type: local, path: helpdesk.db}\n")

    code, stdout, stderr = cli("status", "-c", str(config), "--json")
    assert code == 0, stderr
    status = json.loads(stdout)
    assert {"state", "schema", "journal", "outbox", "dead_letters", "maintenance"} <= set(status)  # scripted keys
    assert status["journal"] == {"done": 3} and status["sizes"]["rows"]["journal"] == 3
    assert status["sizes"]["file_bytes"] == (tmp_path / "state.db").stat().st_size > 0

    code, stdout, stderr = cli("state", "prune", "-c", str(config), "--dry-run")
    assert code == 0, stderr
    assert "journal        would delete        3" in stdout
    code, stdout, _ = cli("state", "prune", "-c", str(config), "--json")
    assert json.loads(stdout)["deleted"]["journal"] == 3
    code, stdout, _ = cli("status", "-c", str(config))
    assert "table rows" in stdout and "0 journal" in stdout and "file size" in stdout


def test_the_daemon_runs_the_prune_job_on_its_schedule_and_survives_a_failure(tmp_path: Path) -> None:
    from connector.contracts.plugin_manager import build_plugin_manager
    from connector.plugins.local import LocalBackend
    from connector.process.pipeline import Pipeline
    from connector.rules.loading import default_rulebook
    from connector.runtime.daemon import Daemon
    from connector.runtime.engine import Engine

    clock = FakeClock(NOW)
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=LocalBackend(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(build_plugin_manager(), default_rulebook()),
        clock=clock,
    )
    with engine.store.transaction():
        journal(engine.store, "old", OLD, "done")
    calls: list[int] = []

    def prune() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("a broken pass")  # logged; the job runs again at its next time
        # engine.store as the daemon runs it (its job threads each get their own connection)
        RetentionJob(engine.store, clock, RetentionSettings(), stopping=engine.stopping.is_set).run()
        daemon.stop()

    daemon = Daemon(engine, poll_seconds=3600, drain_seconds=3600, sweep_seconds=3600, prune=prune, prune_seconds=0.01)
    try:
        assert daemon.run(install_signals=False) == 0
    finally:
        engine.store.close()
    assert calls == [0, 1]
    store = Store(tmp_path / "state.db")
    assert store.journal_outcomes() == []
    store.close()
