"""Load a rules directory into a ``RuleBook``: every file validated, or nothing loaded.

The rule book is the files of ``connector.rules.files.SCHEMAS`` (taxonomy, priority,
classification, dedup, SLA, escalation, notifications, lifecycle, replies, and the alert-noise
files: flapping, maintenance, topology; and knowledge). A site's directory
holds any of them; a file it lacks is taken from the shipped defaults (the seed's tables), so a
site can override one table and keep the rest. A YAML file in the directory that is none of
them (``escalaton.yaml``) is an error with a did-you-mean: a misspelt file would otherwise be
silently ignored and the shipped table kept.

Problems of every file are collected and raised together as one ``ConfigError``
(``file:line: reason``); a rule book is only returned when all of them load, so a typo never
half-loads. The daemon, ``simulate``, ``report``, ``validate`` and ``rules show`` all load
through ``load_rulebook``.

``notify_dir`` is the deprecated ``notify.rules_dir`` of older configs: when the config has
no top-level ``rules_dir``, its ``escalation.yaml`` and ``notifications.yaml`` (only those,
as before) are taken over the shipped ones.
"""

from __future__ import annotations

__all__ = [
    "LEGACY_NOTIFY_FILES",
    "RULE_FILES",
    "default_rulebook",
    "load_rulebook",
    "rule_sources",
    "shipped_rules_dir",
    "unknown_files",
]

import difflib
from collections.abc import Collection, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from connector.domain.errors import ConfigError, ConfigProblem
from connector.rules.book import RuleBook
from connector.rules.build import build_classifier, build_dedup, build_priority, build_sla
from connector.rules.files import (
    SCHEMAS,
    ClassificationFile,
    DedupFile,
    FlappingFile,
    KnowledgeFile,
    LifecycleFile,
    MaintenanceFile,
    PriorityFile,
    RepliesFile,
    SlaFile,
    TopologyFile,
)
from connector.rules.ladder import EscalationRules, NotificationRules
from connector.rules.links import LinksFile
from connector.rules.lint import lint_rules
from connector.rules.rulefile import load_with_lines
from connector.rules.taxonomy import Taxonomy
from connector.util.yamlfile import LineDict

_M = TypeVar("_M", bound=BaseModel)

RULE_FILES = tuple(SCHEMAS)

#: the files the deprecated ``notify.rules_dir`` was read for
LEGACY_NOTIFY_FILES = ("escalation.yaml", "notifications.yaml")


def shipped_rules_dir() -> Path:
    """The rule files shipped with the connector (the seed's tables)."""
    return Path(str(resources.files("connector") / "rules" / "defaults"))


def rule_sources(directory: Path | None, notify_dir: Path | None = None) -> dict[str, Path]:
    """The file each table is read from: the site's own where it has one, else the shipped one;
    ``notify_dir`` (deprecated) only for the escalation and notification tables, and only when
    no ``directory`` is given."""
    shipped = shipped_rules_dir()
    files: dict[str, Path] = {}
    for name in RULE_FILES:
        if directory is not None:
            own: Path | None = directory / name
        elif notify_dir is not None and name in LEGACY_NOTIFY_FILES:
            own = notify_dir / name
        else:
            own = None
        files[name] = own if own is not None and own.exists() else shipped / name
    return files


def unknown_files(directory: Path) -> list[ConfigProblem]:
    """A problem for each YAML file in ``directory`` that is not a rule file (it would be
    ignored, and the shipped table it was meant to replace kept without a word). Hidden files
    are left alone."""
    problems = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".yaml", ".yml") or path.name in RULE_FILES or path.name.startswith("."):
            continue  # not YAML, a rule file, or hidden (an editor's lock or swap file)
        # the names without ".yaml": with it, every short name looks like some rule file
        stems = {Path(name).stem: name for name in RULE_FILES}
        close = [stems[s] for s in difflib.get_close_matches(path.stem, list(stems), n=1, cutoff=0.6)]
        if path.suffix == ".yml" and path.with_suffix(".yaml").name in RULE_FILES:
            close = [path.with_suffix(".yaml").name]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            ConfigProblem(str(path), 1, f"not a rule file{hint}; the rule files are {', '.join(RULE_FILES)}")
        )
    return problems


def _load(
    path: Path, model: type[_M], problems: list[ConfigProblem], context: Mapping[str, Any] | None = None
) -> tuple[_M, LineDict] | None:
    try:
        return load_with_lines(path, model, context)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def load_rulebook(
    directory: Path | None = None,
    *,
    notify_dir: Path | None = None,
    roles: Collection[str] | None = None,
) -> RuleBook:
    """Load the rules of ``directory`` (shipped files where it has none); raises ``ConfigError``.

    :param notify_dir: the deprecated ``notify.rules_dir`` (see the module docstring).
    :param roles: the role ids ``people.yaml`` declares (``Directory.role_ids``), when it is
        loaded: a rule naming another role is an error. ``None``: only the spelling is checked.
        Channels are checked where they are configured (``build_notifications``).
    """
    if directory is not None and not directory.is_dir():
        raise ConfigError([ConfigProblem(str(directory), None, "rules directory does not exist")])
    files = rule_sources(directory, notify_dir)
    problems: list[ConfigProblem] = unknown_files(directory) if directory is not None else []
    context = {"roles": frozenset(roles)} if roles is not None else {}
    taxonomy = _load(files["taxonomy.yaml"], Taxonomy, problems)
    priority = _load(files["priority.yaml"], PriorityFile, problems)
    classification = _load(files["classification.yaml"], ClassificationFile, problems)
    dedup = _load(files["dedup.yaml"], DedupFile, problems)
    sla = _load(files["sla.yaml"], SlaFile, problems)
    escalation = _load(files["escalation.yaml"], EscalationRules, problems, context)
    notices = _load(files["notifications.yaml"], NotificationRules, problems, context)
    lifecycle = _load(files["lifecycle.yaml"], LifecycleFile, problems, context)
    replies = _load(files["replies.yaml"], RepliesFile, problems)
    flapping = _load(files["flapping.yaml"], FlappingFile, problems)
    maintenance = _load(files["maintenance.yaml"], MaintenanceFile, problems)
    topology = _load(files["topology.yaml"], TopologyFile, problems)
    knowledge = _load(files["knowledge.yaml"], KnowledgeFile, problems)
    links = _load(files["itil_links.yaml"], LinksFile, problems, context)
    warnings: list[ConfigProblem] = []
    classifier = None
    if taxonomy is not None and priority is not None and classification is not None:
        name = str(files["classification.yaml"])
        classifier, found = build_classifier(
            classification[0], classification[1], name, taxonomy[0], build_priority(priority[0]).levels
        )
        problems.extend(found)
        warnings = lint_rules(classification[0], classification[1], name)
    if problems:
        raise ConfigError(problems)
    assert taxonomy and priority and classification and dedup and sla and classifier is not None
    assert escalation and notices and lifecycle and replies and flapping and maintenance and topology
    assert knowledge
    assert links is not None
    return RuleBook(
        priority=build_priority(priority[0]),
        classifier=classifier,
        dedup=build_dedup(dedup[0], flapping[0], maintenance[0], topology[0]),
        sla=build_sla(sla[0]),
        taxonomy=taxonomy[0],
        escalation=escalation[0],
        notices=notices[0],
        lifecycle=lifecycle[0],
        replies=replies[0],
        knowledge=knowledge[0],
        links=links[0],
        files=files,
        models={
            "taxonomy.yaml": taxonomy[0],
            "priority.yaml": priority[0],
            "classification.yaml": classification[0],
            "dedup.yaml": dedup[0],
            "sla.yaml": sla[0],
            "escalation.yaml": escalation[0],
            "notifications.yaml": notices[0],
            "lifecycle.yaml": lifecycle[0],
            "replies.yaml": replies[0],
            "flapping.yaml": flapping[0],
            "maintenance.yaml": maintenance[0],
            "topology.yaml": topology[0],
            "knowledge.yaml": knowledge[0],
            "itil_links.yaml": links[0],
        },
        warnings=tuple(warnings),
    )


@cache
def default_rulebook() -> RuleBook:
    """The shipped rules (``connector/rules/defaults/``), loaded and validated once per process."""
    return load_rulebook(None)
