"""The webhook's authentication and rate limit over a real loopback socket: a signed body is
journaled once and its replay refused, a signature over another body or an old timestamp is
refused with nothing stored, ``signature: required`` refuses the bearer secret alone, and the
rate limit answers 429 with a Retry-After before the body is read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.domain.clock import FakeClock
from connector.integrations.zabbix.push import ZabbixWebhookSource
from connector.integrations.zabbix.webhook_settings import ZabbixWebhookSettings
from connector.runtime.intake import ThreadedJournal
from connector.util.secrets import SecretSource
from connector.util.webhook_auth import sign
from tests.contract.test_webhook_endpoint import AUTH, SECRET, counts, post
from tests.state_backend import make_store, state_target
from tests.unit.webhook_payloads import problem_payload


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    make_store(path).close()
    return path


def serve(state: Path, clock: FakeClock, **overrides: Any) -> Iterator[str]:
    settings = ZabbixWebhookSettings.model_validate(
        {"secret": SecretSource(SECRET), "port": 0, "source_name": "zabbix", **overrides}
    )
    source = ZabbixWebhookSource(settings, name="zabbix-push", clock=clock)
    journal = ThreadedJournal(state_target(state), clock)
    source.serve(journal)
    try:
        yield f"http://127.0.0.1:{source.port}/zabbix"
    finally:
        source.shutdown()
        journal.close()


@pytest.fixture
def signed_url(state: Path, clock: FakeClock) -> Iterator[str]:
    yield from serve(state, clock, signature="required")


def signature_headers(body: bytes, stamp: int) -> dict[str, str]:
    return {"X-ITSM-Timestamp": str(stamp), "X-ITSM-Signature": sign(SECRET, stamp, body)}


def test_a_signed_event_is_journaled_once_and_its_replay_refused(
    signed_url: str, state: Path, clock: FakeClock
) -> None:
    body = json.dumps(problem_payload()).encode()
    stamp = int(clock.now().timestamp())
    first = post(signed_url, body, signature_headers(body, stamp))
    assert first.status_code == 200, first.text
    replay = post(signed_url, body, signature_headers(body, stamp))
    assert replay.status_code == 409
    journal, dead = counts(state)
    assert sum(journal.values()) == 1 and dead == 0


def test_a_bad_signature_or_an_old_timestamp_stores_nothing(signed_url: str, state: Path, clock: FakeClock) -> None:
    body = json.dumps(problem_payload()).encode()
    stamp = int(clock.now().timestamp())
    other = json.dumps(problem_payload(event_id="33")).encode()
    assert post(signed_url, other, signature_headers(body, stamp)).status_code == 401
    assert post(signed_url, body, signature_headers(body, stamp - 3600)).status_code == 401
    assert post(signed_url, body, AUTH).status_code == 401  # the bearer secret alone is not enough
    assert counts(state) == ({}, 0)


def test_the_rate_limit_answers_429_with_retry_after(state: Path, clock: FakeClock) -> None:
    for url in serve(state, clock, rate_limit_per_minute=60, rate_limit_burst=2):
        answers = [post(url, problem_payload(event_id=str(40 + n)), AUTH) for n in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].headers["Retry-After"] == "1"
        clock.advance(seconds=1)
        assert post(url, problem_payload(event_id="50"), AUTH).status_code == 200
