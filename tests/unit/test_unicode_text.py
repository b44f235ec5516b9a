"""Lone surrogates in untrusted input are mended where it enters, so nothing downstream
(journal, JSON, SQLite, the helpdesk) is handed text it cannot write."""

from __future__ import annotations

import json

import pytest

from connector.contracts.adapters import Rejected
from connector.integrations.replay import parse_line
from connector.util.unicode_text import loads_valid, valid_text, valid_tree


def test_valid_text_replaces_only_lone_surrogates() -> None:
    assert valid_text("disk \udade full") == "disk \ufffd full"
    assert valid_text("\ud83d") == "\ufffd"
    clean = "故障 😀 ok"
    assert valid_text(clean) is clean  # nothing to mend: no copy


def test_valid_tree_reaches_keys_and_nested_items() -> None:
    tree = {"k\ud800": ["a\udfff", ("b\udade", 3)], "n": None}
    assert valid_tree(tree) == {"k\ufffd": ["a\ufffd", ("b\ufffd", 3)], "n": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'{"t": "\udade"}', {"t": "\ufffd"}),  # a lone low surrogate, escaped
        (r'{"t": "\uD83D end"}', {"t": "\ufffd end"}),  # a high one without its pair, upper case
        (r'{"t": "\ud83d\ude00"}', {"t": "😀"}),  # a pair is one character: kept
        ('{"t": "\\\\udade"}', {"t": "\\udade"}),  # an escaped backslash, not an escape: kept
    ],
)
def test_loads_valid(text: str, expected: dict[str, str]) -> None:
    data = loads_valid(text)
    assert data == expected
    json.dumps(data, ensure_ascii=False).encode("utf-8")


def test_a_replayed_line_with_a_lone_surrogate_is_an_alert_with_a_replacement_character() -> None:
    line = r'{"source": "replay", "external_id": "x1", "title": "disk \udade full", "occurred_at": "2026-12-01"}'
    alert = parse_line(line, 1)
    assert not isinstance(alert, Rejected) and alert is not None
    assert alert.title == "disk \ufffd full"


def test_a_reject_is_mended_whatever_its_source_put_in_it() -> None:
    bad = Rejected("zabbix", "e\udade", "title \ud800", {"body": ["\udfff"]})
    assert (bad.external_id, bad.reason, bad.raw) == ("e\ufffd", "title \ufffd", {"body": ["\ufffd"]})
