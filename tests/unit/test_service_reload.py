"""SIGHUP reloads the rule book (and people.yaml) between two jobs, all or nothing: a broken
rule file is refused — the log says which file and line — and alerts go on with the old rules;
a good one is used by the very next alert. A real ``run`` process, real signals."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

from tests.unit.service_process import Running, wait_for

RULE = """\
rules:
  - id: hup-rule
    match: {{title: 'Problem'}}
    set: {{service: {service}}}
  - id: default
    set: {{}}
"""


def _alert(path: Path, eid: str) -> None:
    line = {
        "source": "feed",
        "external_id": eid,
        "title": f"Problem {eid}",
        "ci": f"web{eid}",  # one host each: no alert is a duplicate of another
        "severity": 3,
        "occurred_at": "2026-11-26T02:40:00Z",
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def _services(db: Path) -> dict[str, object]:
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        try:
            rows = [json.loads(d) for (d,) in conn.execute("SELECT data FROM tickets ORDER BY id")]
        except sqlite3.OperationalError:
            return {}
    return {str(r["title"]): r.get("service") for r in rows}


def test_sighup_keeps_the_old_rules_on_a_broken_file_and_takes_a_good_one(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    classification = rules / "classification.yaml"
    classification.write_text(RULE.format(service="first-book"), encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        "state: {path: state.db}\nbackend: {type: local, path: tickets.db}\n"
        "sources: [{type: replay, name: feed, path: alerts.jsonl}]\nrules_dir: rules\n"
        "daemon: {poll_seconds: 0.2, drain_seconds: 0.2}\n",
        encoding="utf-8",
    )
    alerts, db = tmp_path / "alerts.jsonl", tmp_path / "tickets.db"
    _alert(alerts, "1")
    run = Running(config)
    try:
        wait_for(lambda: "Problem 1" in _services(db), "the first ticket")
        assert _services(db)["Problem 1"] == "first-book"

        classification.write_text("rules:\n  - id: broken\n    set: {impact: [\n", encoding="utf-8")
        run.signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in run.text(), "the refusal in the log")
        assert "classification.yaml" in run.text().split("reload refused", 1)[1]
        _alert(alerts, "2")
        wait_for(lambda: "Problem 2" in _services(db), "a ticket after the broken reload")
        assert _services(db)["Problem 2"] == "first-book"  # the old book, still in force

        classification.write_text(RULE.format(service="second-book"), encoding="utf-8")
        run.signal(signal.SIGHUP)
        wait_for(lambda: "SIGHUP: reloaded" in run.text(), "the reload in the log")
        _alert(alerts, "3")
        wait_for(lambda: "Problem 3" in _services(db), "a ticket after the good reload")
        assert _services(db)["Problem 3"] == "second-book"
    finally:
        code = run.stop()
    assert code == 0, run.text()
