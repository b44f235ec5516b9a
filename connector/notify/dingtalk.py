"""The DingTalk (钉钉) custom-robot notifier, with the optional "加签" signature.

A custom robot has a webhook ``https://oapi.dingtalk.com/robot/send?access_token=TOKEN``; the
token is the secret. With "加签" (signing) switched on, every call also carries
``timestamp`` (milliseconds) and ``sign`` = Base64(HMAC-SHA256(key=secret,
msg="<timestamp>\\n<secret>")), URL-encoded as a query parameter; DingTalk refuses a timestamp
more than an hour off. The body is ``{"msgtype": "markdown", "markdown": {"title", "text"},
"at": {"atMobiles", "atUserIds", "isAtAll": false}}`` (or ``msgtype: text``); a mention only
shows when the text also contains ``@<mobile>``, so those are appended.

The robot answers HTTP 200 with ``errcode``: 0 is success; -1 (busy), 130101 and 410100 (sent
too fast: more than 20 a minute, throttled for 10 minutes) are retried; anything else — 310000
(the robot's security settings: signature, keyword or IP allow-list), 300001/400101 (no such
token), 400102 (robot disabled), 430101–430104 (content refused) … — is permanent.
"""

from __future__ import annotations

__all__ = ["DingtalkNotifier", "DingtalkSettings", "dingtalk_sign"]

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import Clock
from connector.notify.http import HttpPoster
from connector.notify.robot import check_errcode, mentions, truncate_utf8
from connector.util.secrets import Secret
from connector.util.tls import CaBundle

_RETRY: dict[int, float | None] = {-1: None, 130101: 60.0, 410100: 600.0}
_HINTS = {
    310000: "the robot's security settings refused the call: check the 加签 secret, keywords, IP allow-list "
    "and this machine's clock",
    300001: "no such access_token: the robot was removed or its token regenerated",
    400101: "no such access_token: the robot was removed or its token regenerated",
    400102: "the robot is disabled",
    400106: "the robot does not exist",
}
_LIMIT = 18000  # DingTalk takes up to 20000 bytes; keep room for the at-list and JSON


class DingtalkSettings(BaseModel):
    """A ``notify.channels`` entry of type ``dingtalk``."""

    model_config = ConfigDict(extra="forbid")

    access_token: Secret = Field(description="the robot's access_token (from its webhook URL)")
    secret: Secret | None = Field(None, description="the 加签 secret (SEC…), when signing is on")
    url: str = Field("https://oapi.dingtalk.com/robot/send", pattern=r"^https?://")
    msgtype: Literal["markdown", "text"] = "markdown"
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    verify_tls: bool = True
    ca_bundle: CaBundle = None


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """The ``sign`` parameter (before URL encoding): Base64 of HMAC-SHA256(secret, ts + "\\n" + secret)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class DingtalkNotifier:
    """Posts each notice once to the robot's group, @-mentioning the recipients."""

    needs_recipients = False  # the group sees the message even when nobody is mentioned

    def __init__(
        self, settings: DingtalkSettings, *, name: str, clock: Clock, session: requests.Session | None = None
    ) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._http = HttpPoster.for_channel(settings, name=name, clock=clock, session=session)

    def payload(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> dict[str, Any]:
        """The JSON body for ``message``."""
        mobiles, userids = mentions(recipients)
        tail = " ".join(f"@{m}" for m in [*mobiles, *userids])
        at = {"atMobiles": mobiles, "atUserIds": userids, "isAtAll": False}
        if self._settings.msgtype == "text":
            content = truncate_utf8(message.text.strip(), _LIMIT) + (f"\n{tail}" if tail else "")
            return {"msgtype": "text", "text": {"content": content}, "at": at}
        text = truncate_utf8(message.markdown.strip(), _LIMIT) + (f"\n\n{tail}" if tail else "")
        return {"msgtype": "markdown", "markdown": {"title": message.subject[:64], "text": text}, "at": at}

    def params(self) -> dict[str, str]:
        """The query: the token, and the signature when 加签 is on (timestamp from the clock)."""
        params = {"access_token": self._settings.access_token.get_secret_value()}
        if self._settings.secret is not None:
            timestamp = str(int(self._clock.now().timestamp() * 1000))
            params["timestamp"] = timestamp
            params["sign"] = dingtalk_sign(self._settings.secret.get_secret_value(), timestamp)
        return params

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        """Post to the robot; raises ``NotifierUnavailable`` / ``NotifierRejected``."""
        body = json.dumps(self.payload(message, recipients), ensure_ascii=False).encode("utf-8")
        response = self._http.post(self._settings.url, body, params=self.params())
        operation = f"POST {self._settings.url}"
        answer = self._http.json_answer(response, operation)
        check_errcode(answer, notifier=self.name, operation=operation, retry=_RETRY, hints=_HINTS)

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()
