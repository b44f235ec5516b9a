"""Built-in ``replay`` source: alerts from a JSON-lines file (see ``connector.integrations.replay``).

Plugs in ``register_source_types`` (type ``replay``). Reads ``sources: [{type: replay, path: …}]``.
The cursor is the number of lines already read, so appending to the file feeds new alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from connector import hookimpl
from connector.contracts.adapters import PluginContext, PollResult, Rejected, SourceType
from connector.domain.errors import SourceError
from connector.domain.models import Alert, TicketRef
from connector.integrations.replay import Control, read_lines


class ReplaySettings(BaseModel):
    """Settings of the ``replay`` source."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="JSON-lines file of alerts; relative to the config file")


class ReplaySource:
    """Reads alerts appended to a file; control lines are not for the daemon and are skipped."""

    acknowledge_enabled = False
    on_recovery = "resolve"

    def __init__(self, path: Path, name: str = "replay") -> None:
        self.name = name
        self.path = path

    def poll(self, cursor: str | None, open_ids: Sequence[str]) -> PollResult:
        start = int(cursor or 0)
        items: list[Alert | Rejected] = []
        last = start
        try:
            for lineno, item in read_lines(self.path, self.name, start, complete_only=True):
                last = lineno
                if not isinstance(item, Control):
                    items.append(item)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}", source=self.name) from exc
        return PollResult(items=items, cursor=str(last))

    def acknowledge(self, external_id: str, ref: TicketRef, message: str) -> None:
        """A file cannot be told anything."""

    def close(self) -> None:
        """Nothing to release."""


@hookimpl(trylast=True)
def register_source_types() -> list[SourceType]:
    """The ``replay`` source type."""
    return [
        SourceType(name="replay", settings=ReplaySettings, factory=_build, description="alerts from a JSON-lines file")
    ]


def _build(settings: ReplaySettings, ctx: PluginContext) -> ReplaySource:
    path = settings.path if settings.path.is_absolute() else ctx.data_dir / settings.path
    return ReplaySource(path, name=ctx.name)
