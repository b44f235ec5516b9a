"""Load a rules directory into a ``RuleBook``: every file validated, or nothing loaded.

The directory holds any of ``taxonomy.yaml``, ``priority.yaml``, ``classification.yaml``,
``dedup.yaml`` and ``sla.yaml``; a file it lacks is taken from the shipped defaults (the
seed's tables), so a site can override one table and keep the rest. Problems of every file
are collected and raised together as one ``ConfigError`` (``file:line: reason``); a rule
book is only returned when all of them load, so a typo never half-loads.
"""

from __future__ import annotations

__all__ = ["RULE_FILES", "load_rulebook", "shipped_rules_dir"]

from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from connector.domain.errors import ConfigError, ConfigProblem
from connector.rules.book import RuleBook
from connector.rules.build import build_classifier, build_dedup, build_priority, build_sla
from connector.rules.files import ClassificationFile, DedupFile, PriorityFile, SlaFile
from connector.rules.lint import lint_rules
from connector.rules.rulefile import load_with_lines
from connector.rules.taxonomy import Taxonomy
from connector.util.yamlfile import LineDict

_M = TypeVar("_M", bound=BaseModel)

RULE_FILES = ("taxonomy.yaml", "priority.yaml", "classification.yaml", "dedup.yaml", "sla.yaml")


def shipped_rules_dir() -> Path:
    """The rule files shipped with the connector (the seed's tables)."""
    return Path(str(resources.files("connector") / "rules" / "defaults"))


def _load(path: Path, model: type[_M], problems: list[ConfigProblem]) -> tuple[_M, LineDict] | None:
    try:
        return load_with_lines(path, model)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def load_rulebook(directory: Path | None = None) -> RuleBook:
    """Load the rules of ``directory`` (shipped files where it has none); raises ``ConfigError``."""
    shipped = shipped_rules_dir()
    if directory is not None and not directory.is_dir():
        raise ConfigError([ConfigProblem(str(directory), None, "rules directory does not exist")])
    files: dict[str, Path] = {}
    for name in RULE_FILES:
        own = directory / name if directory is not None else None
        files[name] = own if own is not None and own.exists() else shipped / name
    problems: list[ConfigProblem] = []
    taxonomy = _load(files["taxonomy.yaml"], Taxonomy, problems)
    priority = _load(files["priority.yaml"], PriorityFile, problems)
    classification = _load(files["classification.yaml"], ClassificationFile, problems)
    dedup = _load(files["dedup.yaml"], DedupFile, problems)
    sla = _load(files["sla.yaml"], SlaFile, problems)
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
    assert taxonomy and priority and dedup and sla and classifier is not None
    return RuleBook(
        priority=build_priority(priority[0]),
        classifier=classifier,
        dedup=build_dedup(dedup[0]),
        sla=build_sla(sla[0]),
        taxonomy=taxonomy[0],
        files=files,
        warnings=tuple(warnings),
    )
