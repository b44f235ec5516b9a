"""The WeCom (企业微信) group-robot notifier.

A group robot has a webhook ``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY``; the key
is the secret. The body is ``{"msgtype": "text", "text": {"content", "mentioned_list",
"mentioned_mobile_list"}}`` or ``{"msgtype": "markdown", "markdown": {"content"}}``.

``msgtype: text`` is the default because only text messages mention people by mobile number
(``mentioned_mobile_list``), and the mention is what wakes the on-call engineer. Markdown
messages can mention only user ids (``<@userid>`` in the content); a mobile handle is then
shown as ``@name`` in plain text. Content limits: 2048 bytes (text), 4096 (markdown).

The robot answers HTTP 200 with ``errcode``: 0 is success; -1 (system busy) and 45009 (more
than 20 messages a minute) are retried; anything else — 93000 (invalid key: the robot was
removed or its key regenerated), 40008 (msgtype), 44004 (empty) … — is permanent.
"""

from __future__ import annotations

__all__ = ["WecomNotifier", "WecomSettings"]

import json
from collections.abc import Sequence
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from connector.contracts.notifiers import OutgoingMessage, Recipient
from connector.domain.clock import Clock
from connector.notify.http import HttpPoster
from connector.notify.robot import check_errcode, is_mobile, mentions, truncate_utf8
from connector.util.secrets import Secret
from connector.util.tls import CaBundle

_RETRY: dict[int, float | None] = {-1: None, 45009: 60.0}
_HINTS = {
    93000: "invalid webhook key: the robot was removed or its key regenerated; fix the channel's key",
    40008: "invalid msgtype",
    44004: "empty content",
}
_LIMITS = {"text": 2048, "markdown": 4096}


class WecomSettings(BaseModel):
    """A ``notify.channels`` entry of type ``wecom``."""

    model_config = ConfigDict(extra="forbid")

    key: Secret = Field(description="the robot's webhook key (key=… of its URL)")
    url: str = Field("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", pattern=r"^https?://")
    msgtype: Literal["text", "markdown"] = "text"
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    verify_tls: bool = True
    ca_bundle: CaBundle = None


class WecomNotifier:
    """Posts each notice once to the robot's group, mentioning the recipients."""

    needs_recipients = False  # the group sees the message even when nobody is mentioned

    def __init__(
        self, settings: WecomSettings, *, name: str, clock: Clock, session: requests.Session | None = None
    ) -> None:
        self.name = name
        self._settings = settings
        self._http = HttpPoster.for_channel(settings, name=name, clock=clock, session=session)

    def payload(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> dict[str, Any]:
        """The JSON body for ``message``."""
        mobiles, userids = mentions(recipients)
        if self._settings.msgtype == "text":
            return {
                "msgtype": "text",
                "text": {
                    "content": truncate_utf8(message.text.strip(), _LIMITS["text"]),
                    "mentioned_list": userids,
                    "mentioned_mobile_list": mobiles,
                },
            }
        tail = " ".join([f"<@{u}>" for u in userids] + [f"@{r.name}" for r in recipients if is_mobile(r.address)])
        body = message.markdown.strip()
        if tail:
            body = truncate_utf8(body, _LIMITS["markdown"] - len(tail.encode()) - 2) + "\n\n" + tail
        return {"msgtype": "markdown", "markdown": {"content": truncate_utf8(body, _LIMITS["markdown"])}}

    def send(self, message: OutgoingMessage, recipients: Sequence[Recipient]) -> None:
        """Post to the robot; raises ``NotifierUnavailable`` / ``NotifierRejected``."""
        body = json.dumps(self.payload(message, recipients), ensure_ascii=False).encode("utf-8")
        params = {"key": self._settings.key.get_secret_value()}
        response = self._http.post(self._settings.url, body, params=params)
        operation = f"POST {self._settings.url}"
        answer = self._http.json_answer(response, operation)
        check_errcode(answer, notifier=self.name, operation=operation, retry=_RETRY, hints=_HINTS)

    def close(self) -> None:
        """Close the HTTP session."""
        self._http.close()
