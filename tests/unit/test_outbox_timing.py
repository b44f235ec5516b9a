"""What the outbox stamps is when it happened, not when the drain pass began (issue 15): behind a
slow helpdesk a pass lasts many seconds, and the connector's own timings — how long an operation
took to land, when a dead letter failed, when the next try is due — were up to a pass early.
A helpdesk that takes 7 s per call on the fake clock shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy

from connector.domain.clock import FakeClock, parse_time
from connector.domain.errors import BackendRejected, BackendUnavailable
from connector.domain.models import Alert, TicketRef
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine, RetryPolicy
from connector.state.store import Store


class SlowDesk(LocalBackend):
    """7 s per create; refuses the ticket of web1 and is unreachable for that of web2."""

    def __init__(self, path: Path, clock: FakeClock) -> None:
        super().__init__(path, clock)
        self._fake = clock

    def create_ticket(self, ticket: Any) -> TicketRef:
        self._fake.advance(seconds=7)
        if ticket.ci == "web1":
            raise BackendRejected("no such tracker", backend=self.name, operation="create")
        if ticket.ci == "web2":
            raise BackendUnavailable("timed out", backend=self.name, operation="create")
        return super().create_ticket(ticket)


def problem(clock: FakeClock, eid: str) -> Alert:
    return Alert(
        source="zabbix",
        external_id=eid,
        title=f"Disk full on web{eid}",
        ci=f"web{eid}",
        severity=4,
        occurred_at=clock.now(),
    )


def test_done_dead_and_retry_are_stamped_when_they_happened(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    start = clock.now()
    engine = Engine(
        store=Store(tmp_path / "state.db"),
        backend=SlowDesk(tmp_path / "tickets.db", clock),
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
        retry=RetryPolicy(initial_seconds=5.0, max_seconds=5.0),
    )
    engine.ingest("zabbix", [problem(clock, str(n)) for n in range(3)])
    engine.process_pending()
    engine.drain_outbox()

    def seconds(value: str | None) -> int:
        assert value is not None
        return round((parse_time(value) - start).total_seconds())

    (done,) = [row for row in engine.store.outbox_rows("done") if row["op"] == "create"]
    (dead,) = engine.store.outbox_rows("dead")
    (waiting,) = [row for row in engine.store.outbox_rows("pending") if row["op"] == "create"]
    assert seconds(done["done_at"]) == 7  # web0 landed after its 7 s
    assert seconds(dead["done_at"]) == 14  # web1 was refused at 14 s, not at the pass's 0 s
    assert seconds(waiting["next_try_at"]) == 21 + 5  # web2 failed at 21 s: next try 5 s later
