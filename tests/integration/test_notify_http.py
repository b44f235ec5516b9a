"""The webhook, WeCom and DingTalk notifiers against an HTTP receiver on loopback: payloads in
their documented shapes, signatures that verify, and HTTP statuses and robot error codes mapped
to unavailable (retry) or rejected (dead-letter); a refused or silent port fails within the
timeout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import FakeClock
from connector.domain.errors import NotifierError, NotifierRejected, NotifierUnavailable
from connector.notify.dingtalk import DingtalkNotifier, DingtalkSettings
from connector.notify.render import Renderer
from connector.notify.webhook import WebhookNotifier, WebhookSettings
from connector.notify.wecom import WecomNotifier, WecomSettings
from tests.integration.notify_servers import Answer, Receiver, receiver, refusing_port, silent_port
from tests.notify_helpers import HOSTILE, REGISTERED, directory, notice

pytestmark = pytest.mark.integration

PEOPLE = [
    Recipient("chen.gang", "陈刚", "+86 138 0000 0010"),
    Recipient("zhang.wei", "张伟", "zhangwei"),  # a user id, not a mobile
]


@pytest.fixture(scope="module")
def http() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture
def gateway(http: Receiver) -> Iterator[Receiver]:
    http.take()
    yield http
    http.answer()


def message(**changes: object) -> OutgoingMessage:
    return Renderer(service_desk="服务台 8888", directory=directory()).render(notice(**changes))


CLOCK = FakeClock(REGISTERED)


# --- generic webhook (SMS / voice gateways) --------------------------------------------------


def webhook(url: str, **changes: object) -> WebhookNotifier:
    data: dict[str, object] = {"url": url, "timeout_seconds": 2}
    data.update(changes)
    return WebhookNotifier(WebhookSettings.model_validate(data), name="phone", clock=CLOCK)


def test_webhook_payload_bearer_and_signature(gateway: Receiver) -> None:
    secret = "gw-hmac-secret"
    notifier = webhook(
        gateway.url + "/notify",
        bearer_token=SecretStr("tok-123"),
        hmac_secret=SecretStr(secret),
        headers={"X-Site": "metro"},
    )
    notifier.send(message(), PEOPLE[:1])
    [request] = gateway.take()
    assert request.path == "/notify"
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["X-Site"] == "metro"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    timestamp = request.headers["X-ITSM-Timestamp"]
    assert timestamp == str(int(REGISTERED.timestamp()))
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-ITSM-Signature"] == f"sha256={expected}"
    body = request.json()
    assert body["version"] == 1
    assert body["ticket"] == {"key": "zabbix:31337", "id": "42", "url": "https://redmine.metro.example/issues/42"}
    assert body["recipients"] == [{"person": "chen.gang", "name": "陈刚", "address": "+86 138 0000 0010"}]
    assert "核心交换机 SW-CORE-01 宕机" in body["text"] and "服务台 8888" in body["text"]
    assert body["notice"]["kind"] == "escalation" and body["notice"]["level"] == 1


def test_webhook_without_secrets_sends_no_auth_headers(gateway: Receiver) -> None:
    webhook(gateway.url + "/n").send(message(), PEOPLE[:1])
    [request] = gateway.take()
    assert "Authorization" not in request.headers and "X-ITSM-Signature" not in request.headers


@pytest.mark.parametrize(
    ("answer", "error", "retry_after"),
    [
        (Answer(503, b"busy", {"Retry-After": "30"}), NotifierUnavailable, 30.0),
        (Answer(429, b"slow down"), NotifierUnavailable, None),
        (Answer(500, b"oops"), NotifierUnavailable, None),
        (Answer(400, b"bad number"), NotifierRejected, None),
        (Answer(401, b"no"), NotifierRejected, None),
        (Answer(302, b"", {"Location": "http://elsewhere/"}), NotifierRejected, None),
    ],
)
def test_webhook_statuses(
    gateway: Receiver, answer: Answer, error: type[NotifierError], retry_after: float | None
) -> None:
    gateway.answer(answer)
    with pytest.raises(error) as caught:
        webhook(gateway.url + "/n").send(message(), PEOPLE[:1])
    assert type(caught.value) is error
    assert getattr(caught.value, "retry_after", None) == retry_after


# --- WeCom group robot ----------------------------------------------------------------------


def wecom(url: str, **changes: object) -> WecomNotifier:
    data: dict[str, object] = {
        "url": url + "/cgi-bin/webhook/send",
        "key": SecretStr("wecom-key-693a"),
        "timeout_seconds": 2,
    }
    data.update(changes)
    return WecomNotifier(WecomSettings.model_validate(data), name="wecom", clock=CLOCK)


def test_wecom_text_mentions_mobiles_and_user_ids(gateway: Receiver) -> None:
    wecom(gateway.url).send(message(), PEOPLE)
    [request] = gateway.take()
    assert request.path == "/cgi-bin/webhook/send" and request.query == {"key": "wecom-key-693a"}
    body = request.json()
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == ["13800000010"]
    assert body["text"]["mentioned_list"] == ["zhangwei"]
    assert "核心交换机 SW-CORE-01 宕机" in body["text"]["content"]
    assert len(body["text"]["content"].encode()) <= 2048


def test_wecom_markdown_is_escaped(gateway: Receiver) -> None:
    wecom(gateway.url, msgtype="markdown").send(message(title=HOSTILE), PEOPLE)
    body = gateway.take()[0].json()
    assert body["msgtype"] == "markdown" and set(body["markdown"]) == {"content"}
    content = body["markdown"]["content"]
    assert r"\*\*x\*\*" in content and "<script>" not in content and "[a](" not in content
    assert content.endswith("<@zhangwei> @陈刚")  # a user id is mentioned; a mobile is named


def test_wecom_cuts_long_text_on_a_character_boundary(gateway: Receiver) -> None:
    wecom(gateway.url).send(message(title="宕机" * 1500), PEOPLE[:1])
    content = gateway.take()[0].json()["text"]["content"]
    assert len(content.encode()) <= 2048 and content.endswith("…")


@pytest.mark.parametrize(
    ("errcode", "error", "retry_after"),
    [
        (45009, NotifierUnavailable, 60.0),  # api freq out of limit
        (-1, NotifierUnavailable, None),  # system busy
        (93000, NotifierRejected, None),  # invalid webhook key
        (40008, NotifierRejected, None),  # invalid msgtype
    ],
)
def test_wecom_errcodes(gateway: Receiver, errcode: int, error: type[NotifierError], retry_after: float | None) -> None:
    gateway.answer(Answer(200, {"errcode": errcode, "errmsg": "from the robot"}))
    with pytest.raises(error, match=f"errcode {errcode}: from the robot") as caught:
        wecom(gateway.url).send(message(), PEOPLE)
    assert type(caught.value) is error and getattr(caught.value, "retry_after", None) == retry_after
    assert "wecom-key-693a" not in str(caught.value)


def test_wecom_odd_answers_are_retried(gateway: Receiver) -> None:
    gateway.answer(Answer(200, b"<html>proxy login</html>"))
    with pytest.raises(NotifierUnavailable, match="not JSON"):
        wecom(gateway.url).send(message(), PEOPLE)


# --- DingTalk custom robot ------------------------------------------------------------------


def dingtalk(url: str, **changes: object) -> DingtalkNotifier:
    data: dict[str, object] = {
        "url": url + "/robot/send",
        "access_token": SecretStr("dt-token-77"),
        "timeout_seconds": 2,
    }
    data.update(changes)
    return DingtalkNotifier(DingtalkSettings.model_validate(data), name="dingtalk", clock=CLOCK)


def test_dingtalk_markdown_with_at_mobiles_and_a_signature_that_verifies(gateway: Receiver) -> None:
    secret = "SECabc123+/="
    dingtalk(gateway.url, secret=SecretStr(secret)).send(message(title=HOSTILE), PEOPLE)
    [request] = gateway.take()
    assert request.path == "/robot/send"
    assert request.query["access_token"] == "dt-token-77"
    timestamp = request.query["timestamp"]
    assert timestamp == str(int(REGISTERED.timestamp() * 1000))  # milliseconds, from the clock
    # what DingTalk computes: Base64(HMAC-SHA256(secret, "<timestamp>\n<secret>")), URL-decoded here by parse_qs
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert request.query["sign"] == base64.b64encode(digest).decode()
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert body["at"] == {"atMobiles": ["13800000010"], "atUserIds": ["zhangwei"], "isAtAll": False}
    assert body["markdown"]["title"].startswith("事件升级第1级")
    text = body["markdown"]["text"]
    assert text.endswith("@13800000010 @zhangwei")  # a mention shows only when named in the text
    assert r"\[a\](http://evil)" in text and "＜script＞" in text


def test_dingtalk_unsigned_sends_only_the_token(gateway: Receiver) -> None:
    dingtalk(gateway.url, msgtype="text").send(message(), PEOPLE[:1])
    [request] = gateway.take()
    assert request.query == {"access_token": "dt-token-77"}
    body = request.json()
    assert body["msgtype"] == "text" and body["text"]["content"].endswith("@13800000010")


@pytest.mark.parametrize(
    ("errcode", "error", "retry_after"),
    [
        (410100, NotifierUnavailable, 600.0),  # sent too fast: throttled 10 min
        (130101, NotifierUnavailable, 60.0),  # sent too fast (older code)
        (-1, NotifierUnavailable, None),
        (310000, NotifierRejected, None),  # sign not match / keywords / IP
        (400101, NotifierRejected, None),  # no such access_token
    ],
)
def test_dingtalk_errcodes(
    gateway: Receiver, errcode: int, error: type[NotifierError], retry_after: float | None
) -> None:
    gateway.answer(Answer(200, {"errcode": errcode, "errmsg": "from the robot"}))
    with pytest.raises(error) as caught:
        dingtalk(gateway.url, secret=SecretStr("SECx")).send(message(), PEOPLE)
    assert type(caught.value) is error and getattr(caught.value, "retry_after", None) == retry_after
    assert "dt-token-77" not in str(caught.value) and "SECx" not in str(caught.value)


def test_dingtalk_security_refusal_says_what_to_check(gateway: Receiver) -> None:
    gateway.answer(Answer(200, {"errcode": 310000, "errmsg": "sign not match"}))
    with pytest.raises(NotifierRejected, match="加签 secret, keywords, IP allow-list"):
        dingtalk(gateway.url).send(message(), PEOPLE)


# --- a gateway that is down -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["webhook", "wecom", "dingtalk"])
def test_a_refused_connection_fails_fast_and_hides_the_key(kind: str) -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}"
        notifier = {
            "webhook": lambda: webhook(url + "/n"),
            "wecom": lambda: wecom(url),
            "dingtalk": lambda: dingtalk(url),
        }[kind]()
        started = time.monotonic()
        with pytest.raises(NotifierUnavailable, match="cannot connect to") as caught:
            notifier.send(message(), PEOPLE)
        assert time.monotonic() - started < 2
        assert "wecom-key-693a" not in str(caught.value) and "dt-token-77" not in str(caught.value)


def test_a_silent_gateway_is_given_up_after_the_timeout() -> None:
    with silent_port() as port:
        started = time.monotonic()
        with pytest.raises(NotifierUnavailable, match=r"no answer from .* within 0\.5s"):
            webhook(f"http://127.0.0.1:{port}/n", timeout_seconds=0.5).send(message(), PEOPLE)
        assert time.monotonic() - started < 3
