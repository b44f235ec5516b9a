"""The connector's configuration file: load, resolve secrets, validate, report ``file:line``.

Two passes. The core model (``ConnectorConfig``) validates the file's shape; then the
``backend`` section and each ``sources`` entry are validated against the settings model of the
plugin type they name. Every problem of both passes is collected, so ``itsm-connector
validate`` prints them all at once, one ``file:line: reason`` per line.

Secrets: ``${VAR}`` is replaced by the environment variable, ``<key>_file: PATH`` by the
file's content (as ``<key>``). Fields typed ``Secret`` accept nothing else.

``rules_dir`` is the whole rule book (``LoadedConfig.rulebook``); the deprecated
``notify.rules_dir`` is read only without it, and a config giving both, different, gets a
warning (``LoadedConfig.warnings``, printed by ``validate``).
"""

from __future__ import annotations

__all__ = [
    "AdapterConfig",
    "ConnectorConfig",
    "HttpSettings",
    "LoadedConfig",
    "ReportSettings",
    "load_config",
]

import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.contracts.adapters import BackendType, SourceType
from connector.domain.errors import ConfigError, ConfigProblem
from connector.rules.book import RuleBook
from connector.rules.loading import load_rulebook
from connector.util.validation import did_you_mean as _did_you_mean
from connector.util.validation import problems_from_validation as _problems
from connector.util.validation import resolve_references as _resolve_references
from connector.util.yamlfile import LineDict, line_of, load_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StateSettings(_Strict):
    """Where the connector keeps what makes it safe (journal, outbox, ticket map)."""

    path: Path = Field(description="SQLite file; relative paths are relative to the config file")


class OutboxSettings(_Strict):
    """How failed helpdesk writes are retried."""

    backoff_initial_seconds: float = Field(5.0, gt=0, description="wait after the first failure")
    backoff_max_seconds: float = Field(900.0, gt=0, description="longest wait between two attempts")
    batch: int = Field(200, ge=1, description="operations tried per drain")
    max_attempts: int | None = Field(
        None, ge=1, description="dead-letter an operation after this many failures; none: retry forever"
    )


class DaemonSettings(_Strict):
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


class ReportSettings(_Strict):
    """The scheduled KPI reports (PROCESS §14): published on the 1st, mailed to the process owner."""

    publish: bool = Field(False, description="publish the monthly (and quarterly) report on the 1st")
    timezone: str = Field("Asia/Shanghai", description="periods are calendar months in this zone")
    language: Literal["zh", "en"] = "zh"
    title_prefix: str = Field("ITSM_report", min_length=1, description="wiki page title before the period")
    hour: int = Field(6, ge=0, le=23, description="the local hour of the 1st after which it publishes")
    quarterly: bool = Field(True, description="also the quarter, on the 1st of January, April, July, October")
    mail_role: str = Field("process_owner", description="the people.yaml role the report is mailed to")


class LoggingSettings(_Strict):
    """Log level and format."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class HttpSettings(_Strict):
    """The ``http:`` section: where the daemon's one server listens and what readiness means."""

    listen: str = Field("127.0.0.1", min_length=1, description="address (0.0.0.0: every interface; TLS in front)")
    port: int = Field(8089, ge=0, le=65535, description="TCP port; 0 picks a free one (tests)")
    threads: int = Field(4, ge=1, le=64, description="requests handled at the same time")
    connection_limit: int = Field(100, ge=1, le=10000, description="open connections at most")
    request_timeout_seconds: float = Field(30.0, gt=0, le=600, description="an idle connection is closed after")
    ready_attempts: int = Field(3, ge=1, le=100, description="/readyz: a backend must be reached within its last N")
    probe_seconds: float = Field(30.0, gt=0, description="how often the daemon checks that the helpdesk answers")
    sweep_late_seconds: float = Field(300.0, gt=0, description="/readyz fails when the sweep is this far behind")
    public_url: str | None = Field(None, description="base URL people's browsers use; default http://listen:port")


class PluginSettings(_Strict):
    """Plugins to leave out (entry-point names), e.g. a built-in a site plugin replaces."""

    disable: list[str] = Field(default_factory=list)


class AdapterConfig(BaseModel):
    """A ``backend`` or ``sources`` entry: ``type`` picks the plugin, the rest is its settings."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1, description="instance name; defaults to the type")


class ConnectorConfig(_Strict):
    """The whole file."""

    state: StateSettings
    backend: AdapterConfig
    sources: list[AdapterConfig] = Field(default_factory=list)
    outbox: OutboxSettings = Field(default_factory=lambda: OutboxSettings())
    daemon: DaemonSettings = Field(default_factory=lambda: DaemonSettings())
    logging: LoggingSettings = Field(default_factory=lambda: LoggingSettings())
    reports: ReportSettings = Field(default_factory=lambda: ReportSettings())
    plugins: PluginSettings = Field(default_factory=PluginSettings)
    http: HttpSettings | None = Field(
        None,
        description="the daemon's one HTTP server: /healthz, /readyz, /metrics and the webhook endpoints "
        "(docs/operations.md); without it a webhook source listens on its own listen/port (deprecated)",
    )
    notify: dict[str, Any] | None = Field(
        None, description="notices: people.yaml, channels, service desk contact (docs/notifications.md)"
    )
    rules_dir: Path | None = Field(
        None,
        description="directory of rule files, the whole rule book (relative to this file); a file it lacks "
        "is taken from the shipped rules, the seed's tables (docs/rules.md)",
    )


@dataclass(frozen=True)
class Adapter:
    """One validated adapter: its instance name, its plugin type and its settings object."""

    name: str
    type_name: str
    settings: Any


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration, ready for the composition root."""

    path: Path
    core: ConnectorConfig
    backend: Adapter
    sources: list[Adapter]
    secrets: frozenset[str] = field(default_factory=frozenset)
    notify: Any = None  # connector.notify.settings.LoadedNotify, when the file has a notify section
    #: what ``validate`` prints as warnings (the config loads)
    warnings: tuple[ConfigProblem, ...] = ()

    @property
    def state_path(self) -> Path:
        """The state database path, relative paths taken from the config file's folder."""
        path = self.core.state.path
        return path if path.is_absolute() else (self.path.parent / path)

    @property
    def rules_dir(self) -> Path | None:
        """The site's rules directory (relative to the config file), or ``None``: the shipped rules."""
        path = self.core.rules_dir
        if path is None:
            return None
        return path if path.is_absolute() else (self.path.parent / path)

    @property
    def notify_rules_dir(self) -> Path | None:
        """The deprecated ``notify.rules_dir`` (relative to the config file), if given."""
        folder = getattr(getattr(self.notify, "settings", None), "rules_dir", None)
        if not isinstance(folder, Path):
            return None
        return folder if folder.is_absolute() else (self.path.parent / folder)

    def rulebook(self, roles: typing.Collection[str] | None = None) -> RuleBook:
        """The rule book this config runs with: ``rules_dir`` over the shipped files (or, for an
        older config without one, ``notify.rules_dir`` over the ladder and notice tables).
        Raises ``ConfigError``."""
        return load_rulebook(self.rules_dir, notify_dir=self.notify_rules_dir, roles=roles)


def load_config(
    path: Path,
    backend_types: dict[str, BackendType],
    source_types: dict[str, SourceType],
    env: typing.Mapping[str, str] | None = None,
    notifier_types: typing.Mapping[str, Any] | None = None,
) -> LoadedConfig:
    """Load and validate ``path``; raise ``ConfigError`` listing every problem found."""
    env = os.environ if env is None else env
    data = load_yaml(path)
    name = str(path)
    if not isinstance(data, LineDict):
        raise ConfigError([ConfigProblem(name, None, "the file must be a mapping of sections")])
    problems: list[ConfigProblem] = []
    secrets: set[str] = set()
    _resolve_references(data, path.parent, env, name, problems, secrets)
    try:
        core = ConnectorConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems(exc, data, ConnectorConfig, name, ()))
        raise ConfigError(problems) from exc
    backend = _adapter(core.backend, data, ("backend",), backend_types, "backend", name, problems)
    sources: list[Adapter] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(core.sources):
        adapter = _adapter(entry, data, ("sources", index), source_types, "source", name, problems)
        if adapter is None:
            continue
        if adapter.name in seen:
            problems.append(
                ConfigProblem(name, line_of(data, ("sources", index)), f"two sources named {adapter.name!r}")
            )
        seen[adapter.name] = index
        sources.append(adapter)
    notify = None
    if core.notify is not None:
        from connector.notify.settings import validate_notify_section

        try:
            notify = validate_notify_section(data["notify"], name, notifier_types or {}, path.parent)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    assert backend is not None
    loaded = LoadedConfig(
        path=path, core=core, backend=backend, sources=sources, secrets=frozenset(secrets), notify=notify
    )
    return LoadedConfig(
        path=path,
        core=core,
        backend=backend,
        sources=sources,
        secrets=frozenset(secrets),
        notify=notify,
        warnings=_rules_dir_warnings(loaded, data, name),
    )


def _rules_dir_warnings(config: LoadedConfig, data: LineDict, file: str) -> tuple[ConfigProblem, ...]:
    """The deprecated ``notify.rules_dir``: a warning that it is deprecated, or — beside a
    different top-level ``rules_dir`` — that it is ignored."""
    legacy = config.notify_rules_dir
    if legacy is None:
        return ()
    line = line_of(data, ("notify", "rules_dir"))
    top = config.rules_dir
    if top is None:
        reason = (
            "warning: notify.rules_dir is deprecated: move it to the top-level rules_dir, which holds the "
            "whole rule book (docs/rules.md)"
        )
    elif top.resolve() != legacy.resolve():
        reason = (
            f"warning: notify.rules_dir ({legacy}) differs from rules_dir ({top}): rules_dir holds the whole "
            "rule book, escalation.yaml and notifications.yaml included; notify.rules_dir is ignored "
            "(deprecated: remove it)"
        )
    else:
        reason = "warning: notify.rules_dir is deprecated and the same as rules_dir: remove it"
    return (ConfigProblem(file, line, reason),)


def _adapter(
    entry: AdapterConfig,
    root: LineDict,
    loc: tuple[Any, ...],
    types_: dict[str, BackendType] | dict[str, SourceType],
    kind: str,
    file: str,
    problems: list[ConfigProblem],
) -> Adapter | None:
    """Validate one adapter section against its plugin's settings model."""
    raw: Any = root
    for part in loc:
        raw = raw[part]
    plugin_type = types_.get(entry.type)
    if plugin_type is None:
        known = ", ".join(sorted(types_)) or "none installed"
        hint = _did_you_mean(entry.type, list(types_))
        problems.append(
            ConfigProblem(
                file, line_of(root, (*loc, "type")), f"unknown {kind} type {entry.type!r}{hint} (known: {known})"
            )
        )
        return None
    settings_data = LineDict({k: v for k, v in raw.items() if k not in ("type", "name")})
    settings_data.line = getattr(raw, "line", 0)
    settings_data.lines = {k: v for k, v in getattr(raw, "lines", {}).items() if k not in ("type", "name")}
    try:
        settings = plugin_type.settings.model_validate(settings_data)
    except ValidationError as exc:
        problems.extend(_problems(exc, root, plugin_type.settings, file, loc))
        return None
    return Adapter(name=entry.name or entry.type, type_name=entry.type, settings=settings)
