"""The sections of the connector's configuration file that the core validates itself (``state``,
``outbox``, ``daemon``, ``report``, ``retention``, ``logging``, ``http``, ``plugins``): their
fields, defaults and checks. ``connector.runtime.config`` assembles them into ``ConnectorConfig``
and loads the file; they live apart so each stays readable as the sections grow.
"""

from __future__ import annotations

__all__ = [
    "DaemonSettings",
    "HttpSettings",
    "LoggingSettings",
    "OutboxSettings",
    "PluginSettings",
    "ReportSettings",
    "RetentionSettings",
    "StateSettings",
    "StrictSection",
]

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.state.target import StateTarget
from connector.util.secrets import Secret


class StrictSection(BaseModel):
    """A part of the configuration file that refuses a key it does not know (a typo is a
    ``file:line`` problem with a did-you-mean, not a setting silently ignored): every section
    here and ``ConnectorConfig``, the whole file, are one."""

    model_config = ConfigDict(extra="forbid")


class StateSettings(StrictSection):
    """Where the connector keeps what makes it safe (journal, outbox, ticket map): a SQLite file
    (``path``, or ``url: sqlite:///FILE``) or a PostgreSQL database (``url: postgresql://…``)."""

    path: Path | None = Field(None, description="SQLite file; relative paths are relative to the config file")
    url: str | None = Field(
        None,
        description="sqlite:///FILE (relative) or sqlite:////FILE (absolute), or postgresql://USER@HOST:PORT/DB",
    )
    password: Secret | None = Field(
        None, description="the PostgreSQL password, as ${ENV_VAR} or password_file: PATH (or in the url)"
    )

    @model_validator(mode="after")
    def _one_place(self) -> StateSettings:
        if (self.path is None) == (self.url is None):
            raise ValueError("give the state either path: (a SQLite file) or url: (sqlite:/// or postgresql://)")
        if self.url is not None:
            try:
                StateTarget.parse(self.url, self.password.get_secret_value() if self.password else None)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        elif self.password is not None:
            raise ValueError("a password is for a postgresql:// state url, not a SQLite path")
        return self


class OutboxSettings(StrictSection):
    """How failed helpdesk writes are retried."""

    backoff_initial_seconds: float = Field(5.0, gt=0, description="wait after the first failure")
    backoff_max_seconds: float = Field(900.0, gt=0, description="longest wait between two attempts")
    batch: int = Field(200, ge=1, description="operations tried per drain")
    max_attempts: int | None = Field(
        None, ge=1, description="dead-letter an operation after this many failures; none: retry forever"
    )


class DaemonSettings(StrictSection):
    """How often the scheduled jobs run."""

    poll_seconds: float = Field(60.0, gt=0, description="how often every source is polled")
    drain_seconds: float = Field(10.0, gt=0, description="how often the outbox is drained")
    sweep_seconds: float = Field(
        60.0, gt=0, le=300, description="how often escalation, notices and SLA deadlines are checked"
    )
    sync_seconds: float = Field(60.0, gt=0, description="how often changes made in the helpdesk are read back")
    sync_first_lookback_seconds: float = Field(
        600.0, ge=0, description="how far back the first read-back of a new state looks (no cursor, no active ticket)"
    )
    # several daemons on one state (docs/several-daemons.md)
    lease_seconds: float = Field(
        30.0, ge=1, le=600, description="a singleton job's lease: a dead daemon's jobs move within this time"
    )
    renew_seconds: float | None = Field(
        None, gt=0, description="how often held leases are renewed (default: a third of lease_seconds)"
    )
    claim_seconds: float = Field(
        120.0,
        ge=1,
        le=3600,
        description="an outbox operation's claim, renewed while it runs: a dead daemon's is taken over after it",
    )

    @model_validator(mode="after")
    def _renew_within_lease(self) -> DaemonSettings:
        if self.renew_seconds is None:
            self.renew_seconds = self.lease_seconds / 3
        elif self.renew_seconds > self.lease_seconds / 2:
            raise ValueError(
                f"renew_seconds ({self.renew_seconds:g}) must be at most half of lease_seconds "
                f"({self.lease_seconds:g}): a lease must be renewed at least twice before it can expire"
            )
        return self

    @property
    def renew_every(self) -> float:
        """The renew interval, after the default."""
        return self.renew_seconds if self.renew_seconds is not None else self.lease_seconds / 3


class ReportSettings(StrictSection):
    """The scheduled KPI reports (PROCESS §14): published on the 1st, mailed to the process owner."""

    publish: bool = Field(False, description="publish the monthly (and quarterly) report on the 1st")
    timezone: str = Field("Asia/Shanghai", description="periods are calendar months in this zone")
    language: Literal["zh", "en"] = "zh"
    title_prefix: str = Field("ITSM_report", min_length=1, description="wiki page title before the period")
    hour: int = Field(6, ge=0, le=23, description="the local hour of the 1st after which it publishes")
    quarterly: bool = Field(True, description="also the quarter, on the 1st of January, April, July, October")
    mail_role: str = Field("process_owner", description="the people.yaml role the report is mailed to")


class RetentionSettings(StrictSection):
    """How long finished rows stay in the state file (``retention:``; docs/operations.md, "Retention").

    The state file keeps what makes the connector safe, not the history: the KPI reports are
    rebuilt from the helpdesk (``connector.kpi.export``), so a year of KPIs needs a year of
    *tickets* in the helpdesk, not a year of raw alerts here. What only grows with the alert rate
    (the journal, delivered operations) is kept for a month — long enough to answer "what became of
    that alert" and to drop a late re-delivery of it — and the rows of finished tickets a little over
    a year. Ages are in days; ``null`` keeps a table forever. A row something still needs (an
    unfinished journal entry, an owed operation, a dead item whose letter is still there, an open
    ticket and its steps) is never deleted, whatever the age.
    """

    journal_days: float | None = Field(
        30, ge=0, description="finished journal entries (and the alert-noise rows of that age); null: forever"
    )
    outbox_days: float | None = Field(30, ge=0, description="delivered (done) outbox operations; null: forever")
    steps_days: float | None = Field(
        400, ge=0, description="the fired escalation/notice/SLA steps of tickets closed this long ago; null: forever"
    )
    dead_letter_days: float | None = Field(90, ge=0, description="dead letters nobody retried or purged; null: forever")
    tickets_days: float | None = Field(
        400,
        ge=0,
        description="rows of connector-made tickets closed this long ago (with their repeats and links); null: forever",
    )
    batch: int = Field(500, ge=1, le=100000, description="rows deleted per transaction (intake waits no longer)")
    every_minutes: float = Field(60.0, gt=0, description="how often the daemon prunes")


class LoggingSettings(StrictSection):
    """Log level and format."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class HttpSettings(StrictSection):
    """The ``http:`` section: where the daemon's one server listens and what readiness means."""

    listen: str = Field("127.0.0.1", min_length=1, description="address (0.0.0.0: every interface; TLS in front)")
    port: int = Field(8089, ge=0, le=65535, description="TCP port; 0 picks a free one (tests)")
    threads: int = Field(16, ge=1, le=64, description="requests handled at once (a webhook request: until its commit)")
    connection_limit: int = Field(100, ge=1, le=10000, description="open connections at most")
    request_timeout_seconds: float = Field(30.0, gt=0, le=600, description="an idle connection is closed after")
    ready_attempts: int = Field(3, ge=1, le=100, description="/readyz: a backend must be reached within its last N")
    probe_seconds: float = Field(30.0, gt=0, description="how often the daemon checks that the helpdesk answers")
    sweep_late_seconds: float = Field(300.0, gt=0, description="/readyz fails when the sweep is this far behind")
    public_url: str | None = Field(None, description="base URL people's browsers use; default http://listen:port")


class PluginSettings(StrictSection):
    """Plugins to leave out (entry-point names), e.g. a built-in a site plugin replaces."""

    disable: list[str] = Field(default_factory=list)
