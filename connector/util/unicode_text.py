"""Text that every writer downstream accepts: no lone surrogates.

A Python ``str`` can hold a lone surrogate (U+D800–U+DFFF) that no UTF-8 encoder, JSON
writer or SQLite column takes. Untrusted input makes them easily: ``json.loads`` of
``"\\udade"`` in a webhook body or a replayed line, UTF-7 ``+2t4-`` in a mail. One such
character would make journaling the input raise on every retry — a poison message that
holds its source — so inputs are mended where they enter: each lone surrogate becomes
U+FFFD, the replacement character a reader recognises.
"""

from __future__ import annotations

__all__ = ["loads_valid", "valid_text", "valid_tree"]

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
#: a JSON escape that decodes to a surrogate (paired ones are joined by the decoder)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the same object when it has none)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def valid_tree(value: Any) -> Any:
    """``value`` with every string in it — dict keys, list and tuple items — made ``valid_text``;
    other values are returned as they are."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_tree(k): valid_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_tree(v) for v in value]
    if isinstance(value, tuple):
        return tuple(valid_tree(v) for v in value)
    return value


def loads_valid(text: str) -> Any:
    """``json.loads(text)`` with every string ``valid_text``; the walk is only made for a text
    with a surrogate escape or character, so well-formed input pays one regex search."""
    data = json.loads(text)
    if _SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text):
        return valid_tree(data)
    return data
