"""Issue 12 on the GLPI double (GLPI 10's documented API): a ticket the desk opens in GLPI itself
— through its own API token, with only a title, a text, impact and urgency, as the GLPI UI or
its mail collector would — is adopted by one sync-back pass (the matrix priority in GLPI's own
field, the time to resolve, a follow-up saying so), escalates on the fake clock, and a second
pass or a restart changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pluggy
import pytest
import requests
import responses
from pydantic import SecretStr

from connector.domain.clock import FakeClock
from connector.domain.models import Priority
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.process.escalation import SweepRules
from connector.process.pipeline import Pipeline
from connector.rules.ladder import load_escalation, load_notification_rules
from connector.rules.loading import default_rulebook
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.contract.glpi_fake import URL, USER_TOKEN, GlpiFake
from tests.state_backend import make_store

T0 = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)
DESK_TOKEN = "desk-t0ken-0123456789abcdef"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GlpiFake]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        glpi = GlpiFake(rsps, clock)
        glpi.add_user_token(DESK_TOKEN, "desk", realname="服务台", firstname="值班")
        yield glpi


@pytest.fixture
def engine(fake: GlpiFake, clock: FakeClock, tmp_path: Path, pm: pluggy.PluginManager) -> Iterator[Engine]:
    backend = GlpiBackend(GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN)), clock=clock)
    book = default_rulebook()
    made = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, book),
        clock=clock,
        sweep_rules=SweepRules(book.sla, load_escalation(), load_notification_rules()),
    )
    yield made
    backend.close()
    made.store.close()


def open_in_glpi(urgency: int, impact: int, entity: int | None = None) -> str:
    """The desk's own ticket, through GLPI's API as the desk (no connector key in it)."""
    session = requests.Session()
    token = session.get(f"{URL}/initSession", headers={"Authorization": f"user_token {DESK_TOKEN}"})
    session.headers["Session-Token"] = token.json()["session_token"]
    body = {
        "input": {
            "name": "财务系统无法登录 cannot log in to the finance system",
            "content": "&lt;p&gt;phone call: the finance department cannot log in&lt;/p&gt;",
            "urgency": urgency,
            "impact": impact,
            **({"entities_id": entity} if entity is not None else {}),
        }
    }
    answer = session.post(f"{URL}/Ticket", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def cycle(engine: Engine, sync: SyncBack) -> int:
    applied = sync.run()
    engine.drain_outbox()
    return applied


def test_a_ticket_the_desk_opened_in_glpi_is_adopted_once_and_escalates(
    engine: Engine, fake: GlpiFake, clock: FakeClock
) -> None:
    sync = SyncBack(engine)
    cycle(engine, sync)  # the first pass: adoption starts now
    clock.set(T0 + timedelta(minutes=1))
    # GLPI's 5-step scales: urgency 4 "high" and impact 4 "high" are the seed's 2 (settings' defaults)
    tid = open_in_glpi(urgency=4, impact=4)
    clock.set(T0 + timedelta(minutes=2))
    cycle(engine, sync)

    key = f"helpdesk:{tid}"
    state = engine.store.get(key)
    assert state is not None and state.ticket_id == tid
    assert (state.impact, state.urgency, state.priority) == (2, 2, Priority.HIGH)
    row = fake.ticket(tid)
    assert row["priority"] == 4  # GLPI's "high": the seed's P2 (settings: priority_map)
    assert row["time_to_resolve"] == "2026-10-02 01:16:00"  # registered 01:01 + P2 response 15 min
    assert any("接管 adopted into the incident process: P2" in f for f in fake.followups_of(tid))

    # a second pass and a restart change nothing
    followups = len(fake.followups_of(tid))
    clock.set(T0 + timedelta(minutes=3))
    assert cycle(engine, sync) == 0
    assert cycle(engine, SyncBack(engine)) == 0
    assert len(fake.followups_of(tid)) == followups
    assert [t["key"] for t in engine.store.all_tickets()] == [key]

    # the ladder on the fake clock: P2 level 1 at 5 minutes after registration (01:06)
    clock.set(T0 + timedelta(minutes=6))
    engine.sweep()
    fired = {s["step"]: s["fired_at"] for s in engine.store.steps(key)}
    assert fired["escalation:1"] == (T0 + timedelta(minutes=6)).isoformat()


def test_a_ticket_opened_before_the_first_pass_is_left_alone(engine: Engine, fake: GlpiFake, clock: FakeClock) -> None:
    tid = open_in_glpi(urgency=3, impact=3)
    clock.set(T0 + timedelta(minutes=1))
    cycle(engine, SyncBack(engine))
    assert engine.store.all_tickets() == []
    assert fake.followups_of(tid) == []


def test_a_ticket_of_an_entity_the_site_leaves_alone_is_not_adopted(
    fake: GlpiFake, clock: FakeClock, tmp_path: Path, pm: pluggy.PluginManager
) -> None:
    """Issue 12, item 3: ``adoption.skip_entities`` names GLPI entities by complete name; their
    tickets, and those of the entities below them, stay the desk's; the others are adopted."""
    from connector.rules.people_files import AdoptionModel

    for ident, name, parent in ((3, "Finance", 0), (4, "Branch", 3), (5, "Network", 0)):
        complete = "Root entity > Finance > Branch" if ident == 4 else f"Root entity > {name}"
        fake.entities[ident] = {"id": ident, "name": name, "completename": complete, "entities_id": parent, "level": 2}
    backend = GlpiBackend(GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN)), clock=clock)
    book = default_rulebook()
    engine = Engine(
        store=make_store(tmp_path / "state.db"),
        backend=backend,
        sources={},
        pipeline=Pipeline.from_manager(pm, book),
        clock=clock,
        sweep_rules=SweepRules(book.sla, load_escalation(), load_notification_rules()),
    )
    lifecycle = book.lifecycle.model_copy(update={"adoption": AdoptionModel(skip_entities=["Root entity > Finance"])})
    sync = SyncBack(engine, lifecycle=lifecycle)
    cycle(engine, sync)
    clock.set(T0 + timedelta(minutes=1))
    finance, branch, network = (open_in_glpi(urgency=3, impact=3, entity=e) for e in (3, 4, 5))
    clock.set(T0 + timedelta(minutes=2))
    cycle(engine, sync)
    assert [t["key"] for t in engine.store.all_tickets()] == [f"helpdesk:{network}"]
    assert fake.followups_of(finance) == [] and fake.followups_of(branch) == []
    assert any("接管 adopted" in f for f in fake.followups_of(network))
    backend.close()
    engine.store.close()


def follow_up(token: str, ticket_id: str, text: str) -> None:
    """A person's follow-up on a GLPI ticket, through GLPI's API as that person."""
    session = requests.Session()
    answer = session.get(f"{URL}/initSession", headers={"Authorization": f"user_token {token}"})
    session.headers["Session-Token"] = answer.json()["session_token"]
    body = {"input": {"itemtype": "Ticket", "items_id": int(ticket_id), "content": text}}
    assert session.post(f"{URL}/ITILFollowup", json=body).status_code == 201


def test_a_leaders_follow_up_verifies_a_closed_ticket_and_anyone_elses_is_refused(
    engine: Engine, fake: GlpiFake, clock: FakeClock, tmp_path: Path
) -> None:
    """Issue 12, item 5 on GLPI: a duty-group leader's follow-up line ``verified`` verifies the
    closed record; an engineer's is refused (a follow-up saying so) and leaves it unverified."""
    import textwrap

    from connector.domain.models import TicketStatus
    from connector.notify.people import Directory, load_people
    from connector.process.roster import DirectoryRoster

    fake.add_user_token("lead-t0ken-0123456789abcdef", "zhou.min", realname="周", firstname="敏")
    fake.add_user_token("eng-t0ken-0123456789abcdef", "zhangw", realname="张", firstname="伟")
    (tmp_path / "people.yaml").write_text(
        textwrap.dedent(
            """
            roles:
              incident_manager: {zh: 事件经理, en: incident manager}
              service_desk: {zh: 服务台, en: service desk}
              duty_group_leader: {zh: 值班组组长, en: duty-group leader}
            people:
              boss: {name: 廖清, email: boss@metro.example, roles: [incident_manager]}
              zhou: {name: 周敏, email: zhou@metro.example, roles: [duty_group_leader], logins: [zhou.min]}
              zhang: {name: 张伟, email: zhang@metro.example, logins: [zhangw]}
            groups: {}
            """
        ),
        encoding="utf-8",
    )
    sync = SyncBack(engine, DirectoryRoster(Directory(load_people(tmp_path / "people.yaml"))))
    cycle(engine, sync)
    clock.set(T0 + timedelta(minutes=1))
    tid = open_in_glpi(urgency=3, impact=3)
    clock.set(T0 + timedelta(minutes=2))
    cycle(engine, sync)
    key = f"helpdesk:{tid}"
    with engine.store.transaction():  # the record is closed (how is the lifecycle's, tested elsewhere)
        engine.store.ticket_set_status(key, TicketStatus.CLOSED, T0 + timedelta(minutes=2))

    clock.set(T0 + timedelta(minutes=3))
    follow_up("eng-t0ken-0123456789abcdef", tid, "verified")
    clock.set(T0 + timedelta(minutes=4))
    cycle(engine, sync)
    state = engine.store.get(key)
    assert state is not None and state.verified_at is None
    assert any(
        "核查被拒绝 verification refused: zhangw is not a duty-group leader" in f for f in fake.followups_of(tid)
    )

    clock.set(T0 + timedelta(minutes=5))
    follow_up("lead-t0ken-0123456789abcdef", tid, "checked the record\nverified")
    clock.set(T0 + timedelta(minutes=6))
    cycle(engine, sync)
    state = engine.store.get(key)
    assert state is not None and state.verified_at == T0 + timedelta(minutes=5)
    assert any("已核查 verified by the duty-group leader zhou.min" in f for f in fake.followups_of(tid))
