"""Knowledge in the running connector (issue 13): the CI link and the similar-incident note after
a create, what the sync-back learns from a solved ticket, the knowledge-base candidate owed once,
and a failing lookup that never holds up the ticket — an engine, its store and a helpdesk (the
local backend, with the two knowledge capabilities a real helpdesk adds)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector.contracts.capabilities import BackendCapabilities
from connector.domain.clock import FakeClock
from connector.domain.knowledge import KbArticle
from connector.domain.models import Alert
from connector.plugins.local import LocalBackend
from connector.process.pipeline import Pipeline
from connector.process.similar import NOTE_HEADING
from connector.rules.loading import default_rulebook
from connector.runtime import knowledge
from connector.runtime.engine import Engine
from connector.runtime.syncback import SyncBack
from tests.state_backend import make_store


class Learning(LocalBackend):
    """The local helpdesk with a knowledge base and CI objects, recording what it was asked."""

    kb_candidates_enabled = True
    ci_links_enabled = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.articles: list[KbArticle] = []
        self.ci_links: list[tuple[str, str]] = []

    def write_kb_candidate(self, article: KbArticle) -> str:
        self.articles.append(article)
        return f"KB_candidate_{article.ticket_id}"

    def link_ci(self, ticket_id: str, ci: str) -> str | None:
        self.ci_links.append((ticket_id, ci))
        return f"Computer/{ci}" if ci.startswith("web") else None


@pytest.fixture
def helpdesk(tmp_path: Path, clock: FakeClock) -> Learning:
    return Learning(tmp_path / "tickets.db", clock)


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock, helpdesk: Learning, pm: pluggy.PluginManager) -> Engine:
    return Engine(
        store=make_store(tmp_path / "state.db"),
        backend=helpdesk,
        sources={},
        pipeline=Pipeline.from_manager(pm, default_rulebook()),
        clock=clock,
    )


def alert(clock: FakeClock, eid: str, host: str = "web1", title: str = "Disk full on web1") -> Alert:
    return Alert(source="zabbix", external_id=eid, title=title, ci=host, severity=4, occurred_at=clock.now())


def cycle(engine: Engine, *alerts: Alert) -> None:
    engine.ingest("zabbix", list(alerts))
    engine.process_pending()
    engine.drain_outbox()


def notes_of(helpdesk: LocalBackend, ticket_id: str) -> list[str]:
    history = helpdesk.ticket_history(ticket_id)
    return [c.new or "" for c in history.changes if c.kind.value == "note"]


def test_the_capabilities_are_found_once_and_only_when_switched_on(helpdesk: Learning) -> None:
    found = BackendCapabilities.of(helpdesk)
    assert found.knowledge_base is helpdesk and found.ci_links is helpdesk
    assert "KnowledgeBase" in found.names and "CiLinker" in found.names
    helpdesk.kb_candidates_enabled = False  # type: ignore[misc]
    assert BackendCapabilities.of(helpdesk).knowledge_base is None


def test_a_solved_close_teaches_the_next_incident_on_the_ci_and_makes_one_kb_candidate(
    engine: Engine, clock: FakeClock, helpdesk: Learning
) -> None:
    sync = SyncBack(engine)
    sync.run()
    cycle(engine, alert(clock, "1"))
    first = engine.store.get("zabbix:1")
    assert first is not None and first.ticket_id is not None
    tid = first.ticket_id
    assert helpdesk.ci_links == [(tid, "web1")]  # the CI object is linked, not only named
    assert not any(NOTE_HEADING in n for n in notes_of(helpdesk, tid))  # nothing solved yet

    clock.advance(timedelta(minutes=20))
    solution = "Root cause: log rotation was switched off\nRotated the logs and switched rotation on."
    helpdesk.update_ticket(tid, {"status": "resolved", "solution": solution}, actor="wangf")
    clock.advance(timedelta(minutes=20))
    helpdesk.update_ticket(tid, {"status": "closed", "closure_code": "success"}, actor="zhangw")
    clock.advance(timedelta(minutes=1))
    sync.run()
    engine.drain_outbox()
    taught = engine.store.solved("zabbix:1")
    assert taught is not None and taught.solution == solution and taught.ci == "web1"
    assert [(a.key, a.ticket_id, a.root_cause) for a in helpdesk.articles] == [
        ("zabbix:1", tid, "log rotation was switched off")
    ]

    clock.advance(timedelta(minutes=5))
    helpdesk.add_note(tid, "thanks", actor="zhangw")  # the closed ticket is read again
    sync.run()
    engine.drain_outbox()
    assert len(helpdesk.articles) == 1  # once per ticket

    clock.advance(timedelta(hours=2))
    cycle(engine, alert(clock, "2"))  # the same trigger on the same CI, after the close
    second = engine.store.get("zabbix:2")
    assert second is not None and second.ticket_id is not None
    [note] = [n for n in notes_of(helpdesk, second.ticket_id) if NOTE_HEADING in n]
    assert f"#{tid} Disk full on web1" in note and "same CI + symptom" in note
    assert "Rotated the logs and switched rotation on." in note


def test_a_duplicate_gets_no_note_and_no_candidate_of_its_own(
    engine: Engine, clock: FakeClock, helpdesk: Learning
) -> None:
    cycle(engine, alert(clock, "1"))
    clock.advance(timedelta(minutes=1))
    cycle(engine, alert(clock, "2"))  # the same problem again within the window: a duplicate
    second = engine.store.get("zabbix:2")
    assert second is not None and second.master_key == "zabbix:1" and second.ticket_id is not None
    assert len(helpdesk.ci_links) == 1  # the master's
    assert not any(NOTE_HEADING in n for n in notes_of(helpdesk, second.ticket_id))


def test_a_failing_lookup_is_logged_and_skipped_and_the_ticket_stands(
    engine: Engine,
    clock: FakeClock,
    helpdesk: Learning,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("similar index is broken")

    monkeypatch.setattr(knowledge, "find_similar", broken)
    with caplog.at_level(logging.WARNING, logger="connector.runtime.knowledge"):
        cycle(engine, alert(clock, "1"))
    state = engine.store.get("zabbix:1")
    assert state is not None and state.ticket_id is not None  # created, and its create done
    assert [op for op in engine.store.pending_ops(100) if op.op == "create"] == []
    assert "similar incidents skipped: similar index is broken" in caplog.text
    assert helpdesk.ci_links == [(state.ticket_id, "web1")]  # the CI link did not depend on it


def test_a_desk_made_ticket_is_linked_to_its_ci_once_adopted(
    engine: Engine, clock: FakeClock, helpdesk: Learning
) -> None:
    from connector.domain.models import Ticket, TicketSource

    sync = SyncBack(engine)
    sync.run()  # adoption starts now
    clock.advance(timedelta(minutes=1))
    desk = Ticket(
        key="desk-1", title="web1 is slow", description="phone call", ci="web1", source=TicketSource.USER_REPORT
    )
    tid = helpdesk.create_ticket(desk, actor="desk").ticket_id
    clock.advance(timedelta(minutes=1))
    sync.run()
    engine.drain_outbox()
    assert engine.store.get(f"helpdesk:{tid}") is not None  # adopted
    assert helpdesk.ci_links == [(tid, "web1")]
