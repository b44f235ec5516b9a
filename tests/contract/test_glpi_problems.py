"""Issue 13 on the GLPI double (GLPI 10's documented API, ``glpi_itil_fake``): a major incident
opens one ``Problem`` linked by ``Problem_Ticket``; a later incident of the same root cause is
linked to it with a follow-up on the problem; a ``Change_Ticket`` a person makes puts the ticket
in GLPI's pending status with the configured reason until the change is closed. Every create —
the Problem, the Problem_Ticket, the follow-up — is done once when GLPI commits and then
answers 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest
import responses
from pydantic import SecretStr

from connector.domain.clock import FakeClock
from connector.domain.models import Alert, TicketStatus
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.integrations.glpi.fields import key_from_content
from connector.integrations.glpi.settings import GlpiLinks
from connector.process.pipeline import Pipeline
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.contract.glpi_fake import URL, USER_TOKEN, html_to_text
from tests.contract.glpi_itil_fake import CHANGE_CLOSED, ItilGlpiFake
from tests.state_backend import make_store

T0 = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[ItilGlpiFake]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield ItilGlpiFake(rsps, clock)


@pytest.fixture
def engine(fake: ItilGlpiFake, clock: FakeClock, tmp_path: Path, pm: pluggy.PluginManager) -> Iterator[Engine]:
    settings = GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN), links=GlpiLinks(pending_reason="待定变更 CAB"))
    backend = GlpiBackend(settings, clock=clock)
    made = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )
    yield made
    backend.close()
    made.store.close()


def alert(clock: FakeClock, eid: str, **more: Any) -> Alert:
    fields: dict[str, Any] = {
        "source": "zabbix",
        "external_id": eid,
        "title": "core switch down",
        "ci": "core-sw01",
        "impact": 1,
        "urgency": 1,
        "occurred_at": clock.now(),
    }
    fields.update(more)
    return Alert(**fields)


def cycle(engine: Engine, sync: SyncBack, *alerts: Alert) -> None:
    if alerts:
        engine.ingest("zabbix", list(alerts))
        engine.process_pending()
    engine.drain_outbox()
    sync.run()
    engine.drain_outbox(ignore_backoff=True)


def tid_of(engine: Engine, key: str) -> int:
    ref = engine.store.ticket_ref(key)
    assert ref is not None
    return int(ref.ticket_id)


def test_a_major_incident_opens_one_problem_even_when_glpi_answers_500_after_each_commit(
    engine: Engine, fake: ItilGlpiFake, clock: FakeClock
) -> None:
    sync = SyncBack(engine)
    fake.fail("POST", "Problem/", after=True)
    fake.fail("POST", "Problem_Ticket/", after=True)
    cycle(engine, sync, alert(clock, "1"))  # the Problem committed, its answer lost
    clock.advance(minutes=1)
    cycle(engine, sync)  # found by its key; the Problem_Ticket committed, its answer lost
    clock.advance(minutes=1)
    cycle(engine, sync)  # GLPI refuses the pair again: it is there, so done
    ((problem_id, problem),) = fake.problems.items()
    assert key_from_content(problem["content"]) == "problem:zabbix:1"
    text = html_to_text(problem["content"])
    assert "core-sw01" in text and "major incident P1" in text and "timeline" in text
    assert problem["name"].endswith("core switch down")
    assert fake.problem_links() == {(problem_id, tid_of(engine, "zabbix:1"))}
    assert fake.count("POST", "Problem/") == 1 and fake.count("POST", "Problem_Ticket/") == 2
    assert engine.store.outbox_rows("pending") == [] and engine.store.dead_letters() == []
    assert any("problem record problem:zabbix:1 raised" in f for f in fake.followups_of(tid_of(engine, "zabbix:1")))


def test_the_same_root_cause_is_linked_to_the_same_problem_with_one_follow_up(
    engine: Engine, fake: ItilGlpiFake, clock: FakeClock
) -> None:
    sync = SyncBack(engine)
    cycle(engine, sync, alert(clock, "1"))
    clock.advance(minutes=30)
    cycle(engine, sync, alert(clock, "1", occurred_at=T0, recovered_at=clock.now()))
    clock.advance(days=2)
    fake.fail("POST", "ITILFollowup/", after=True)  # the problem's follow-up: committed, then 500
    cycle(engine, sync, alert(clock, "2"))
    cycle(engine, sync)
    ((problem_id, _),) = fake.problems.items()
    assert fake.problem_links() == {(problem_id, tid_of(engine, "zabbix:1")), (problem_id, tid_of(engine, "zabbix:2"))}
    (note,) = fake.problem_notes(problem_id)
    assert "zabbix:2" in html_to_text(note["content"]) and "同一根因" in html_to_text(note["content"])
    # the one POST of it was the one answered 500 after the commit: the retry read it back instead
    posted = [
        i
        for i, (method, path, _, body) in enumerate(fake.bodies)
        if method == "POST" and path.startswith("ITILFollowup") and b'"Problem"' in body
    ]
    assert [fake.statuses[i][1] for i in posted] == [500]
    assert engine.store.outbox_rows("pending") == [] and engine.store.dead_letters() == []


def test_a_linked_change_holds_the_ticket_pending_with_the_reason_until_the_change_closes(
    engine: Engine, fake: ItilGlpiFake, clock: FakeClock
) -> None:
    sync = SyncBack(engine)
    cycle(engine, sync, alert(clock, "7", impact=3, urgency=3, ci="db01", title="disk full"))
    tid = tid_of(engine, "zabbix:7")
    clock.advance(minutes=10)
    change = fake.add_change("扩容 extend the volume")
    fake.link_change(change, tid)
    cycle(engine, sync)
    assert fake.ticket(tid)["status"] == 4  # GLPI's Pending
    state = engine.store.get("zabbix:7")
    assert state is not None and state.status is TicketStatus.PENDING_CHANGE and state.suspended_since == clock.now()
    pending = [f for f in fake.followups_of(tid) if "pending change" in f]
    assert len(pending) == 1 and pending[0].startswith("待定变更 CAB: 待定变更 pending change: change #")
    assert "extend the volume" in pending[0]
    cycle(engine, sync)  # nothing new
    assert len([f for f in fake.followups_of(tid) if "pending change" in f]) == 1
    clock.advance(hours=1)
    fake.set_change_status(change, CHANGE_CLOSED)
    cycle(engine, sync)
    assert fake.ticket(tid)["status"] == 1  # never accepted: back to New
    state = engine.store.get("zabbix:7")
    assert state is not None and state.status is TicketStatus.OPEN
    assert state.suspensions == ((clock.now() - timedelta(hours=1), clock.now()),)
    assert any("变更已关闭" in f for f in fake.followups_of(tid))
    assert not fake.problems  # a P3: no problem record
