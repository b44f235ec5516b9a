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
from collections.abc import Iterable, Mapping
from typing import Any

from connector.domain.clock import parse_time
from connector.domain.models import Ticket
from connector.integrations.redmine.fields import CATALOGUE, LABELS, FieldKind, display, spec_for
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


def _label(key: str) -> str:
    spec = spec_for(key)
    return spec.label if spec is not None else LABELS.get(key, key)


def field_lines(values: Iterable[tuple[str, Any]]) -> list[str]:
    """``Label 标签: value`` for each (ticket field, value); ``None`` values are left out."""
    lines = []
    for key, value in values:
        if value is None:
            continue
        text = display(value).replace("\r", " ").replace("\n", " ⏎ ")
        lines.append(f"{_label(key)}: {text}")
    return lines


def _by_label() -> dict[str, str]:
    keys = [spec.key for spec in CATALOGUE] + [key for key in LABELS if spec_for(key) is None]
    return {_label(key): key for key in keys}


_BY_LABEL = _by_label()
_YES, _NO = display(True), display(False)


def read_field_line(line: str) -> tuple[str, Any] | None:
    """The (ticket field, value) of one ``Label 标签: value`` line as ``field_lines`` writes it,
    or ``None`` for a line that is not one (or whose value the field cannot hold).

    Enums are read from the raw value before their label (``2 严重`` → 2), booleans from
    ``yes 是`` / ``no 否``, times as ISO 8601; a line break written as `` ⏎ `` comes back.
    """
    label, sep, text = line.partition(": ")
    key = _BY_LABEL.get(label.strip()) if sep else None
    if key is None:
        return None
    text = text.strip()
    spec = spec_for(key)
    try:
        if spec is None or spec.kind is FieldKind.TEXT:
            return key, text.replace(" ⏎ ", "\n")
        if spec.kind is FieldKind.BOOL:
            return (key, text == _YES) if text in (_YES, _NO) else None
        if spec.kind is FieldKind.INT:
            return key, int(text)
        if spec.kind is FieldKind.DATETIME:
            return key, parse_time(text)
        assert spec.enum is not None
        raw = text.split(" ", 1)[0]
        return key, spec.enum(int(raw)) if issubclass(spec.enum, int) else spec.enum(raw)
    except ValueError:
        return None


def render_description(ticket: Ticket, formatting: TextFormatting) -> str:
    """The issue description: the ticket's own text, then the block of process fields."""
    keys = [spec.key for spec in CATALOGUE if spec.key != "solution"] + list(_EXTRA)
    block = [_HEADER, *field_lines((key, getattr(ticket, key)) for key in keys)]
    if ticket.solution:
        block.append(f"{_label('solution')}:")
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
