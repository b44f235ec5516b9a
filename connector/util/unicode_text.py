"""Text that every writer downstream accepts: no lone surrogates, no unbounded nesting.

A Python ``str`` can hold a lone surrogate (U+D800–U+DFFF) that no UTF-8 encoder, JSON
writer or SQLite column takes. Untrusted input makes them easily: ``json.loads`` of
``"\\udade"`` in a webhook body or a replayed line, UTF-7 ``+2t4-`` in a mail. One such
character would make journaling the input raise on every retry — a poison message that
holds its source — so inputs are mended where they enter: each lone surrogate becomes
U+FFFD, the replacement character a reader recognises.

Nesting is the other poison: ``"[" * 1000`` makes ``json.loads`` (and anything that walks
the result recursively, ``json.dumps`` when it is journaled included) raise ``RecursionError``,
which no caller expects from a parser. ``loads_valid`` therefore measures the nesting first,
without recursion and without parsing, and refuses a text deeper than ``MAX_DEPTH`` with
``TooDeep`` — a ``ValueError``, so it is handled where a malformed text is. ``valid_tree``
walks iteratively, so it cannot overflow the stack whatever a plugin hands it.
"""

from __future__ import annotations

__all__ = [
    "MAX_DEPTH",
    "TooDeep",
    "ascii_digits",
    "json_depth",
    "loads_valid",
    "tree_depth",
    "valid_text",
    "valid_tree",
]

import json
import re
from typing import Any

from connector.domain.errors import ConnectorError

#: the deepest JSON any input may nest (arrays and objects). Zabbix's media type posts a flat
#: object whose deepest field (the tags) is 3 levels; 64 leaves room for any real payload and
#: stays far below Python's recursion limit (1000) for every parser and writer downstream.
MAX_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
#: a JSON escape that decodes to a surrogate (paired ones are joined by the decoder)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: a JSON string (escapes included; an unterminated one runs to the end, so a scan never
#: backtracks): what is inside one is not structure
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class TooDeep(ConnectorError, ValueError):
    """Raised by ``loads_valid`` for a text nested deeper than the limit; the message says both.
    A ``ValueError`` too, so every caller that handles malformed JSON handles it."""

    def __init__(self, depth: int, limit: int) -> None:
        self.depth = depth
        self.limit = limit
        super().__init__(f"JSON nested deeper than {limit} levels (at least {depth})")


def json_depth(text: str, limit: int | None = None) -> int:
    """How deep the arrays and objects of a JSON ``text`` nest (0 for a scalar), counted
    without parsing and without recursion: the brackets outside strings, in order.

    With ``limit`` the count stops as soon as it passes it (the result is then ``limit + 1``).
    A malformed text gets a number too (its brackets outside what look like strings); the
    parser refuses it afterwards.
    """
    if "[" not in text and "{" not in text:
        return 0
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if limit is not None and deepest > limit:
                    return deepest
        elif depth:
            depth -= 1
    return deepest


def tree_depth(value: Any, limit: int | None = None) -> int:
    """How deep the dicts, lists and tuples of ``value`` nest (0 for anything else), walked
    without recursion; with ``limit`` the walk stops once it passes it (then ``limit + 1``).
    For a tree built in Python, where ``json_depth`` has no text to count."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list | tuple):
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if limit is not None and deepest > limit:
                return deepest
        stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more of the ASCII digits 0–9 — what a numeric id from Zabbix,
    GLPI or a helpdesk is. ``str.isdigit`` alone also takes ``²``, Arabic-Indic ``٨`` and
    fullwidth ``８`` (``int`` reads the last two, so ``٨٨١٠٠٤`` would pass as event 881004
    under a key no other path makes, and ``int("²")`` raises)."""
    return text.isascii() and text.isdigit()


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the same object when it has none)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def valid_tree(value: Any) -> Any:
    """``value`` with every string in it — dict keys, list and tuple items — made ``valid_text``;
    other values are returned as they are.

    Iterative (an explicit stack, containers rebuilt bottom-up), so any depth is walked in
    constant stack space: a deep tree a plugin built cannot make mending raise.
    """
    if not isinstance(value, dict | list | tuple):
        return valid_text(value) if isinstance(value, str) else value
    # each frame: the source container, its items still to visit, what is rebuilt so far
    root: list[Any] = []
    stack: list[tuple[Any, Any, list[Any]]] = [(value, iter(_items(value)), [])]
    while stack:
        container, todo, done = stack[-1]
        item = next(todo, _END)
        if item is _END:
            stack.pop()
            built = _rebuild(container, done)
            (stack[-1][2] if stack else root).append(built)
            continue
        if isinstance(item, dict | list | tuple):
            stack.append((item, iter(_items(item)), []))
        else:
            done.append(valid_text(item) if isinstance(item, str) else item)
    return root[0]


_END = object()


def _items(container: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> list[Any]:
    """What of a container is mended, flat: a dict's keys and values alternate."""
    if isinstance(container, dict):
        return [part for pair in container.items() for part in pair]
    return list(container)


def _rebuild(container: Any, done: list[Any]) -> Any:
    if isinstance(container, dict):
        return dict(zip(done[0::2], done[1::2], strict=True))
    if isinstance(container, tuple):
        return tuple(done)
    return done


def loads_valid(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)`` with every string ``valid_text``; raises ``TooDeep`` (a
    ``ValueError``) before parsing a text nested deeper than ``max_depth``, and
    ``json.JSONDecodeError`` for one that is not JSON.

    The mending walk is only made for a text with a surrogate escape or character, so
    well-formed input pays one regex search. The depth is counted only for a text with more
    opening brackets than ``max_depth`` (quoted ones included): with fewer it cannot nest
    deeper, so a webhook body — a flat object — pays two ``str.count`` instead of a scan.
    """
    if text.count("[") + text.count("{") > max_depth:
        depth = json_depth(text, max_depth)
        if depth > max_depth:
            raise TooDeep(depth, max_depth)
    data = json.loads(text)
    if _SURROGATE_ESCAPE.search(text) or _SURROGATE.search(text):
        return valid_tree(data)
    return data
