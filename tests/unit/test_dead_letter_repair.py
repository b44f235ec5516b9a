"""``dead-letters list|show|retry|purge`` and ``status``: a poisoned alert, fixed, retried once.

The poison is real: a site rule takes the impact from the alert's ``impact`` tag, and the alert
says ``high`` — the classifier refuses it (a ``rule`` dead letter). The admin fixes the rule
file; ``dead-letters retry`` puts the alert back once, and ``once`` makes exactly one ticket,
however often the retry is typed.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.cli.main import main
from connector.rules.loading import shipped_rules_dir
from connector.state.store import Store
from tests.state_backend import make_store

POISON_RULE = """\
  - id: impact-from-tag
    match: {tags: {impact: null}}
    set: {impact: {from: tag:impact}}

"""
FIXED_RULE = """\
  - id: impact-from-tag
    match: {tags: {impact: null}}
    set: {impact: 2}

"""


def _setup(tmp_path: Path, rule: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    shipped = (shipped_rules_dir() / "classification.yaml").read_text(encoding="utf-8")
    (rules / "classification.yaml").write_text(shipped.replace("rules:\n", "rules:\n" + rule, 1), encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        "state: {path: state.db}\nbackend: {type: local, path: tickets.db}\n"
        "sources: [{type: replay, name: feed, path: alerts.jsonl}]\nrules_dir: rules\n",
        encoding="utf-8",
    )
    return config


def _alert(path: Path, eid: str, **extra: object) -> None:
    line = {
        "source": "feed",
        "external_id": eid,
        "title": f"Problem {eid}",
        "ci": "web01",
        "severity": 3,
        "occurred_at": "2026-11-26T02:40:00Z",
        **extra,
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def _tickets(db: Path) -> list[dict[str, object]]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [json.loads(d) for (d,) in conn.execute("SELECT data FROM tickets ORDER BY id")]


def _letters(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["dead-letters", "list", "--json", "--config", str(config), *extra]) == 0
    result: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return result


def test_a_poisoned_alert_fixed_and_retried_makes_exactly_one_ticket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _setup(tmp_path, POISON_RULE)
    _alert(tmp_path / "alerts.jsonl", "7", tags={"impact": "high"})
    assert main(["once", "--config", str(config)]) == 0
    assert _tickets(tmp_path / "tickets.db") == []
    letters = _letters(config, capsys)
    assert [(x["kind"], x["source"]) for x in letters] == [("rule", "feed")]
    assert "impact 'high' is not 1–4" in str(letters[0]["reason"])
    letter = str(letters[0]["id"])

    _setup(tmp_path, FIXED_RULE)  # the admin fixes the rule file
    capsys.readouterr()
    assert main(["dead-letters", "retry", letter, "--config", str(config)]) == 0
    assert "is pending again" in capsys.readouterr().out
    # typed twice: the letter is gone, nothing is queued a second time
    assert main(["dead-letters", "retry", letter, "--config", str(config)]) == 1
    assert f"no dead letter #{letter}" in capsys.readouterr().err
    assert main(["once", "--config", str(config)]) == 0
    assert main(["once", "--config", str(config)]) == 0
    tickets = _tickets(tmp_path / "tickets.db")
    assert [t["title"] for t in tickets] == ["Problem 7"]
    assert _letters(config, capsys) == []


def test_filters_show_and_purge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _setup(tmp_path, POISON_RULE)
    alerts = tmp_path / "alerts.jsonl"
    _alert(alerts, "1", tags={"impact": "high"})
    _alert(alerts, "2", tags={"impact": "low"})
    with alerts.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")  # refused at intake: kind intake
    assert main(["once", "--config", str(config)]) == 0
    assert sorted(str(x["kind"]) for x in _letters(config, capsys)) == ["intake", "rule", "rule"]
    assert len(_letters(config, capsys, "--kind", "rule", "--reason", "'LOW'")) == 1
    assert _letters(config, capsys, "--source", "elsewhere") == []
    assert _letters(config, capsys, "--older-than", "1d") == []
    assert len(_letters(config, capsys, "--newer-than", "1h")) == 3

    intake = next(x for x in _letters(config, capsys) if x["kind"] == "intake")
    capsys.readouterr()
    assert main(["dead-letters", "show", str(intake["id"]), "--config", str(config)]) == 0
    assert "{not json" in capsys.readouterr().out
    # an input refused before it was an alert has nothing to run again: retry says what to do
    assert main(["dead-letters", "retry", str(intake["id"]), "--config", str(config)]) == 1
    assert "fix the sender" in capsys.readouterr().err

    assert main(["dead-letters", "purge", "--config", str(config)]) == 2  # no filter, no --all
    assert main(["dead-letters", "purge", "--kind", "intake", "--config", str(config)]) == 0
    assert sorted(str(x["kind"]) for x in _letters(config, capsys)) == ["rule", "rule"]
    assert main(["dead-letters", "purge", "--all", "--config", str(config)]) == 0
    assert _letters(config, capsys) == []


def test_status_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _setup(tmp_path, POISON_RULE)
    _alert(tmp_path / "alerts.jsonl", "1", tags={"impact": "high"})
    _alert(tmp_path / "alerts.jsonl", "2")
    assert main(["once", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["status", "--json", "--config", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["journal"] == {"dead": 1, "done": 1}
    assert data["dead_letters"] == {"total": 1, "by_kind": {"rule": 1}}
    assert data["outbox"]["pending"] == 0 and data["outbox"]["oldest_pending_age_seconds"] is None
    assert main(["status", "--config", str(config)]) == 0
    table = capsys.readouterr().out
    assert "journal" in table and "1 dead, 1 done" in table and "dead letters  1 (1 rule)" in table
    assert "{" not in table  # a table, not a Python dict


# --- retry finds the row a letter was written for, by id (issue 15 follow-up) ----------------------

AT = datetime(2026, 11, 26, 2, 40, tzinfo=UTC)
LATER = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _retry_one(store: Store, letter_id: int) -> str:
    letter = store.dead_letter_by_id(letter_id)
    assert letter is not None
    with store.transaction():
        return store.retry_dead_letter(letter, LATER)


def test_two_identical_journal_letters_of_one_second_retry_their_own_entries(tmp_path: Path) -> None:
    store = make_store(tmp_path / "state.db")
    payload = json.dumps({"title": "same"})
    with store.transaction():
        for key in ("e1", "e2"):
            store.journal_add("feed", key, key, payload, AT)
    first, second = store.journal_pending()
    with store.transaction():
        for entry in (first, second):
            store.journal_finish(entry.id, "dead", "poison", AT)
            store.dead_letter("rule", "feed", entry.event_key, "poison", payload, AT, item_id=entry.id)
    letters = store.dead_letter_rows()
    assert [x.item_id for x in letters] == [first.id, second.id]
    assert f"journal entry #{first.id} (feed:e1)" in _retry_one(store, letters[0].id)
    assert [e.event_key for e in store.journal_pending()] == ["e1"]  # e2 stays dead, its letter kept
    assert [x.id for x in store.dead_letter_rows()] == [letters[1].id]
    assert f"journal entry #{second.id} (feed:e2)" in _retry_one(store, letters[1].id)
    assert [e.event_key for e in store.journal_pending()] == ["e1", "e2"]


def test_two_identical_outbox_letters_of_one_second_retry_their_own_operations(tmp_path: Path) -> None:
    store = make_store(tmp_path / "state.db")
    with store.transaction():
        ids = [store.enqueue("desk", "note", "K-1", {"text": "same"}, AT) for _ in range(2)]
    with store.transaction():
        for op in store.pending_ops(10):
            store.op_dead(op, "refused", AT)
    letters = store.dead_letter_rows()
    assert [x.item_id for x in letters] == ids
    assert f"outbox operation #{ids[0]} (note)" in _retry_one(store, letters[0].id)
    assert [op.id for op in store.pending_ops(10)] == [ids[0]]
    assert f"outbox operation #{ids[1]} (note)" in _retry_one(store, letters[1].id)
    assert [op.id for op in store.pending_ops(10)] == ids


def test_a_journal_dead_input_names_its_entry_and_an_older_letter_is_found_by_time(tmp_path: Path) -> None:
    store = make_store(tmp_path / "state.db")
    with store.transaction():
        assert store.journal_dead("feed", "bad-1", "x", '{"broken": 1}', "unreadable", AT)
    (letter,) = store.dead_letter_rows()
    assert letter.item_id is not None
    # a letter written before the state file had item_id: retry matches time and payload, as then
    with store.transaction():
        store.dead_letter("intake", "feed", "x", "unreadable", '{"broken": 1}', AT)
    older = store.dead_letter_rows()[-1]
    assert older.item_id is None
    with store.transaction():
        store.purge_dead_letters([letter.id])
    assert f"journal entry #{letter.item_id} (feed:bad-1)" in _retry_one(store, older.id)
