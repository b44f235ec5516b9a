"""The HTML the connector writes into GLPI: ticket content, follow-ups, solutions.

GLPI's ``content`` is rich text (HTML), and alert titles and descriptions are untrusted: a
Zabbix trigger name or a mail body can hold ``<script>``, ``<img onerror=…>`` or a
``<a href="javascript:…">``. GLPI sanitises HTML itself, but the connector does not lean on
that: every piece of text is HTML-escaped here (``<`` becomes ``&lt;``), so it is shown as
the characters it is and can never become markup. Line breaks become ``<br>`` and blank lines
paragraphs, because plain newlines do not render in GLPI.

The process fields are listed as ``label: value`` lines with English and Chinese labels (the
same lines the Redmine backend writes), e.g. ``Impact 影响度: 2 严重``, so a ticket is complete
even for fields GLPI has no place for. The block also carries the connector key marker.

Every such block — in the content and in a follow-up or solution — starts with the header
line ``--- ITSM fields 流程字段 ---``, and the history reads the fields back only from a
paragraph that starts with it (``connector.integrations.glpi.history``). Untrusted text never carries that
line: where it would, its dashes are spaced out, so a mail cannot forge a closure code.
"""

from __future__ import annotations

__all__ = ["HEADER", "defused", "html_text", "render_content", "render_followup", "ticket_name"]

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from connector.domain.fields import CATALOGUE, field_lines
from connector.domain.models import Ticket
from connector.integrations.glpi.fields import key_marker

NAME_MAX = 255  # glpi_tickets.name is a varchar(255)
HEADER = "--- ITSM fields 流程字段 ---"
_DEFUSED = "- - - ITSM fields 流程字段 - - -"
# process markers without a catalogue entry, after the catalogue fields; the title and status
# are the ticket's own GLPI attributes, so they are not repeated where they would go stale
_EXTRA = ("assignee", "external_id", "rule", "priority_reason")
_BLANK_LINES = re.compile(r"\n\s*\n")


def defused(text: str) -> str:
    """Untrusted ``text`` without the header line that opens the connector's field blocks."""
    return text.replace(HEADER, _DEFUSED)


def html_text(text: str) -> str:
    """``text`` as HTML that shows exactly these characters: escaped, ``<br>`` for line breaks,
    one ``<p>`` per paragraph. Empty text gives an empty string."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not text.strip():
        return ""
    paragraphs = [p.strip("\n") for p in _BLANK_LINES.split(text) if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line, quote=True) for line in p.split("\n")) + "</p>" for p in paragraphs
    )


def _lines_html(lines: Iterable[str]) -> str:
    items = [html.escape(line, quote=True) for line in lines]
    return "<p>" + "<br>".join(items) + "</p>" if items else ""


def ticket_name(title: str) -> str:
    """The GLPI title: one line, at most 255 characters (a plain-text column: GLPI encodes it
    itself, so it is not HTML-escaped here)."""
    text = " ".join(title.split())
    return text if len(text) <= NAME_MAX else text[: NAME_MAX - 1] + "…"


def render_content(ticket: Ticket, notes: Iterable[str] = ()) -> str:
    """The ticket content: the ticket's own description, the connector's ``notes`` (what it
    could not do, e.g. a lookup that failed), then the block of process fields ending with the
    connector key marker."""
    keys = [spec.key for spec in CATALOGUE if spec.key != "solution"] + list(_EXTRA)
    lines = [HEADER, *field_lines((key, getattr(ticket, key)) for key in keys)]
    block = _lines_html(lines)
    solution = ""
    if ticket.solution:
        solution = _lines_html(["Solution 解决方案:"]) + html_text(defused(ticket.solution))
    marker = "<p>" + html.escape(key_marker(ticket.key)) + "</p>"
    said = "".join(html_text(defused(note)) for note in notes)
    return html_text(defused(ticket.description)) + said + "<hr>" + block + solution + marker


def render_followup(text: str | None, extra: Mapping[str, Any]) -> str:
    """A follow-up (or solution) body: ``text``, then the changed fields GLPI has no place
    for as ``label: value`` lines (so a change is never lost). Empty when there is nothing."""
    parts = [html_text(defused(text))] if text and text.strip() else []
    lines = field_lines(extra.items())
    if lines:
        parts.append(_lines_html([HEADER, *lines]))
    return "".join(parts)
