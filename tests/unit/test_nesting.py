"""Deeply nested JSON is refused where it enters, with a reason, and never stops what follows
(issue 17: ``"[" * 1000`` used to raise ``RecursionError`` out of the parser and the mending walk)."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.cli.main import main
from connector.contracts.adapters import Rejected
from connector.domain.models import Alert
from connector.integrations.replay import parse_line
from connector.integrations.zabbix.webhook import classify
from connector.plugins.replay import ReplaySource
from connector.util.unicode_text import MAX_DEPTH, TooDeep, json_depth, loads_valid, tree_depth, valid_tree
from tests.unit.webhook_payloads import problem_payload

ALERT = {"source": "replay", "external_id": "ok-{n}", "title": "disk full", "occurred_at": "2026-12-01T00:00:00Z"}


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_valid_tree_mends_a_tree_deeper_than_the_recursion_limit() -> None:
    mended = valid_tree({"k": nested(5000, "\udade")})
    inner = mended["k"]
    for _ in range(5000):
        inner = inner[0]
    assert inner == "\ufffd"


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth('{"a": "[[[{{", "b": [[1]], "c": "\\"["}') == 3
    assert json_depth("42") == 0
    assert json_depth("[" * 100_000, limit=MAX_DEPTH) == MAX_DEPTH + 1
    assert tree_depth({"a": [{"b": ()}]}) == 4
    assert tree_depth(nested(10_000), limit=MAX_DEPTH) == MAX_DEPTH + 1


@pytest.mark.parametrize(
    "text",
    ["[" * 1000, "[" * 900 + '"\\udade"' + "]" * 900, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)],
    ids=["1000-deep", "900-deep-with-a-surrogate", "one-past-the-limit"],
)
def test_loads_valid_refuses_more_than_the_limit_with_a_value_error(text: str) -> None:
    with pytest.raises(TooDeep, match=f"nested deeper than {MAX_DEPTH} levels") as raised:
        loads_valid(text)
    assert isinstance(raised.value, ValueError)


def test_loads_valid_takes_the_limit_itself() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert json.dumps(loads_valid(text)) == text


def test_a_replay_line_of_100000_brackets_is_rejected_with_its_line_number() -> None:
    item = parse_line("[" * 100_000, 7)
    assert isinstance(item, Rejected)
    assert item.reason.startswith("line 7: JSON nested deeper than 64 levels")
    assert len(item.raw) <= 1000


def test_a_too_deep_replay_line_does_not_block_the_lines_after_it(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    lines = [json.dumps({**ALERT, "external_id": "ok-1"}), "[" * 100_000, json.dumps({**ALERT, "external_id": "ok-2"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ReplaySource(path).poll(None, [])
    kinds = [(type(i).__name__, i.external_id) for i in result.items]
    assert kinds == [("Alert", "ok-1"), ("Rejected", None), ("Alert", "ok-2")]
    assert result.cursor == "3"


def test_a_replay_line_the_parser_refuses_past_the_grammar_is_rejected_too(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    huge = '{"external_id": ' + "1" * 5000 + "}"  # Python's int() refuses more than 4300 digits
    path.write_text(huge + "\n" + json.dumps({**ALERT, "external_id": "ok-1"}) + "\n", encoding="utf-8")
    result = ReplaySource(path).poll(None, [])
    assert [type(i).__name__ for i in result.items] == ["Rejected", "Alert"]
    assert isinstance(result.items[0], Rejected) and result.items[0].reason.startswith("line 1: not usable JSON")


def test_simulate_answers_a_too_deep_line_with_a_dead_letter_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text("[" * 100_000 + "\n" + json.dumps({**ALERT, "external_id": "ok-1"}) + "\n", encoding="utf-8")
    assert main(["simulate", "--input", str(path)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["line"], o["action"]) for o in out] == [(1, "dead_letter"), (2, "create")]
    assert "nested deeper than 64 levels" in out[0]["reason"]


def test_the_classifier_rejects_a_too_deep_payload_without_keeping_it() -> None:
    outcome = classify({**problem_payload(), "x": nested(2000)}, source="zabbix", tz=ZoneInfo("UTC"))
    assert isinstance(outcome, Rejected)
    assert "nested deeper than 64 levels" in outcome.reason
    json.dumps(outcome.raw)  # the dead letter can be written


def test_the_classifier_rejects_too_deep_event_tags() -> None:
    outcome = classify(problem_payload(event_tags="[" * 1000), source="zabbix", tz=ZoneInfo("UTC"))
    assert isinstance(outcome, Rejected) and outcome.external_id == "32"
    assert "event_tags is not JSON (JSON nested deeper than 64 levels" in outcome.reason


def test_the_classifier_still_takes_tags_within_the_limit() -> None:
    assert isinstance(classify(problem_payload(), source="zabbix", tz=ZoneInfo("UTC")), Alert)
