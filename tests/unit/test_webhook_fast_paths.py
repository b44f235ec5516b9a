"""The webhook request path's shortcuts (issue 15: ingest speed) decide exactly as the long way.

Each shortcut skips work only where its answer is known: a Zabbix date read without
``strptime``, a field text without the macro regex, a flat payload without the depth walk, a
body with few brackets without the depth scan. These compare them with the long way on the
inputs that matter, the odd ones included.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.integrations.zabbix import webhook
from connector.integrations.zabbix.webhook import classify
from connector.util.unicode_text import MAX_DEPTH, TooDeep, json_depth, loads_valid, tree_depth
from tests.unit.webhook_payloads import problem_payload, recovery_payload

ZONE = ZoneInfo("Asia/Shanghai")


def _strptime(date: str, time: str) -> datetime | str:
    try:
        return datetime.strptime(f"{date} {time}", "%Y.%m.%d %H:%M:%S")
    except ValueError:
        return "refused"


def _fast(date: str, time: str) -> datetime | str:
    try:
        return webhook._when({"d": date, "t": time}, "d", "t", ZONE).replace(tzinfo=None)
    except ValueError:
        return "refused"


@pytest.mark.parametrize(
    ("date", "time"),
    [
        ("2026.12.06", "03:15:03"),
        ("2024.02.29", "23:59:59"),
        ("2026.02.29", "10:00:00"),  # no such day
        ("2026.13.01", "10:00:00"),
        ("2026.12.06", "24:00:00"),
        ("2026.12.06", "10:00:60"),
        ("2026.12.06", "10:00:61"),
        ("0000.01.01", "00:00:00"),
        ("0001.01.01", "00:00:00"),
        ("2026.1.6", "3:15:3"),  # not zero-padded: strptime reads it, and still does
        ("2026.12.06", "03:15"),
        ("2026-12-06", "03:15:03"),
        ("２０２６.12.06", "03:15:03"),  # fullwidth digits: strptime's business
        ("", ""),
        ("{EVENT.DATE}", "{EVENT.TIME}"),
    ],
)
def test_zabbix_time_reads_as_strptime_does(date: str, time: str) -> None:
    assert _fast(date, time) == _strptime(date, time)


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(re.compile(r"[0-9]{4}\.[0-9]{2}\.[0-9]{2}"), fullmatch=True),
    st.from_regex(re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}"), fullmatch=True),
)
def test_zabbix_time_any_padded_form(date: str, time: str) -> None:
    assert _fast(date, time) == _strptime(date, time)


def _text_long_way(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return "" if webhook._LITERAL_MACRO.fullmatch(value) else value


@pytest.mark.parametrize(
    "value",
    ["", "  ", " 42 ", "{EVENT.ID}", " {EVENT.RECOVERY.ID} ", "{$MACRO}", "{ITEM.VALUE[1]}", "{not a macro}",
     "x{EVENT.ID}", "{EVENT.ID}x", "{", "}", None, True, 7, 1.5],
)  # fmt: skip
def test_text_as_the_long_way(value: Any) -> None:
    assert webhook._text({"f": value}, "f") == _text_long_way(value)


def test_flat_payload_depth_is_the_walks() -> None:
    for payload in ({}, problem_payload(), recovery_payload()):
        assert tree_depth(payload, MAX_DEPTH) == 1
        assert classify(payload, source="zabbix", tz=ZONE) is not None


def test_a_deep_payload_is_still_walked() -> None:
    deep: Any = "x"
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    payload = {**problem_payload(), "event_opdata": deep}
    outcome = classify(payload, source="zabbix", tz=ZONE)
    assert "nested deeper than" in getattr(outcome, "reason", "")


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        "[" * MAX_DEPTH + "]" * MAX_DEPTH,
        '{"a": "' + "[" * 200 + '"}',  # brackets in a string: counted, scanned, not deep
        '{"a": ' + "[" * 40 + "1" + "]" * 40 + ', "b": "' + "{" * 40 + '"}',
        "[" * (MAX_DEPTH + 1),  # malformed and deep
    ],
)
def test_loads_valid_refuses_what_the_scan_refuses(text: str) -> None:
    deep = json_depth(text, MAX_DEPTH) > MAX_DEPTH
    try:
        loads_valid(text)
    except TooDeep:
        assert deep
    except ValueError:
        assert not deep
    else:
        assert not deep


def test_ticket_link_signs_as_ticket_signature() -> None:
    from connector.domain.clock import SystemClock
    from connector.integrations.zabbix.push import ZabbixWebhookSource, ticket_signature
    from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
    from connector.util.secrets import SecretSource

    secret = "a-secret-of-enough-length-for-the-link"
    settings = ZabbixWebhookSettings.model_validate({"secret": SecretSource(secret), "public_url": "https://x"})
    source = ZabbixWebhookSource(settings, name="zabbix-push", clock=SystemClock())
    for key in ("zabbix:1", "zabbix:2", "zabbix:票务/3 ?&", ""):
        assert source.ticket_link(key).endswith(f"?sig={ticket_signature(secret, key)}")
        # the keyed-once signer signs each key afresh (a copy per key, not one running digest)
        plain = hmac.new(secret.encode("utf-8"), key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        assert ticket_signature(secret, key) == plain


def test_only_keys_naming_a_secret_are_dropped() -> None:
    import json

    from connector.contracts.adapters import Journaled
    from connector.domain.clock import SystemClock
    from connector.domain.models import Alert
    from connector.integrations.zabbix.push import ZabbixWebhookSource
    from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
    from connector.util.secrets import SecretSource

    kept: list[Any] = []

    class Journal:
        def ingest(self, items: Any) -> Journaled:
            kept.extend(items)
            return Journaled(new=1, repeats=0, dead=0)

        def ticket_ref(self, key: str) -> None:
            return None

    settings = ZabbixWebhookSettings.model_validate({"secret": SecretSource("s" * 30), "public_url": "https://x"})
    source = ZabbixWebhookSource(settings, name="zabbix-push", clock=SystemClock())
    source.mount(Journal(), "https://x")  # type: ignore[arg-type]
    for extra, dropped in (
        ({"sec": "1", "ret": "2"}, set()),
        ({"Secret_Token": "x", "api_SECRET": "y", "sec\nret": "z"}, {"Secret_Token", "api_SECRET"}),
        ({}, set()),
    ):
        kept.clear()
        reply = source.accept(json.dumps({**problem_payload(), **extra}).encode())
        assert reply.status == 200
        alert = kept[0]
        assert isinstance(alert, Alert)
        assert set(alert.raw["webhook"]) == set(problem_payload()) | (set(extra) - dropped)
