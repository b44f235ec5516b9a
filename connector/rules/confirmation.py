"""What a user's reply to a resolved ticket says (IM 5.1–5.2): accepted, rejected, or neither.

When a ticket is resolved the user is asked to confirm. Their reply (an e-mail answering the
notice) is read here: a rejection sends the ticket back to investigation, an acceptance is noted
so the 1st line may close it. Only the user's own words count — quoted text (``>`` lines, an
"-----Original Message-----" block, "On … wrote:") is cut first, because it usually holds our
own notice, which says "resolved". A rejection wins over an acceptance ("not resolved yet").
"""

from __future__ import annotations

__all__ = ["Verdict", "verdict"]

import re
from enum import StrEnum


class Verdict(StrEnum):
    """The user's answer."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNCLEAR = "unclear"


_QUOTE_START = re.compile(
    r"^\s*(>|-{2,}\s*(original message|原始邮件)|(on .+ wrote:)|(在 .+ 写道)|(发件人|from)\s*[:：]|_{5,})",
    re.IGNORECASE,
)
_REJECT = re.compile(
    r"未解决|没有解决|没解决|仍然|依然|还是不行|还不行|不能用|没有恢复|未恢复|拒绝|不同意|不可以关闭|不能关闭"
    r"|\bnot (yet )?(fixed|resolved|working|ok)\b|\bstill\b|\breject|doesn'?t work|does not work|\bbroken\b",
    re.IGNORECASE,
)
_ACCEPT = re.compile(
    r"已解决|已经解决|解决了|已恢复|恢复正常|好了|可以了|正常了|同意关闭|可以关闭|确认|谢谢"
    r"|\bfixed\b|\bresolved\b|\bworks\b|\bconfirm|\bok\b|\bthanks?\b|thank you",
    re.IGNORECASE,
)


def own_words(text: str) -> str:
    """The reply without what it quotes."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if _QUOTE_START.match(line):
            break
        lines.append(line)
    return "\n".join(lines)


def verdict(subject: str, body: str) -> Verdict:
    """Whether the reply accepts the resolution, rejects it, or says neither."""
    text = f"{_strip_prefixes(subject)}\n{own_words(body)}"
    if _REJECT.search(text):
        return Verdict.REJECTED
    if _ACCEPT.search(text):
        return Verdict.ACCEPTED
    return Verdict.UNCLEAR


_OUR_TAG = re.compile(r"\[(ITSM|[^\]]*#\d+)[^\]]*\]")
_PREFIXES = re.compile(r"^((re|aw|fw|fwd|回复|答复|转发)\s*[:：]\s*)+", re.IGNORECASE)


def _strip_prefixes(subject: str) -> str:
    """The user's own words in a subject: none when it is our notice's subject answered
    (``Re: [ITSM #42] 事件状态：已解决`` — it says "resolved" because we did), else the subject
    without its ``Re:``/``回复:`` prefixes."""
    if _OUR_TAG.search(subject):
        return ""
    return _PREFIXES.sub("", subject)
