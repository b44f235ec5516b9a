"""The ``uptime_probe`` source: the JSON status file an uptime checker rewrites every minute.

The file looks like::

    {"checks": [{"id": "web-front", "host": "web-1", "up": false,
                 "since": "2026-11-26T02:30:00Z", "message": "HTTP 502",
                 "severity": 4, "maintenance": false}]}

A check that is down is one problem, named by the check and the time it went down, so the
same outage read again is the same event (the connector's journal drops the repeat) and the
next outage of the same check is a new one. A problem the connector still holds open
(``open_ids``) whose check is up again, or down since another time, has recovered: its
recovery is reported with the time the file says the check changed. A check the file
describes badly becomes a ``Rejected`` (a dead letter), never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connector.api import Alert, Clock, PluginContext, PollResult, Rejected, SourceError, TicketRef

#: what separates the check id from the time it went down in an external id
SEPARATOR = "@"


class ProbeSettings(BaseModel):
    """The ``sources: [{type: uptime_probe, ...}]`` entry."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="the checker's status file; relative to the config file")
    severity: int = Field(default=3, ge=0, le=5, description="severity of a check that names none")


class UptimeProbeSource:
    """Reads the status file; it has nobody to acknowledge to."""

    #: the host acknowledges a new ticket to the source unless the source says it cannot take it
    acknowledge_enabled = False
    #: a recovery resolves the ticket (the other choice is ``"note"``)
    on_recovery = "resolve"

    def __init__(self, settings: ProbeSettings, path: Path, *, name: str, clock: Clock) -> None:
        self.name = name
        self.settings = settings
        self.path = path
        self._clock = clock

    def poll(self, cursor: str | None, open_ids: Sequence[str]) -> PollResult:
        """The checks down now, and the recoveries of ``open_ids``; the cursor is the file's own
        ``generated_at`` (the journal, not the cursor, keeps a problem from being reported twice)."""
        document = self._read()
        checks = document.get("checks", [])
        if not isinstance(checks, list):
            raise SourceError(f"{self.path}: 'checks' is not a list", source=self.name)
        items: list[Alert | Rejected] = []
        down: dict[str, str] = {}  # check id -> external id of its current outage
        changed: dict[str, datetime] = {}  # check id -> when it last changed
        for entry in checks:
            item = self._problem(entry)
            if isinstance(item, Rejected):
                items.append(item)
                continue
            check_id, since, alert = item
            changed[check_id] = since
            if alert is not None:
                down[check_id] = alert.external_id
                items.append(alert)
        for external_id in open_ids:
            check_id, _, _ = external_id.partition(SEPARATOR)
            if down.get(check_id) != external_id:
                recovery = self._recovery(external_id, changed.get(check_id))
                if recovery is not None:
                    items.append(recovery)
        generated = document.get("generated_at")
        return PollResult(items=items, cursor=str(generated) if generated is not None else cursor)

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        """A status file cannot be told anything."""

    def close(self) -> None:
        """Nothing to release."""

    def _read(self) -> Mapping[str, Any]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}  # the checker has not written it yet
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot read {self.path}: {exc}", source=self.name) from exc
        if not isinstance(document, dict):
            raise SourceError(f"{self.path} does not hold a JSON object", source=self.name)
        return document

    def _problem(self, entry: Any) -> Rejected | tuple[str, datetime, Alert | None]:
        """One check: its id, when it last changed, and its alert when it is down."""
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
            return Rejected(self.name, None, "a check without an id", entry)
        check_id: str = entry["id"]
        if SEPARATOR in check_id:
            return Rejected(self.name, check_id, f"a check id may not hold {SEPARATOR!r}", entry)
        try:
            since = datetime.fromisoformat(str(entry["since"]))
        except (KeyError, ValueError):
            return Rejected(self.name, check_id, "'since' is not an ISO 8601 time", entry)
        if since.tzinfo is None:
            return Rejected(self.name, check_id, "'since' has no time zone", entry)
        if entry.get("up", True) is not False:
            return check_id, since, None
        host = str(entry.get("host") or check_id)
        message = str(entry.get("message") or "down")
        tags = {"check": check_id}
        if entry.get("maintenance") is True:
            tags["maintenance"] = "yes"
        try:
            alert = Alert(
                source=self.name,
                external_id=f"{check_id}{SEPARATOR}{since.isoformat()}",
                title=f"{host}: {check_id} is down ({message})",
                description=message,
                ci=host,
                severity=entry.get("severity", self.settings.severity),
                tags=tags,
                occurred_at=since,
                raw=entry,
            )
        except ValueError as exc:  # pydantic's ValidationError: a severity out of range, say
            return Rejected(self.name, check_id, f"not an alert: {exc}", entry)
        return check_id, since, alert

    def _recovery(self, external_id: str, changed_at: datetime | None) -> Alert | None:
        """The recovery of one of our open problems; ``None`` for an id that is not ours."""
        check_id, _, started = external_id.partition(SEPARATOR)
        try:
            occurred = datetime.fromisoformat(started)
        except ValueError:
            return None
        # a check the file no longer lists was removed from the checker: over now
        recovered = changed_at if changed_at is not None and changed_at >= occurred else self._clock.now()
        return Alert(
            source=self.name,
            external_id=external_id,
            title=f"{check_id} is up again",
            occurred_at=occurred,
            recovered_at=max(recovered, occurred),
            tags={"check": check_id},
        )


def build_source(settings: ProbeSettings, ctx: PluginContext) -> UptimeProbeSource:
    """The factory the host calls for each configured entry (a relative path is the config's)."""
    path = settings.path if settings.path.is_absolute() else ctx.data_dir / settings.path
    return UptimeProbeSource(settings, path, name=ctx.name, clock=ctx.clock)
