"""Which outbox operation a backend call carries out, for backends that make their writes
safe to repeat.

A helpdesk can act and still fail the answer (a 500 after the commit, a timeout, a crash of
the connector before it recorded the answer); the outbox then retries an operation that may
have landed. A create is made safe by the connector key in the ticket (``find_by_key``), but a
note has no key of its own. So while the engine executes an operation it names it here:
``current()`` gives its id — stable across retries and unique in the state file, so a backend
can write it into what it posts as a marker — and whether it may have gone out before
(``retry``: the engine marks an operation *sent* before its first try, as it does a create),
so only a retry pays for looking the marker up.

A context variable rather than a parameter: the ``Backend`` protocol (and every plugin's
backend) stays as it is, and a call made outside the outbox simply has no delivery.

**The operation marker** is how a backend recognises its own write on a retry:
``[itsm-op:<outbox operation id>-<8 hex digits of the text's SHA-256>]`` at the end of what it
posts (a GLPI follow-up, a Redmine journal note). The digest keeps an operation id that a new
state file reuses from matching an older write with other text. It is plain text, not an HTML
comment or a markup construct, so no sanitiser or formatter strips it; a history reader leaves
it out of the note (``strip_op_marker``). Redmine's lookup takes the marker only as the note's
last, unindented line (``last_line_marker``), where untrusted text inside the note's literal
block cannot be; GLPI's takes the last one of the follow-up.
"""

from __future__ import annotations

__all__ = [
    "Delivery",
    "current",
    "delivering",
    "is_op_marker",
    "last_line_marker",
    "op_marker",
    "op_marker_of",
    "strip_op_marker",
]

import hashlib
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

_OP_MARKER = re.compile(r"\[itsm-op:([0-9]+-[0-9a-f]{8})\]")
#: the marker as the last line of a text, unindented: where the connector puts it, and where
#: untrusted text inside a literal block (indented, or inside ``<pre>``) cannot be
_LAST_LINE = re.compile(r"(?:\A|\n)(\[itsm-op:[0-9]+-[0-9a-f]{8}\])\s*\Z")


@dataclass(frozen=True)
class Delivery:
    """The outbox operation being carried out: its id, and whether an earlier try went out."""

    op_id: int
    retry: bool


_CURRENT: ContextVar[Delivery | None] = ContextVar("connector_delivery", default=None)


def current() -> Delivery | None:
    """The operation the current backend call carries out; ``None`` outside the outbox."""
    return _CURRENT.get()


@contextmanager
def delivering(op_id: int, *, retry: bool) -> Iterator[Delivery]:
    """Name the operation for the calls made inside the ``with`` block."""
    delivery = Delivery(op_id, retry)
    token = _CURRENT.set(delivery)
    try:
        yield delivery
    finally:
        _CURRENT.reset(token)


def op_marker(op_id: int, text: str) -> str:
    """The marker that ties a write of ``text`` to outbox operation ``op_id``."""
    return f"[itsm-op:{op_id}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}]"


def op_marker_of(content: str | None) -> str | None:
    """The operation marker in ``content`` (raw or HTML-encoded): the last one, as the connector
    writes it at the end; ``None`` when there is none."""
    if not content:
        return None
    found = _OP_MARKER.findall(content) or _OP_MARKER.findall(html.unescape(content))
    return f"[itsm-op:{found[-1]}]" if found else None


def is_op_marker(text: str) -> bool:
    """Whether a paragraph of plain text is only an operation marker (a history skips it)."""
    return _OP_MARKER.fullmatch(text.strip()) is not None


def last_line_marker(text: str | None) -> str | None:
    """The operation marker that is the last, unindented line of ``text``; ``None`` otherwise."""
    found = _LAST_LINE.search(text or "")
    return found.group(1) if found else None


def strip_op_marker(text: str) -> str:
    """``text`` without the marker that is its last line (text without one is unchanged)."""
    found = _LAST_LINE.search(text)
    return text[: found.start()].rstrip() if found else text
