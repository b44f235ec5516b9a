"""What the WeCom and DingTalk group robots share: mentions, byte limits, answer codes.

Both answer HTTP 200 with ``{"errcode": N, "errmsg": "…"}``; ``errcode`` ≠ 0 is a failure even
though HTTP said OK. Each robot module lists which codes are worth retrying (rate limits,
"system busy"); every other non-zero code is permanent for that message (invalid key or
signature, robot removed, content refused) and the notice is dead-lettered.
"""

from __future__ import annotations

__all__ = ["check_errcode", "is_mobile", "mentions", "mobile_digits", "truncate_utf8"]

import re
from collections.abc import Mapping, Sequence
from typing import Any

from connector.contracts.notifiers import Recipient
from connector.domain.errors import NotifierRejected, NotifierUnavailable

_MOBILE = re.compile(r"^\+?[0-9][0-9 -]{5,}$")


def is_mobile(handle: str) -> bool:
    """A handle that is a phone number (mentioned by mobile) rather than a user id."""
    return bool(_MOBILE.match(handle))


def mobile_digits(handle: str) -> str:
    """A mobile handle as the robots want it: digits only (no +86, spaces or dashes)."""
    digits = re.sub(r"\D", "", handle)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def mentions(recipients: Sequence[Recipient]) -> tuple[list[str], list[str]]:
    """The recipients to mention as (mobiles, user ids): phone handles as bare digits, the
    rest as they are, each in the recipients' order."""
    mobiles = [mobile_digits(r.address) for r in recipients if is_mobile(r.address)]
    userids = [r.address for r in recipients if not is_mobile(r.address)]
    return mobiles, userids


def truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes on a character boundary, marked with ``…``."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    cut = data[: limit - len("…".encode())].decode("utf-8", errors="ignore")
    return cut + "…"


def check_errcode(
    answer: Mapping[str, Any],
    *,
    notifier: str,
    operation: str,
    retry: Mapping[int, float | None],
    hints: Mapping[int, str],
) -> None:
    """Raise for a robot answer whose ``errcode`` is not 0.

    :param retry: codes worth retrying, each with the seconds to wait (``None``: the outbox's
        own backoff).
    :param hints: what an admin should check for a permanent code.
    """
    code = answer.get("errcode")
    if code == 0:
        return
    message = str(answer.get("errmsg", ""))[:200]
    if not isinstance(code, int):
        raise NotifierUnavailable(f"answer without an errcode: {message!r}", notifier=notifier, operation=operation)
    if code in retry:
        raise NotifierUnavailable(
            f"errcode {code}: {message}", notifier=notifier, operation=operation, retry_after=retry[code]
        )
    hint = f" ({hints[code]})" if code in hints else ""
    raise NotifierRejected(f"errcode {code}: {message}{hint}", notifier=notifier, operation=operation)
