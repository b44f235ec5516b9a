"""Knowledge (issue 13): the solved-ticket store, the similar-incident lookup and its note, the
knowledge-base candidate rule, and "KB used" reaching the history and KPI 15."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.contracts.adapters import Change, ChangeKind, TicketHistory
from connector.domain.knowledge import Solved
from connector.domain.ledger import TicketState
from connector.domain.models import ClosureCode, Priority, TicketStatus
from connector.kpi.facts import Breaches, facts_of
from connector.kpi.kpis import kpi_kb_use
from connector.kpi.rebuild import rebuild_record
from connector.process.knowledge import kb_candidate, solved_from
from connector.process.similar import NOTE_HEADING, Incident, MemorySolved, find_similar, similar_note
from connector.rules.knowledge import kb_used_line, root_cause
from connector.rules.loading import default_rulebook
from connector.state.store import Store
from tests.state_backend import make_store

NOW = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)
RULES = default_rulebook().knowledge


def solved(key: str, *, days: float = 1, ci: str | None = "sw-01", fp: str | None = "fp-port", **kw: str) -> Solved:
    values = {
        "key": key,
        "ticket_id": key.split(":")[-1],
        "title": "core switch port down",
        "ci": ci,
        "fingerprint": fp,
        "category": "网络",
        "solution": f"solution of {key}",
        "resolved_at": NOW - timedelta(days=days),
    }
    values.update(kw)
    return Solved(**values)  # type: ignore[arg-type]


def both(tmp_path: Path, rows: list[Solved]) -> tuple[Store, MemorySolved]:
    store, memory = make_store(tmp_path / "s.db"), MemorySolved()
    with store.transaction():
        for row in rows:
            store.remember_solved(row)
            memory.remember_solved(row)
    return store, memory


def test_the_shipped_rules_are_the_issues() -> None:
    similar = RULES.similar
    assert similar.count == 3 and similar.order == ["same_ci_symptom", "same_category_title"]
    assert RULES.kb_candidate.closure_codes == [ClosureCode.SUCCESS] and RULES.kb_candidate.require_root_cause


def test_the_store_keeps_one_row_per_ticket_and_the_last_solution(tmp_path: Path) -> None:
    store, _ = both(tmp_path, [solved("z:1", solution="restart")])
    with store.transaction():
        store.remember_solved(solved("z:1", solution="replace the SFP", days=0.5))
    row = store.solved("z:1")
    assert row is not None and row.solution == "replace the SFP" and row.resolved_at == NOW - timedelta(days=0.5)
    assert store.solved("z:2") is None


def test_a_kb_candidate_is_claimed_once_per_ticket_and_only_for_a_solved_one(tmp_path: Path) -> None:
    store, memory = both(tmp_path, [solved("z:1")])
    for index in (store, memory):
        assert index.claim_kb_candidate("z:1", NOW) is True
        assert index.claim_kb_candidate("z:1", NOW + timedelta(hours=1)) is False
        assert index.claim_kb_candidate("z:9", NOW) is False  # it taught nothing
    store.close()
    assert make_store(tmp_path / "s.db").claim_kb_candidate("z:1", NOW) is False  # across a restart


def test_same_ci_and_symptom_come_first_then_the_category_by_title(tmp_path: Path) -> None:
    rows = [
        solved("z:1", days=3),  # same CI + symptom
        solved("z:2", days=2, ci="sw-02", fp="other", title="core switch port down on sw-02"),  # title 1
        solved("z:3", days=1, ci="sw-03", fp="other", title="printer out of paper"),  # category, no title
        solved("z:4", days=5, ci="sw-04", fp="other", title="switch port down"),  # title 2
        solved("z:5", days=400),  # same CI + symptom, too old (lookback 365 days)
        solved("z:6", days=1, ci="sw-05", fp="x", category="服务器", title="core switch port down"),  # other category
        solved("z:7", days=0.5, ci="sw-06", fp="other", title="core switch port down"),  # title, best score
    ]
    incident = Incident("z:new", "Core switch port down", ci="sw-01", fingerprint="fp-port", category="网络")
    store, memory = both(tmp_path, rows)
    for index in (store, memory):
        found = find_similar(incident, index, RULES.similar, NOW)
        assert [(m.solved.key, m.kind) for m in found] == [
            ("z:1", "same_ci_symptom"),
            ("z:7", "same_category_title"),  # 100: identical once case-folded
            ("z:2", "same_category_title"),  # token set: every word of the shorter title is in it
        ]
    # one fewer wanted by CI: the category fills in by score, the newest first among equals
    fewer = RULES.similar.model_copy(update={"count": 4})
    keys = [m.solved.key for m in find_similar(incident, store, fewer, NOW)]
    assert keys[:3] == ["z:1", "z:7", "z:2"] and keys[3] == "z:4" and "z:3" not in keys and "z:6" not in keys


def test_the_new_ticket_itself_and_a_ticket_found_twice_are_not_named(tmp_path: Path) -> None:
    rows = [solved("z:new", days=1), solved("z:1", days=2)]
    store, _ = both(tmp_path, rows)
    found = find_similar(
        Incident("z:new", "core switch port down", "sw-01", "fp-port", "网络"), store, RULES.similar, NOW
    )
    assert [m.solved.key for m in found] == ["z:1"]  # by CI; its title match is not a second entry


def test_a_ticket_without_ci_or_category_gets_nothing_and_disabled_finds_nothing(tmp_path: Path) -> None:
    store, _ = both(tmp_path, [solved("z:1")])
    assert find_similar(Incident("z:n", "core switch port down"), store, RULES.similar, NOW) == []
    off = RULES.similar.model_copy(update={"enabled": False})
    assert find_similar(Incident("z:n", "x", "sw-01", "fp-port", "网络"), store, off, NOW) == []


def test_the_note_names_each_earlier_ticket_and_its_solution() -> None:
    memory = MemorySolved()
    memory.remember_solved(solved("z:41", solution="Root cause: SFP\n\nreplaced the SFP module"))
    found = find_similar(Incident("z:n", "port down", "sw-01", "fp-port", "网络"), memory, RULES.similar, NOW)
    note = similar_note(found)
    assert note is not None and note.startswith(NOTE_HEADING)
    assert "#41 core switch port down" in note and "Root cause: SFP replaced the SFP module" in note
    assert "KB used" in note
    assert similar_note([]) is None


def test_root_cause_and_the_kb_used_lines() -> None:
    rules = RULES.kb_candidate
    assert root_cause("did things\nROOT CAUSE: a loose cable\nmore", rules) == "a loose cable"
    assert root_cause("根本原因：电源模块故障", rules) == "电源模块故障"
    assert root_cause("root cause:   \nreplaced it", rules) is None
    assert root_cause(None, rules) is None
    used = RULES.knowledge_used
    assert kb_used_line("thanks\n  kb: USED  \n", used) and kb_used_line("知识库：已使用", used)
    assert not kb_used_line("KB: used? no, I found it myself", used) and not kb_used_line(None, used)


def state(key: str = "z:1", **kw: object) -> TicketState:
    values: dict[str, object] = {
        "key": key,
        "ticket_id": "41",
        "fingerprint": "fp-port",
        "status": TicketStatus.CLOSED,
        "created_at": NOW - timedelta(hours=3),
        "resolved_at": NOW - timedelta(hours=1),
        "ci": "sw-01",
        "content": {"title": "core switch port down", "category": "网络", "description": "port 7 down"},
    }
    values.update(kw)
    return TicketState(**values)  # type: ignore[arg-type]


def test_a_successful_close_with_a_root_cause_makes_one_candidate_and_nothing_else_does() -> None:
    rules = RULES.kb_candidate
    good = "Root cause: a loose cable\nre-seated the cable"
    taught = solved_from(state(), good, NOW)
    assert taught is not None and taught.title == "core switch port down" and taught.ci == "sw-01"
    article = kb_candidate(state(), taught, ClosureCode.SUCCESS, rules)
    assert article is not None and article.root_cause == "a loose cable" and article.symptom == "port 7 down"
    assert kb_candidate(state(), taught, ClosureCode.SUCCESS_WITH_PROBLEM, rules) is None
    assert kb_candidate(state(), taught, None, rules) is None
    duplicate = state(master_key="z:0")
    assert (
        solved_from(duplicate, good, NOW) is None
        and kb_candidate(duplicate, taught, ClosureCode.SUCCESS, rules) is None
    )
    no_cause = solved_from(state(), "re-seated the cable", NOW)
    assert kb_candidate(state(), no_cause, ClosureCode.SUCCESS, rules) is None
    lenient = rules.model_copy(update={"require_root_cause": False})
    assert kb_candidate(state(), no_cause, ClosureCode.SUCCESS, lenient) is not None
    assert solved_from(state(), "   ", NOW) is None and solved_from(state(status=TicketStatus.OPEN), good, NOW) is None


# --- KPI 15 from what the helpdesk holds -------------------------------------------------------


def _history(ticket_id: str, *notes: tuple[str, str], kb_field: bool = False) -> TicketHistory:
    t0 = datetime(2026, 10, 2, 1, 0, tzinfo=UTC)
    changes = [
        Change(at=t0 + timedelta(minutes=5), actor="desk", kind=ChangeKind.ASSIGNEE, old=None, new="wangf"),
        *(
            Change(at=t0 + timedelta(minutes=20 + n), actor=actor, kind=ChangeKind.NOTE, new=text)
            for n, (actor, text) in enumerate(notes)
        ),
        Change(at=t0 + timedelta(minutes=40), actor="wangf", kind=ChangeKind.STATUS, old="open", new="resolved"),
    ]
    fields: dict[str, object] = {"title": f"ticket {ticket_id}", "ci": "sw-01", "priority": Priority.MEDIUM}
    if kb_field:
        fields["kb_used"] = True
    return TicketHistory(
        ticket_id=ticket_id,
        key=f"zabbix:{ticket_id}",
        created_at=t0,
        author="connector",
        status=TicketStatus.RESOLVED,
        assignee="wangf",
        group=None,
        fields=fields,
        changes=tuple(changes),
    )


def test_kpi_15_counts_the_field_and_a_persons_kb_used_line_hand_computed() -> None:
    histories = [
        _history("1", kb_field=True),  # the field: used
        _history("2", ("wangf", "replaced the fan\nKB: used")),  # the handler's line: used
        _history("3", ("connector", "KB: used")),  # the connector's own note: not a person's
        _history("4", ("lina", "  kb: USED ")),  # case and blanks do not matter: used
        _history("5", ("wangf", "KB: used? no")),  # not the line
        _history("6"),  # nothing said
        _history("7", ("wangf", "KB: used"), kb_field=True),  # both: one ticket, counted once
    ]
    records = [rebuild_record(h, connector_logins=("connector",)).record for h in histories]
    assert [r.kb_used for r in records] == [True, True, False, True, False, False, True]
    breaches = Breaches.of(default_rulebook().sla)
    as_of = datetime(2026, 11, 1, tzinfo=UTC)
    share = kpi_kb_use([facts_of(r, 2, breaches, as_of) for r in records])
    # hand-computed: tickets 1, 2, 4 and 7 used the knowledge base, of 7 → 4/7
    assert share.count == 4 and share.ratio == pytest.approx(4 / 7)


def test_export_history_reads_the_sites_kb_used_lines(tmp_path: Path) -> None:
    from connector.domain.clock import FakeClock
    from connector.domain.models import Ticket
    from connector.kpi.export import export_records
    from connector.plugins.local import LocalBackend

    clock = FakeClock(NOW)
    desk = LocalBackend(tmp_path / "tickets.db", clock)
    ids = [desk.create_ticket(Ticket(key=f"z:{n}", title=f"t{n}", description="d")).ticket_id for n in range(3)]
    clock.advance(timedelta(minutes=5))
    desk.add_note(ids[0], "KB: used", actor="wangf")
    desk.add_note(ids[1], "用了知识库", actor="wangf")
    site = RULES.knowledge_used.model_copy(update={"used_lines": ["用了知识库"]})
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=1)
    shipped = {r.id: r.kb_used for r in export_records(desk, start, end)}
    assert shipped == {ids[0]: True, ids[1]: False, ids[2]: False}
    own = {r.id: r.kb_used for r in export_records(desk, start, end, knowledge_used=site)}
    assert own == {ids[0]: False, ids[1]: True, ids[2]: False}
