"""Alerts as JSON lines: the format of the ``replay`` source, the demo sample and ``simulate``.

One JSON object per line: an ``Alert`` (``source, external_id, title, occurred_at`` required),
or a control line ``{"type": "close", "external_id": X, "at": T}``. Blank lines and lines
starting with ``#`` are skipped. A line that is not valid — not JSON, nested deeper than
``MAX_DEPTH`` (``connector.util.unicode_text``), an ``external_id`` or ``reply_to`` that is a
number in digits other than ASCII 0–9, not an alert — becomes a ``Rejected`` naming
the line number and the reason; it never stops the lines after it.
"""

from __future__ import annotations

__all__ = ["Control", "parse_line", "read_lines"]

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connector.contracts.adapters import Rejected
from connector.domain.clock import parse_time
from connector.domain.models import Alert
from connector.util.unicode_text import TooDeep, ascii_digits, loads_valid

#: most of a line too deep to parse kept in its dead letter (the rest is only more brackets)
_SAMPLE = 1000


@dataclass(frozen=True)
class Control:
    """A line that acts on a ticket as the helpdesk would (close, assign, …)."""

    type: str
    external_id: str
    at: datetime
    data: dict[str, Any]


def parse_line(text: str, lineno: int, default_source: str = "replay") -> Alert | Control | Rejected | None:
    """Parse one line; ``None`` for blank and comment lines."""
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    try:
        data = loads_valid(stripped)
    except TooDeep as exc:  # json.loads would raise RecursionError: the line would hold its source
        return Rejected(default_source, None, f"line {lineno}: {exc}", stripped[:_SAMPLE])
    except json.JSONDecodeError as exc:
        return Rejected(default_source, None, f"line {lineno}: not JSON: {exc.msg} at column {exc.colno}", stripped)
    except ValueError as exc:  # what the parser refuses past the grammar: a number of more than 4300 digits
        return Rejected(default_source, None, f"line {lineno}: not usable JSON: {exc}", stripped[:_SAMPLE])
    if not isinstance(data, dict):
        return Rejected(default_source, None, f"line {lineno}: expected a JSON object", data)
    external_id = data.get("external_id")
    external_id = str(external_id) if external_id is not None else None
    source = str(data.get("source") or default_source)
    for name in ("external_id", "reply_to"):
        value = data.get(name)
        if isinstance(value, str) and value.isdigit() and not ascii_digits(value):
            # a number in other digits (٨٨١, ８８１, ²) would make a key or ticket id no other path makes
            reason = f"line {lineno}: {name} {value!r} is a number not written in the ASCII digits 0-9"
            return Rejected(source, None, reason, data)
    if "type" in data:
        kind = data.get("type")
        if kind == "change_closed" and not external_id and data.get("ref") is not None:
            external_id = str(data["ref"])  # a change is named by its ref: it closes for every incident
        if not isinstance(kind, str) or not external_id:
            return Rejected(source, external_id, f"line {lineno}: a control line needs type and external_id", data)
        try:
            at = parse_time(str(data.get("at")))
        except ValueError:
            return Rejected(
                source, external_id, f"line {lineno}: control line has a bad time 'at': {data.get('at')!r}", data
            )
        return Control(kind, external_id, at, data)
    try:
        return Alert.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "line"
        reason = f"line {lineno}: {where}: {first['msg']}"
        if len(exc.errors()) > 1:
            reason += f" (and {len(exc.errors()) - 1} more)"
        return Rejected(source, external_id, reason, data)


def read_lines(
    path: Path, default_source: str = "replay", start: int = 0, *, complete_only: bool = False
) -> Iterator[tuple[int, Alert | Control | Rejected]]:
    """(line number, parsed item) for each line after the first ``start`` lines.

    With ``complete_only`` a last line without its newline is left for later: a writer may be
    in the middle of it.
    """
    with path.open(encoding="utf-8", errors="replace") as handle:
        for lineno, text in enumerate(handle, start=1):
            if lineno <= start:
                continue
            if complete_only and not text.endswith("\n"):
                return
            item = parse_line(text, lineno, default_source)
            if item is not None:
                yield lineno, item
