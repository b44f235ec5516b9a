"""IM 5.1–5.2: a user's reply to a resolved ticket — accepted, rejected or neither — read from
their own words only, and what it does to the ticket."""

from __future__ import annotations

from pathlib import Path

import pluggy
import pytest

from connector.domain.clock import FakeClock
from connector.domain.models import Alert, TicketSource, TicketStatus
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.rules.confirmation import Verdict, own_words, verdict
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from tests.state_backend import make_store

QUOTED = "\n\n> 事件状态：已解决\n> 您的事件已解决，请确认。"


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Re: [ITSM #42] 事件状态：已解决", "好了，谢谢！" + QUOTED, Verdict.ACCEPTED),
        ("Re: [ITSM #42] 事件状态：已解决", "还是不行，登录仍然报 502" + QUOTED, Verdict.REJECTED),
        ("Re: [ITSM #42] Incident resolved", "Not fixed yet, still getting 502." + QUOTED, Verdict.REJECTED),
        ("Re: [ITSM #42] Incident resolved", "Works now, thanks" + QUOTED, Verdict.ACCEPTED),
        (
            "Re: [ITSM #42] 事件状态：已解决",
            "请问是什么原因？" + QUOTED,
            Verdict.UNCLEAR,
        ),  # only the quote says resolved
        ("Re: [ITSM #42] 事件状态：已解决", "-----Original Message-----\n已解决", Verdict.UNCLEAR),
        ("财务系统已恢复正常", "", Verdict.ACCEPTED),  # the user's own subject counts
    ],
)
def test_verdict(subject: str, body: str, expected: Verdict) -> None:
    assert verdict(subject, body) is expected


def test_own_words_stop_at_the_quote() -> None:
    assert own_words("thanks\nOn Mon, 30 Nov 2026 Desk wrote:\n> resolved") == "thanks"


def reply(clock: FakeClock, eid: str, body: str) -> Alert:
    return Alert(
        source="mail",
        external_id=eid,
        title="Re: [ITSM #1] 事件状态：已解决",
        description=body + QUOTED,
        reporter="zhang.wei@metro.example",
        origin=TicketSource.USER_REPORT,
        occurred_at=clock.now(),
        reply_to="1",
    )


def test_a_rejection_reopens_the_ticket_and_an_acceptance_is_noted(
    tmp_path: Path, clock: FakeClock, pm: pluggy.PluginManager
) -> None:
    backend = LocalBackend(tmp_path / "t.db", clock)
    engine = Engine(
        store=make_store(tmp_path / "s.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )
    problem = Alert(
        source="zabbix", external_id="1", title="Login page 502", ci="erp-app02", severity=4, occurred_at=clock.now()
    )
    clock.advance(minutes=30)
    for alert in (problem, problem.model_copy(update={"recovered_at": clock.now()}), reply(clock, "m1", "还是不行")):
        engine.ingest(alert.source, [alert])
        engine.process_pending()
        engine.drain_outbox()
    state = engine.store.get("zabbix:1")
    assert state is not None and state.status is TicketStatus.IN_PROGRESS and state.resolved_at is None
    (ticket,) = backend.tickets()
    assert ticket["status"] == TicketStatus.IN_PROGRESS.value
    assert any(n.startswith("用户拒绝 zhang.wei@metro.example does not accept the resolution") for n in ticket["notes"])
    # resolved again, and this time the user is content
    backend.update_ticket("1", {"status": TicketStatus.RESOLVED.value})
    with engine.store.transaction():
        engine.store.ticket_set_status("zabbix:1", TicketStatus.RESOLVED, clock.now())
    engine.ingest("mail", [reply(clock, "m2", "好了，谢谢")])
    engine.process_pending()
    engine.drain_outbox()
    (ticket,) = backend.tickets()
    assert ticket["status"] == TicketStatus.RESOLVED.value
    assert any(n.startswith("用户确认 zhang.wei@metro.example confirms the resolution") for n in ticket["notes"])
