"""The webhook gate (util/webhook_auth.py) on its own: the bearer secret, the HMAC of the body
with its timestamp and replay window, the rate limit; time is a number the test moves."""

from __future__ import annotations

import hmac
import inspect
from email.message import Message

import pytest

from connector.util import webhook_auth
from connector.util.webhook_auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookGate, sign

SECRET = "a-webhook-secret-of-enough-length-42"
T = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> float:
        return self.now


def headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


def signed(body: bytes, at: float = T, secret: str = SECRET) -> Message:
    stamp = int(at)
    return headers(**{"X-ITSM-Timestamp": str(stamp), "X-ITSM-Signature": sign(secret, stamp, body)})


def gate(clock: Clock, **options: object) -> WebhookGate:
    return WebhookGate(SECRET, now=clock, **options)  # type: ignore[arg-type]


def test_the_bearer_secret_is_compared_in_constant_time() -> None:
    source = inspect.getsource(webhook_auth.WebhookGate.bearer)
    assert "hmac.compare_digest" in source and "==" not in source
    assert hmac.compare_digest  # the stdlib's constant-time compare, not a hand-written one


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(f"Bearer {SECRET}", None), (f"bearer  {SECRET} ", None), ("Bearer nope", 401), (SECRET, 401), ("", 401)],
)
def test_bearer(authorization: str, status: int | None) -> None:
    refused = gate(Clock()).screen(headers(Authorization=authorization))
    assert (refused.status if refused else None) == status


def test_a_signed_body_passes_once_and_its_replay_is_refused() -> None:
    clock, body = Clock(), b'{"event_id": "1"}'
    door = gate(clock, signature="optional")
    assert door.screen(signed(body)) is None
    assert door.verify(signed(body), body) is None
    clock.now += 10
    assert door.screen(signed(body)) is None  # the timestamp is still inside the window
    refused = door.verify(signed(body), body)
    assert refused is not None and refused.status == 409


def test_a_changed_body_or_a_wrong_key_fails_the_signature() -> None:
    door = gate(Clock(), signature="required")
    body = b'{"event_id": "1"}'
    refused = door.verify(signed(body), b'{"event_id": "2"}')
    assert refused is not None and refused.status == 401
    refused = door.verify(signed(body, secret="another-secret-of-enough-length"), body)
    assert refused is not None and refused.status == 401


@pytest.mark.parametrize("skew", [-301, 301, 10_000])
def test_a_timestamp_outside_the_window_is_refused_before_the_body(skew: int) -> None:
    door = gate(Clock(), signature="optional", window_seconds=300)
    refused = door.screen(signed(b"{}", at=T + skew))
    assert refused is not None and refused.status == 401 and "window" in refused.error


@pytest.mark.parametrize("stamp", ["", "abc", "١٧٩٠٠٠٠٠٠٠", "-5", "1e9", "9" * 40])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(stamp: str) -> None:
    door = gate(Clock(), signature="required")
    refused = door.screen(headers(**{"X-ITSM-Timestamp": stamp, "X-ITSM-Signature": "sha256=00"}))
    assert refused is not None and refused.status == 401


def test_required_refuses_the_bearer_secret_alone_and_off_ignores_signatures() -> None:
    refused = gate(Clock(), signature="required").screen(headers(Authorization=f"Bearer {SECRET}"))
    assert refused is not None and refused.status == 401
    off = gate(Clock(), signature="off")
    refused = off.screen(signed(b"{}"))  # no bearer: a signature does not count when off
    assert refused is not None and refused.status == 401
    both = signed(b"{}")
    both["Authorization"] = f"Bearer {SECRET}"
    assert off.screen(both) is None and off.verify(both, b"tampered") is None


def test_the_rate_limit_answers_429_with_retry_after_and_refills() -> None:
    clock = Clock()
    door = gate(clock, rate_per_minute=60, burst=3)
    auth = headers(Authorization=f"Bearer {SECRET}")
    assert [door.screen(auth) for _ in range(3)] == [None, None, None]
    refused = door.screen(auth)
    assert refused is not None and refused.status == 429 and refused.headers["Retry-After"] == "1"
    clock.now += 1
    assert door.screen(auth) is None


def test_strangers_do_not_spend_the_budget() -> None:
    door = gate(Clock(), rate_per_minute=60, burst=2)
    for _ in range(50):
        refused = door.screen(headers(Authorization="Bearer guess"))
        assert refused is not None and refused.status == 401
    assert door.screen(headers(Authorization=f"Bearer {SECRET}")) is None


def test_remembered_signatures_are_forgotten_once_out_of_the_window() -> None:
    clock, body = Clock(), b"{}"
    door = gate(clock, signature="optional", window_seconds=60)
    assert door.verify(signed(body), body) is None
    clock.now += 61
    assert door.verify(signed(body, at=clock.now), body) is None
    assert len(door._seen) == 1


def test_refusals_never_carry_the_secret() -> None:
    door = gate(Clock(), signature="optional")
    for refused in (
        door.screen(headers(Authorization="Bearer x")),
        door.verify(signed(b"a"), b"b"),
        door.screen(headers(**{TIMESTAMP_HEADER: "1", SIGNATURE_HEADER: "x"})),
    ):
        assert refused is not None and SECRET not in repr(refused)


def test_each_signature_is_forgotten_by_its_own_timestamp_whatever_the_order() -> None:
    clock = Clock()
    door = gate(clock, signature="optional", window_seconds=60)
    stamps = [T, T - 50, T + 40, T - 10, T + 5]  # senders' clocks differ: not in order
    bodies = [f'{{"n": {n}}}'.encode() for n in range(len(stamps))]
    for stamp, body in zip(stamps, bodies, strict=True):
        assert door.verify(signed(body, at=stamp), body) is None
    for step in (0, 15, 30, 55, 70, 101):
        clock.now = T + step
        door.verify(signed(b"{}", at=clock.now), b"{}")  # a request prunes; its own is then remembered
        kept = {stamp for stamp in stamps if stamp + 60 >= clock.now}
        for stamp, body in zip(stamps, bodies, strict=True):
            replay = door.verify(signed(body, at=stamp), body)
            assert (replay is not None and replay.status == 409) == (stamp in kept), (step, stamp)
