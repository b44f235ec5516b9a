"""The engine: one ticket per problem, nothing lost when the helpdesk fails, nothing doubled
after a crash, and a bad alert never blocks the ones after it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector import hookimpl
from connector.contracts.adapters import Rejected
from connector.domain.clock import FakeClock, parse_time
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.models import Alert, Priority, Ticket, TicketRef, TicketStatus
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.book import RuleBook
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine, RetryPolicy
from tests.state_backend import make_store


class Faulty(LocalBackend):
    """The local backend with injectable failures per operation name."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        super().__init__(path, clock, name="faulty")
        self.faults: dict[str, list[Exception]] = {}
        self.calls: list[str] = []

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        queue = self.faults.get(operation)
        if queue:
            raise queue.pop(0)

    def find_by_key(self, key: str) -> TicketRef | None:
        self._maybe_fail("find")
        return super().find_by_key(key)

    def create_ticket(self, ticket: Ticket) -> TicketRef:
        self._maybe_fail("create")
        return super().create_ticket(ticket)

    def resolve_ticket(self, ticket_id: str, resolution: Any) -> None:
        self._maybe_fail("resolve")
        super().resolve_ticket(ticket_id, resolution)


def unavailable(retry_after: float | None = None) -> BackendUnavailable:
    return BackendUnavailable("HTTP 503", backend="faulty", operation="POST", retry_after=retry_after)


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> Faulty:
    return Faulty(tmp_path / "tickets.db", clock)


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, backend: Faulty, pm: pluggy.PluginManager) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
        retry=RetryPolicy(initial_seconds=10, max_seconds=300),
    )


def alert(clock: FakeClock, eid: str = "101", **changes: Any) -> Alert:
    """A problem on its own host (so alerts of different ids are different problems)."""
    fields: dict[str, Any] = {
        "source": "zabbix",
        "external_id": eid,
        "title": f"Disk full on web{eid}",
        "ci": f"web{eid}",
        "severity": 4,
        "occurred_at": clock.now(),
    }
    fields.update(changes)
    return Alert(**fields)


def cycle(engine: Engine, *items: Alert | Rejected) -> None:
    engine.ingest("zabbix", list(items))
    engine.process_pending()
    engine.drain_outbox()


def test_problem_becomes_one_ticket_and_recovery_resolves_it(engine: Engine, clock: FakeClock, backend: Faulty) -> None:
    problem = alert(clock)
    cycle(engine, problem)
    cycle(engine, problem)  # the same event again (poll and push, or a restart)
    (ticket,) = backend.tickets()
    assert ticket["key"] == "zabbix:101"
    assert ticket["priority"] == Priority.HIGH  # severity 4 → impact 2 × urgency 2
    assert ticket["status"] == TicketStatus.OPEN
    clock.advance(minutes=20)
    cycle(engine, alert(clock, occurred_at=problem.occurred_at, recovered_at=clock.now()))
    (ticket,) = backend.tickets()
    assert ticket["status"] == TicketStatus.RESOLVED
    assert parse_time(ticket["outage_end"]) == clock.now()
    assert any("recovered" in note for note in ticket["notes"])


def test_the_daemons_decide_counts_a_backlog_without_keeping_its_decisions(engine: Engine, clock: FakeClock) -> None:
    """``decide_pending`` (the daemon's decide job) commits the same as ``process_pending`` but
    returns a count and hands each entry's decisions on instead of collecting a backlog's."""
    engine.ingest("zabbix", [alert(clock, str(n)) for n in range(1, 6)])
    handed: list[int] = []
    assert engine.decide_pending(lambda decided: handed.append(len(decided))) == 5
    assert handed == [1, 1, 1, 1, 1]
    assert engine.decide_pending() == 0  # nothing is decided twice
    assert engine.store.journal_pending(10) == []
    engine.ingest("zabbix", [alert(clock, "6"), alert(clock, "1")])  # a new problem, a repeat
    assert engine.decide_pending() == 1


def test_unavailable_backend_loses_nothing_and_honours_retry_after(
    engine: Engine, clock: FakeClock, backend: Faulty
) -> None:
    backend.faults["create"] = [unavailable()]
    cycle(engine, alert(clock, "1"), alert(clock, "2"))
    assert backend.tickets() == []
    (first, second) = engine.store.outbox_rows("pending")
    assert first["attempts"] == 1 and first["last_error"] == "faulty POST: HTTP 503"
    assert second["attempts"] == 0  # the target was blocked: no hammering a down server
    clock.advance(seconds=9)
    assert engine.drain_outbox() == 1  # ticket 2 lands; ticket 1 is still in its 10 s backoff
    assert [t["key"] for t in backend.tickets()] == ["zabbix:2"]
    backend.faults["create"] = [unavailable(retry_after=120)]
    clock.advance(seconds=1)
    assert engine.drain_outbox() == 0  # second failure, the server asked for 120 s
    (first,) = engine.store.outbox_rows("pending")
    assert first["attempts"] == 2
    assert first["next_try_at"] == (clock.now() + timedelta(seconds=120)).isoformat()
    clock.advance(seconds=119)
    assert engine.drain_outbox() == 0
    clock.advance(seconds=1)
    assert engine.drain_outbox() == 1
    assert sorted(t["key"] for t in backend.tickets()) == ["zabbix:1", "zabbix:2"]


def test_crash_after_create_before_commit_does_not_double(engine: Engine, clock: FakeClock, backend: Faulty) -> None:
    class Crash(BaseException):
        pass

    real_create = backend.create_ticket

    def create_then_die(ticket: Ticket) -> TicketRef:
        real_create(ticket)
        raise Crash  # the process dies after the helpdesk accepted, before the local commit

    backend.create_ticket = create_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        cycle(engine, alert(clock))
    assert engine.store.ticket_ref("zabbix:101") is None
    backend.create_ticket = real_create  # type: ignore[method-assign]
    engine.drain_outbox()
    assert len(backend.tickets()) == 1
    assert engine.store.ticket_ref("zabbix:101") == ("1", backend.ticket_url("1"))


def test_rejected_operation_is_dead_lettered_and_others_go_on(
    engine: Engine, clock: FakeClock, backend: Faulty
) -> None:
    backend.faults["create"] = [BackendRejected("HTTP 422: Subject is too long", backend="faulty", operation="POST")]
    cycle(engine, alert(clock, "1"), alert(clock, "2"))
    assert [t["key"] for t in backend.tickets()] == ["zabbix:2"]
    (dead,) = engine.store.dead_letters()
    assert dead["kind"] == "outbox" and "Subject is too long" in dead["reason"]
    clock.advance(minutes=5)
    cycle(engine, alert(clock, "1", recovered_at=clock.now()))
    reasons = [d["reason"] for d in engine.store.dead_letters()]
    assert "resolve: ticket zabbix:1 was never created (its create operation was dead-lettered)" in reasons


def test_resolve_waits_for_its_create(engine: Engine, clock: FakeClock, backend: Faulty) -> None:
    backend.faults["create"] = [unavailable()]
    problem = alert(clock)
    engine.ingest("zabbix", [problem])
    clock.advance(minutes=1)
    engine.ingest("zabbix", [alert(clock, occurred_at=problem.occurred_at, recovered_at=clock.now())])
    engine.process_pending()
    engine.drain_outbox()
    assert [r["op"] for r in engine.store.outbox_rows("pending")] == ["create", "resolve"]
    clock.advance(seconds=10)
    engine.drain_outbox()
    (ticket,) = backend.tickets()
    assert ticket["status"] == TicketStatus.RESOLVED
    # the first create went out, so its retry asks first; the resolve is one call
    assert backend.calls == ["create", "find", "create", "resolve"]


def test_a_create_is_one_call_and_a_create_that_may_have_landed_is_looked_up_first(
    engine: Engine, clock: FakeClock, backend: Faulty
) -> None:
    cycle(engine, alert(clock, "1"))
    assert backend.calls == ["create"]

    def acts_then_times_out(ticket: Ticket) -> TicketRef:
        LocalBackend.create_ticket(backend, ticket)  # the helpdesk stored it…
        raise BackendUnavailable("read timeout", backend="faulty", operation="POST")  # …but the answer was lost

    backend.create_ticket = acts_then_times_out  # type: ignore[method-assign]
    cycle(engine, alert(clock, "2"))
    del backend.create_ticket
    clock.advance(seconds=10)
    engine.drain_outbox()
    assert [t["key"] for t in backend.tickets()] == ["zabbix:1", "zabbix:2"]  # not doubled
    assert backend.calls == ["create", "find"]


def test_malformed_input_and_failing_rule_are_dead_lettered(
    engine: Engine, clock: FakeClock, backend: Faulty, pm: pluggy.PluginManager
) -> None:
    class Explodes:
        @hookimpl(tryfirst=True)
        def rule_classify(self, alert: Alert, draft: Ticket, rules: RuleBook) -> Ticket | None:
            if "boom" in alert.title:
                raise KeyError("category")
            return None

    pm.register(Explodes(), name="explodes")
    try:
        bad = Rejected("zabbix", "7", "event 7 has no host", {"eventid": "7"})
        cycle(engine, bad, alert(clock, "8", title="boom"), alert(clock, "9"))
    finally:
        pm.unregister(name="explodes")
    assert [t["key"] for t in backend.tickets()] == ["zabbix:9"]
    reasons = {d["ref"]: d["reason"] for d in engine.store.dead_letters()}
    assert reasons["7"] == "event 7 has no host"
    assert reasons["zabbix:8"] == "rule 'rule_classify' failed on alert 'zabbix:8': KeyError: 'category'"


def test_an_alert_utf8_cannot_hold_becomes_a_ticket_and_the_poll_goes_on(
    engine: Engine, clock: FakeClock, backend: Faulty
) -> None:
    odd = alert(clock, "10", description="disk \udade", raw={"\ud800": "x"})
    cycle(engine, odd, Rejected("zabbix", "11", "bad \udfff", {"body": "\udade"}), alert(clock, "12"))
    tickets = {t["key"]: t for t in backend.tickets()}
    assert sorted(tickets) == ["zabbix:10", "zabbix:12"]
    assert "disk \ufffd" in tickets["zabbix:10"]["description"]
    (dead,) = engine.store.dead_letters()
    assert (dead["ref"], dead["reason"]) == ("11", "bad \ufffd")


def test_first_seen_already_recovered_alert_creates_and_resolves(
    engine: Engine, clock: FakeClock, backend: Faulty
) -> None:
    start = clock.now()
    clock.advance(minutes=3)
    cycle(engine, alert(clock, occurred_at=start, recovered_at=clock.now()))
    (ticket,) = backend.tickets()
    assert ticket["status"] == TicketStatus.RESOLVED
    assert parse_time(ticket["outage_start"]) == start


def test_retry_policy_doubles_up_to_max() -> None:
    policy = RetryPolicy(initial_seconds=5, max_seconds=60)
    assert [policy.delay(n, None) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert policy.delay(1, 300) == 300


def test_max_attempts_dead_letters(tmp_path: Path, clock: FakeClock, backend: Faulty, pm: pluggy.PluginManager) -> None:
    engine = Engine(
        store=make_store(tmp_path / "s2.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
        retry=RetryPolicy(1, 1, max_attempts=2),
    )
    backend.faults["create"] = [unavailable()]
    backend.faults["find"] = [unavailable()]
    cycle(engine, alert(clock))
    clock.advance(seconds=1)
    engine.drain_outbox()
    (dead,) = engine.store.dead_letters()
    assert dead["reason"].startswith("create: gave up after 2 attempts")


class Recording(Faulty):
    """Records what ``update_ticket`` receives."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        super().__init__(path, clock)
        self.updates: list[dict[str, Any]] = []

    def update_ticket(self, ticket_id: str, changes: dict[str, Any], note: str | None = None) -> None:
        self.updates.append(dict(changes))
        super().update_ticket(
            ticket_id, {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in changes.items()}, note
        )


class StubSource:
    """A source that only records acknowledgements; its recovery policy is settable."""

    acknowledge_enabled = True

    def __init__(self, name: str, on_recovery: str = "resolve") -> None:
        self.name = name
        self.on_recovery = on_recovery
        self.acks: list[tuple[str, str]] = []

    def poll(self, cursor: str | None, open_ids: Any) -> Any:
        raise AssertionError("not polled in these tests")

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        self.acks.append((external_id, ref.ticket_id))

    def close(self) -> None:
        pass


def engine_with(
    tmp_path: Path, clock: FakeClock, backend: Faulty, pm: pluggy.PluginManager, *sources: StubSource
) -> Engine:
    return Engine(
        store=make_store(tmp_path / "s3.db"),
        backend=backend,
        sources={s.name: s for s in sources},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )


def test_recovery_as_note_hands_the_backend_typed_values(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    backend = Recording(tmp_path / "t.db", clock)
    engine = engine_with(tmp_path, clock, backend, pm, StubSource("zabbix", on_recovery="note"))
    problem = alert(clock)
    cycle(engine, problem)
    clock.advance(minutes=7)
    cycle(engine, alert(clock, occurred_at=problem.occurred_at, recovered_at=clock.now()))
    assert backend.updates == [{"outage_end": clock.now()}]  # a datetime, not its JSON text
    (ticket,) = backend.tickets()
    assert ticket["status"] == TicketStatus.OPEN  # the desk resolves it after checking
    assert any("resolve the ticket when confirmed" in note for note in ticket["notes"])
    assert engine.store.dead_letters() == []


def test_unexpected_error_in_one_operation_does_not_block_the_next(
    engine: Engine, clock: FakeClock, backend: Faulty
) -> None:
    backend.faults["create"] = [TypeError("ci: expected str, got 7")]
    cycle(engine, alert(clock, "1"), alert(clock, "2"))
    assert [t["key"] for t in backend.tickets()] == ["zabbix:2"]
    (dead,) = engine.store.dead_letters()
    assert dead["reason"] == "create: unexpected TypeError: ci: expected str, got 7"
    assert engine.store.outbox_counts().get("pending", 0) == 0


def test_ack_goes_to_the_source_even_when_its_name_holds_a_colon(
    tmp_path: Path, clock: FakeClock, backend: Faulty, pm: pluggy.PluginManager
) -> None:
    source = StubSource("zbx:prod")
    engine = engine_with(tmp_path, clock, backend, pm, source)
    cycle(engine, alert(clock, "41", source="zbx:prod"))
    assert source.acks == [("41", "1")]
