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
    "DaemonSettings",
    "HttpSettings",
    "LoadedConfig",
    "ReportSettings",
    "RetentionSettings",
    "load_config",
]

import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.contracts.adapters import BackendType, SourceType
from connector.domain.errors import ConfigError, ConfigProblem
from connector.rules.book import RuleBook
from connector.rules.loading import load_rulebook
from connector.runtime.config_sections import (
    DaemonSettings,
    HttpSettings,
    LoggingSettings,
    OutboxSettings,
    PluginSettings,
    ReportSettings,
    RetentionSettings,
    StateSettings,
    StrictSection,
)
from connector.state.target import StateTarget
from connector.util.validation import did_you_mean as _did_you_mean
from connector.util.validation import problems_from_validation as _problems
from connector.util.validation import resolve_references as _resolve_references
from connector.util.yamlfile import LineDict, line_of, load_yaml


class AdapterConfig(BaseModel):
    """A ``backend`` or ``sources`` entry: ``type`` picks the plugin, the rest is its settings."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1, description="instance name; defaults to the type")


class ConnectorConfig(StrictSection):
    """The whole file."""

    state: StateSettings
    backend: AdapterConfig
    sources: list[AdapterConfig] = Field(default_factory=list)
    outbox: OutboxSettings = Field(default_factory=lambda: OutboxSettings())
    daemon: DaemonSettings = Field(default_factory=lambda: DaemonSettings())
    logging: LoggingSettings = Field(default_factory=lambda: LoggingSettings())
    reports: ReportSettings = Field(default_factory=lambda: ReportSettings())
    retention: RetentionSettings = Field(
        default_factory=lambda: RetentionSettings(),
        description="how long finished rows stay in the state file (docs/operations.md, 'Retention')",
    )
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
        """The SQLite state file (relative paths taken from the config file's folder). On
        PostgreSQL, ``state.postgresql`` beside the config file: not a database, only where the
        spool (its folder) and the one-connector lock (``<it>.lock``) stay, on the local disk."""
        state = self.core.state
        target = self._state_target_raw()
        if target.engine == "postgresql":
            return self.path.parent / "state.postgresql"
        path = state.path if state.path is not None else Path(target.location)
        return path if path.is_absolute() else (self.path.parent / path)

    @property
    def state_target(self) -> StateTarget:
        """Where the state store is (``connector.state.store.open_store`` opens it), with its
        password."""
        target = self._state_target_raw()
        if target.engine == "postgresql":
            return target
        return StateTarget("sqlite", str(self.state_path))

    def _state_target_raw(self) -> StateTarget:
        state = self.core.state
        if state.url is None:
            return StateTarget("sqlite", str(state.path))
        return StateTarget.parse(state.url, state.password.get_secret_value() if state.password else None)

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
    if core.state.url is not None:  # a password written in the url is as secret as one from a file
        in_url = StateTarget.parse(core.state.url).password
        if in_url:
            secrets.add(in_url)
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
