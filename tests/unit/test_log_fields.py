"""``--log-format json``: a line about a ticket carries ``key``, ``external_id`` and
``operation`` as fields of their own (what a log shipper indexes), from the engine's decision
to the handler's create."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.cli.main import main


def test_decision_and_create_lines_carry_the_ticket_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text(
        "state: {path: state.db}\nbackend: {type: local, path: tickets.db}\n"
        "sources: [{type: replay, name: feed, path: alerts.jsonl}]\n",
        encoding="utf-8",
    )
    line = {"source": "feed", "external_id": "E-9", "title": "Disk full", "occurred_at": "2026-12-01T00:00:00Z"}
    (tmp_path / "alerts.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert main(["--log-format", "json", "once", "--config", str(tmp_path / "c.yaml")]) == 0
    records = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    about = {r["operation"]: r for r in records if r.get("key") == "feed:E-9"}
    assert about["decide"]["external_id"] == "E-9" and "create" in about["decide"]["message"]
    assert about["create"]["external_id"] == "E-9" and "created local #1" in about["create"]["message"]
