"""The ``notify`` configuration: channels, the people file, templates, language, the desk contact.

.. code-block:: yaml

    notify:
      people: people.yaml                  # relative to the config file
      service_desk: "服务台 021-6000 8888, servicedesk@metro.example"
      language: zh                         # zh | en
      timezone: Asia/Shanghai              # how times are shown
      templates_dir: templates/notices     # optional: site templates, searched first
      channels:
        - {type: smtp, host: smtp.metro.example, sender: "ITSM <itsm@metro.example>"}  # name: email
        - {type: webhook, name: phone, url: https://sms-gw.metro.example/notify,
           hmac_secret: "${SMS_GW_SECRET}"}

Each channel entry is ``type`` (a notifier type a plugin registered), an optional ``name`` (the
channel name rule files use; default: the type's, e.g. ``smtp`` → ``email``), an optional
``address`` (which handle of a person it delivers to; default: the type's) and the type's own
settings, validated against its model with ``file:line`` errors.

``load_notify`` reads a standalone file whose top level is this section (``${ENV}`` and
``*_file`` secrets resolved as in the connector config); ``validate_notify_section`` validates
the section of an already-resolved connector config. ``build_notifications`` then loads the
people file, cross-checks the rule book's escalation, notification and lifecycle files against
it and the channels (roles, channel names), checks the templates and builds the notifiers —
every problem at once, as ``ConfigError``.

The rule files are the rule book's (``RuleBook.files``: the config's ``rules_dir`` over the
shipped ones). ``rules_dir`` in this section is deprecated: it is read only when the config has
no top-level one (``connector.rules.loading.rule_sources``), and then only for
``escalation.yaml`` and ``notifications.yaml``, as before.
"""

from __future__ import annotations

__all__ = [
    "ChannelEntry",
    "LoadedChannel",
    "LoadedNotify",
    "Notifications",
    "NotifySettings",
    "build_notifications",
    "load_notify",
    "notifier_types",
    "validate_notify_section",
]

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pluggy
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connector.contracts.adapters import PluginContext
from connector.contracts.notifiers import AddressKind, NotifierType
from connector.domain.errors import ConfigError, ConfigProblem
from connector.domain.notice import Notice
from connector.notify.dispatch import Channel, Delivery, plan, send_notice
from connector.notify.people import Directory, load_people
from connector.notify.render import Renderer
from connector.rules.book import RuleBook
from connector.rules.files import LifecycleFile
from connector.rules.ladder import (
    EscalationRules,
    NotificationRules,
    load_escalation,
    load_notification_rules,
)
from connector.rules.loading import rule_sources
from connector.rules.rulefile import load_with_lines
from connector.util.loading import did_you_mean
from connector.util.validation import problems_from_validation as _problems
from connector.util.validation import resolve_references as _resolve_references
from connector.util.yamlfile import LineDict, line_of, load_yaml


class ChannelEntry(BaseModel):
    """A ``channels`` entry: ``type`` picks the notifier, the rest is its settings."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1)
    name: str | None = Field(None, pattern=r"^[a-z][a-z0-9_.-]*$", description="default: the type's channel")
    address: AddressKind | None = Field(None, description="which handle of a person; default: the type's")


class NotifySettings(BaseModel):
    """The ``notify`` section."""

    model_config = ConfigDict(extra="forbid")

    people: Path = Field(description="people.yaml: roles, people, assignment groups")
    service_desk: str = Field(min_length=1, description="how to reach the desk (in every notice)")
    language: Literal["zh", "en"] = "zh"
    timezone: str = "Asia/Shanghai"
    templates_dir: Path | None = Field(None, description="site templates, searched before the shipped ones")
    rules_dir: Path | None = Field(
        None,
        description="deprecated: the top-level rules_dir holds the whole rule book; without one, "
        "escalation.yaml / notifications.yaml are still looked for here first",
    )
    channels: list[ChannelEntry] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from exc
        return value


@dataclass(frozen=True)
class LoadedChannel:
    """One validated channel entry."""

    name: str
    type_name: str
    address: AddressKind
    settings: Any


@dataclass(frozen=True)
class LoadedNotify:
    """A validated ``notify`` section; relative paths are taken from ``base_dir``."""

    file: str
    base_dir: Path
    settings: NotifySettings
    channels: list[LoadedChannel]
    secrets: frozenset[str] = field(default_factory=frozenset)

    def path(self, value: Path) -> Path:
        """``value`` relative to the file the section came from."""
        return value if value.is_absolute() else self.base_dir / value


def notifier_types(pm: pluggy.PluginManager) -> dict[str, NotifierType]:
    """Every notifier type the loaded plugins offer, by name."""
    return {t.name: t for group in pm.hook.register_notifier_types() for t in group}


def validate_notify_section(section: Any, file: str, types: Mapping[str, NotifierType], base_dir: Path) -> LoadedNotify:
    """Validate a ``notify`` section whose secrets are already resolved (``load_config`` does
    that for the whole connector file); raises ``ConfigError`` with every problem."""
    if not isinstance(section, LineDict):
        raise ConfigError([ConfigProblem(file, getattr(section, "line", None), "notify must be a mapping")])
    try:
        settings = NotifySettings.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, section, NotifySettings, file, ())) from exc
    problems: list[ConfigProblem] = []
    channels: list[LoadedChannel] = []
    seen: set[str] = set()
    for index, entry in enumerate(settings.channels):
        loc: tuple[Any, ...] = ("channels", index)
        kind = types.get(entry.type)
        if kind is None:
            known = ", ".join(sorted(types)) or "none installed"
            problems.append(
                ConfigProblem(
                    file,
                    line_of(section, (*loc, "type")),
                    f"unknown notifier type {entry.type!r}{did_you_mean(entry.type, types)} (known: {known})",
                )
            )
            continue
        name = entry.name or kind.channel
        if name in seen:
            problems.append(ConfigProblem(file, line_of(section, loc), f"two channels named {name!r}"))
            continue
        seen.add(name)
        raw = section["channels"][index]
        data = LineDict({k: v for k, v in raw.items() if k not in ("type", "name", "address")})
        data.line = raw.line
        data.lines = {k: v for k, v in raw.lines.items() if k in data}
        try:
            channel_settings = kind.settings.model_validate(data)
        except ValidationError as exc:
            problems.extend(_problems(exc, section, kind.settings, file, loc))
            continue
        channels.append(LoadedChannel(name, entry.type, entry.address or kind.address, channel_settings))
    if problems:
        raise ConfigError(problems)
    return LoadedNotify(file=file, base_dir=base_dir, settings=settings, channels=channels)


def load_notify(path: Path, types: Mapping[str, NotifierType], env: Mapping[str, str] | None = None) -> LoadedNotify:
    """Load a standalone notify file (its top level is the section); ``${ENV}`` and ``*_file``
    secrets are resolved first. Raises ``ConfigError`` with every problem."""
    data = load_yaml(path)
    name = str(path)
    problems: list[ConfigProblem] = []
    secrets: set[str] = set()
    if isinstance(data, LineDict):
        _resolve_references(data, path.parent, os.environ if env is None else env, name, problems, secrets)
    if problems:
        raise ConfigError(problems)
    loaded = validate_notify_section(data, name, types, path.parent)
    return LoadedNotify(loaded.file, loaded.base_dir, loaded.settings, loaded.channels, frozenset(secrets))


@dataclass
class Notifications:
    """Everything the escalation sweep and the outbox need to send notices, built once.

    ``plan`` and ``send`` are ``connector.notify.dispatch.plan`` / ``send_notice`` with these
    parts filled in.
    """

    directory: Directory
    escalation: EscalationRules
    rules: NotificationRules
    renderer: Renderer
    channels: dict[str, Channel]

    def plan(self, notice: Notice) -> list[Delivery]:
        """Where ``notice`` would go, channel by channel (sends nothing)."""
        return plan(notice, self.rules, self.directory, self.channels)

    def send(self, notice: Notice, channel: str) -> Delivery:
        """Render and send ``notice`` once on ``channel``; raises ``NotifierUnavailable`` /
        ``NotifierRejected``."""
        return send_notice(notice, channel, directory=self.directory, channels=self.channels, renderer=self.renderer)

    def close(self) -> None:
        """Close every notifier."""
        for channel in self.channels.values():
            channel.notifier.close()


def legacy_rules_dir(loaded: LoadedNotify) -> Path | None:
    """The section's deprecated ``rules_dir``, relative to its file; ``None`` when not given."""
    folder = loaded.settings.rules_dir
    return loaded.path(folder) if folder is not None else None


def build_notifications(
    loaded: LoadedNotify,
    types: Mapping[str, NotifierType],
    context: Callable[[str], PluginContext],
    rules: RuleBook | None = None,
) -> Notifications:
    """Load the people file, cross-check the rule files against it and the channels, check
    the templates, and build each channel's notifier with ``context(channel_name)``.

    :param rules: the loaded rule book, whose files are checked (``RuleBook.files``); ``None``:
        the shipped files, with this section's deprecated ``rules_dir`` over the ladder and
        notification tables (a standalone notify file has no rule book).

    Raises ``ConfigError`` listing the problems of every file at once.
    """
    files = rules.files if rules is not None and rules.files else rule_sources(None, legacy_rules_dir(loaded))
    problems: list[ConfigProblem] = []
    directory: Directory | None = None
    try:
        directory = Directory(load_people(loaded.path(loaded.settings.people)))
    except ConfigError as exc:
        problems.extend(exc.problems)
    roles = directory.role_ids if directory is not None else None
    channel_names = [c.name for c in loaded.channels]
    escalation = notifications = None
    try:
        escalation = load_escalation(files["escalation.yaml"], roles=roles)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        notifications = load_notification_rules(files["notifications.yaml"], roles=roles, channels=channel_names)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if roles is not None:  # lifecycle.yaml names roles too: who may close, override, verify
        try:
            load_with_lines(files["lifecycle.yaml"], LifecycleFile, {"roles": roles})
        except ConfigError as exc:
            problems.extend(exc.problems)
    settings = loaded.settings
    renderer = Renderer(
        service_desk=settings.service_desk,
        directory=directory,
        language=settings.language,
        timezone=settings.timezone,
        templates_dir=loaded.path(settings.templates_dir) if settings.templates_dir else None,
    )
    try:
        renderer.check()
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    assert directory is not None and escalation is not None and notifications is not None
    channels = {
        c.name: Channel(c.name, c.address, types[c.type_name].factory(c.settings, context(c.name)))
        for c in loaded.channels
    }
    return Notifications(directory, escalation, notifications, renderer, channels)
