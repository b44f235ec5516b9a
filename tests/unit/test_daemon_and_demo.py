"""The daemon stops cleanly on a signal; ``once`` and ``demo`` do their job from the CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector.cli.main import main

CONFIG = """\
state: {path: state.db}
backend: {type: local, path: tickets.db}
sources: [{type: replay, name: feed, path: alerts.jsonl}]
daemon: {poll_seconds: 0.2, drain_seconds: 0.2}
"""


def _alerts(path: Path, *ids: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for eid in ids:
            handle.write(
                json.dumps(
                    {
                        "source": "feed",
                        "external_id": eid,
                        "title": f"Problem {eid}",
                        "ci": "web01",
                        "severity": 3,
                        "occurred_at": "2026-11-26T02:40:00Z",
                    }
                )
                + "\n"
            )


def _titles(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [json.loads(d)["title"] for (d,) in conn.execute("SELECT data FROM tickets ORDER BY id")]
        except sqlite3.OperationalError:
            return []


def test_once_twice_creates_one_ticket(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    _alerts(tmp_path / "alerts.jsonl", "1")
    assert main(["once", "--config", str(tmp_path / "c.yaml")]) == 0
    assert main(["once", "--config", str(tmp_path / "c.yaml")]) == 0
    assert _titles(tmp_path / "tickets.db") == ["Problem 1"]


def test_run_stops_on_sigterm_with_exit_0(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    _alerts(tmp_path / "alerts.jsonl", "1")
    env = {k: v for k, v in os.environ.items() if k != "ITSM_CONNECTOR_FAILPOINT"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli.main", "run", "--config", str(tmp_path / "c.yaml")],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while _titles(tmp_path / "tickets.db") != ["Problem 1"] and time.monotonic() < deadline:
            time.sleep(0.1)
        _alerts(tmp_path / "alerts.jsonl", "2")  # appended while running: picked up by the next poll
        while len(_titles(tmp_path / "tickets.db")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert _titles(tmp_path / "tickets.db") == ["Problem 1", "Problem 2"]
    assert "received SIGTERM" in err and "stopped cleanly" in err


def test_demo_prints_tickets_and_dead_letter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # the table is the output: no log lines above it (they come with -v)
    assert "P1 最高" in out and "core-sw01" in out and "afc-db01" in out
    assert "财务系统无法登录" in out
    assert "dead letter (intake): line 18: occurred_at: Field required" in out
    # the core-switch storm: one master, three duplicates linked to it, then counted notes
    assert out.count("重复 #2") == 3
    assert "28 inputs → 20 tickets (7 resolved): 15 new, 4 duplicates linked to their master, 1 recurrence; " in out
    assert "3 repeats counted on a master (storm guard), 3 recoveries, 1 exact repeat(s) ignored" in out
    assert "复发 #1" in out


def test_demo_speaks_one_language_per_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--lang", "en", "-v"]) == 0
    out, err = capsys.readouterr()
    assert "P1 highest" in out and "duplicate of #2" in out and "recurs #1" in out
    assert not any(label in out for label in ("最高", "已解决", "重复", "复发"))  # labels only; data stays as written
    assert "→ create P1" in err  # -v: each decision is logged


def test_replay_source_waits_for_a_line_still_being_written(tmp_path: Path) -> None:
    from connector.plugins.replay import ReplaySource

    path = tmp_path / "alerts.jsonl"
    _alerts(path, "1")
    whole = json.dumps(
        {"source": "feed", "external_id": "2", "title": "Problem 2", "occurred_at": "2026-11-26T02:41:00Z"}
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write(whole[:20])  # the writer is half-way through line 2
    source = ReplaySource(path, name="feed")
    first = source.poll(None, [])
    assert [getattr(i, "external_id", None) for i in first.items] == ["1"] and first.cursor == "1"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(whole[20:] + "\n")
    second = source.poll(first.cursor, [])
    assert [getattr(i, "external_id", None) for i in second.items] == ["2"] and second.cursor == "2"


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    """``itsm-connector rules show | head -1``: the rest of the output has nowhere to go; the
    command ends quietly instead of with a BrokenPipeError traceback."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "connector.cli.main", "rules", "show"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes away after one line
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipeError" not in err
