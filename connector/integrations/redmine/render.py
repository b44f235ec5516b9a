"""The readable text the connector writes into issue descriptions and notes.

Alert titles and descriptions are untrusted: a Zabbix trigger name or a mail body can hold
``"link":http://evil``, ``*bold*``, ``{{macro}}`` or ``</pre>``. Everything the connector writes
into a markup field therefore goes inside a literal block of the instance's text formatting:

* Textile (Redmine's default): a ``<pre>`` block. Redmine escapes HTML inside it itself (so
  HTML-escaping here would show ``&lt;``); the only way out is one of its "off" tags
  (``pre``, ``code``, ``kbd``, ``notextile``), so a ``<`` that would open or close one is turned
  into ``‹``.
* Markdown / CommonMark: an indented code block, whose content no parser interprets.

The process fields are listed as ``label: value`` lines with English and Chinese labels, e.g.
``Impact 影响度: 2 严重``, so the ticket is complete even where a custom field is missing.
"""

from __future__ import annotations

__all__ = ["field_lines", "literal_block", "read_field_line", "render_description", "render_note"]

import re
from collections.abc import Mapping
from typing import Any

from connector.domain.fields import CATALOGUE, field_label, field_lines, read_field_line
from connector.domain.models import Ticket
from connector.integrations.redmine.settings import TextFormatting

_TEXTILE_OFFTAG = re.compile(r"<(?=/?(?:pre|code|kbd|notextile))", re.IGNORECASE)
_HEADER = "--- ITSM fields 流程字段 ---"
# the process markers with no custom field, appended after the catalogue fields (status and
# title are Redmine's own attributes, so they are not repeated where they would go stale)
_EXTRA = ("assignee", "external_id", "rule", "priority_reason")


def literal_block(text: str, formatting: TextFormatting) -> str:
    """``text`` as a block that the given Redmine text formatting shows verbatim."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if formatting == "textile":
        return "<pre>" + _TEXTILE_OFFTAG.sub("‹", text) + "</pre>"
    return "\n".join(("    " + line) if line.strip() else "" for line in text.split("\n"))


def render_description(ticket: Ticket, formatting: TextFormatting) -> str:
    """The issue description: the ticket's own text, then the block of process fields."""
    keys = [spec.key for spec in CATALOGUE if spec.key != "solution"] + list(_EXTRA)
    block = [_HEADER, *field_lines((key, getattr(ticket, key)) for key in keys)]
    if ticket.solution:
        block.append(field_label("solution") + ":")
        block.append(ticket.solution)
    return literal_block(ticket.description, formatting) + "\n\n" + literal_block("\n".join(block), formatting)


def render_note(text: str | None, extra: Mapping[str, Any], formatting: TextFormatting) -> str:
    """A journal note: ``text`` plus, as ``label: value`` lines, the changed fields that have no
    place in this Redmine (so a change is never lost silently). Empty when there is nothing."""
    parts = []
    if text and text.strip():
        parts.append(literal_block(text, formatting))
    lines = field_lines(extra.items())
    if lines:
        parts.append(literal_block("\n".join(lines), formatting))
    return "\n\n".join(parts)
