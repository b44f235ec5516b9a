"""Validated rule files → the runtime objects the pipeline applies, with the cross-file checks.

Cross-file checks: a category path or nature must be in the taxonomy, a ``level`` must be one
of priority.yaml's, the last classification rule must be the default. Every problem carries
the line it is about.
"""

from __future__ import annotations

__all__ = ["build_classifier", "build_dedup", "build_priority", "build_sla"]

import difflib
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from connector.domain.errors import ConfigProblem
from connector.domain.models import Impact, Priority, TicketSource, Urgency
from connector.rules.classify import Classifier, FieldRef, Match, Rule
from connector.rules.correlate import DedupPolicy
from connector.rules.files import (
    ClassificationFile,
    DedupFile,
    FlappingFile,
    FromRef,
    MaintenanceFile,
    MatchModel,
    PriorityFile,
    SlaFile,
    TopologyFile,
)
from connector.rules.fingerprint import Fingerprinter, SymptomNormaliser
from connector.rules.flapping import FlapPolicy
from connector.rules.maintenance import build_maintenance
from connector.rules.priority import Level, PriorityRules
from connector.rules.sla import SlaPolicy, Stage, Target
from connector.rules.taxonomy import Taxonomy
from connector.rules.topology import build_topology
from connector.util.yamlfile import LineDict, line_of


def build_priority(model: PriorityFile) -> PriorityRules:
    """The matrix, labels (the enums' own where the file gives none), severities and levels."""
    labels = {p: (p.zh, p.en) for p in Priority}
    labels.update({p: (label.zh, label.en) for p, label in model.labels.items()})
    return PriorityRules(
        matrix=tuple(tuple(row) for row in model.matrix),
        labels=labels,
        severity={sev: (iu.impact, iu.urgency) for sev, iu in model.severity.items()},
        default=(model.default.impact, model.default.urgency),
        levels={
            name: Level(name, lvl.zh or name, lvl.en or name, lvl.impact, lvl.urgency)
            for name, lvl in model.levels.items()
        },
    )


def build_sla(model: SlaFile) -> SlaPolicy:
    """Targets per priority (a priority left out takes the one above it) and restore deadlines."""
    targets: dict[Priority, dict[Stage, Target]] = {}
    previous: dict[Stage, Target] = {}
    for priority in Priority:
        given = model.targets.get(priority)
        if given is not None:
            previous = {
                Stage.RESPONSE: _target(given.response.breach, given.response.warning),
                Stage.ACCEPTANCE: _target(given.acceptance.breach, given.acceptance.warning),
                Stage.RESOLUTION: _target(given.resolution.breach, given.resolution.warning),
            }
        targets[priority] = dict(previous)
    restore = {u: timedelta(hours=hours) for u, hours in model.restore_hours.items()}
    return SlaPolicy(targets=targets, restore=restore, suspended_time_counts=model.suspended_time_counts)


def _target(breach: float, warning: float | None) -> Target:
    return Target(timedelta(minutes=breach), None if warning is None else timedelta(minutes=warning))


def build_dedup(
    model: DedupFile,
    flapping: FlappingFile | None = None,
    maintenance: MaintenanceFile | None = None,
    topology: TopologyFile | None = None,
) -> DedupPolicy:
    """The fingerprint and the windows and policies of dedup.yaml (and flapping.yaml's
    thresholds, maintenance.yaml's windows and topology.yaml's maps, which correlation applies
    too)."""
    fp = model.fingerprint
    flap = (
        FlapPolicy(
            max_changes=flapping.max_changes,
            window=timedelta(minutes=flapping.window_minutes),
            quiet=timedelta(minutes=flapping.quiet_minutes),
        )
        if flapping is not None and flapping.enabled
        else None
    )
    return DedupPolicy(
        fingerprint=Fingerprinter(
            by_kind={
                TicketSource.MONITORING: tuple(fp.monitoring),
                TicketSource.USER_REPORT: tuple(fp.user_report),
                TicketSource.INSPECTION: tuple(fp.inspection),
            },
            by_source={name: tuple(fields) for name, fields in fp.sources.items()},
            symptom=SymptomNormaliser(tuple((re.compile(r.pattern), r.with_) for r in model.symptom.replace)),
        ),
        window=timedelta(minutes=model.window_minutes),
        policy=model.policy,
        storm_max=model.storm_guard.max_duplicates,
        storm_note_interval=(
            timedelta(seconds=model.storm_guard.note_interval_seconds)
            if model.storm_guard.note_interval_seconds is not None
            else None
        ),
        recurrence_window=timedelta(days=model.recurrence.days),
        recurrence_after=model.recurrence.after,
        flapping=flap,
        maintenance=build_maintenance(maintenance) if maintenance is not None else None,
        topology=build_topology(topology) if topology is not None else None,
    )


def _aslist(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def compile_match(match: MatchModel) -> Match:
    """The conditions, compiled (regexes case-insensitive, lists as sets)."""

    def rx(pattern: str | None) -> re.Pattern[str] | None:
        return None if pattern is None else re.compile(pattern, re.IGNORECASE)

    severity: frozenset[int] | None = None
    if match.severity is not None:
        if isinstance(match.severity, int | list):
            severity = frozenset(_aslist(match.severity))
        else:
            severity = frozenset(range(match.severity.min, match.severity.max + 1))
    return Match(
        source=frozenset(_aslist(match.source)) if match.source is not None else None,
        origin=frozenset(_aslist(match.origin)) if match.origin is not None else None,
        severity=severity,
        host_groups=tuple(_aslist(match.host_groups)) if match.host_groups is not None else None,
        tags={k: rx(v) for k, v in match.tags.items()} if match.tags is not None else None,
        ci=rx(match.ci),
        service=rx(match.service),
        title=rx(match.title),
        description=rx(match.description),
        text=rx(match.text),
        sender=rx(match.sender),
    )


def _hint(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build_classifier(
    model: ClassificationFile, data: LineDict, file: str, taxonomy: Taxonomy, levels: Mapping[str, Level]
) -> tuple[Classifier, list[ConfigProblem]]:
    """The compiled rules, and every error found against the taxonomy and the levels."""
    problems: list[ConfigProblem] = []
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    natures = taxonomy.nature_values()
    areas = {a.name for c in taxonomy.categories for a in c.areas}
    subareas = {s for c in taxonomy.categories for a in c.areas for s in a.subareas}
    for index, rule in enumerate(model.rules):
        line = line_of(data, ("rules", index)) or 0

        def problem(field: str, reason: str, index: int = index, rule_id: str = rule.id) -> None:
            problems.append(
                ConfigProblem(file, line_of(data, ("rules", index, "set", field)), f"rule {rule_id!r}: {reason}")
            )

        if rule.id in seen:
            problems.append(
                ConfigProblem(file, line, f"rule id {rule.id!r} is used twice (first at line {seen[rule.id]})")
            )
        seen.setdefault(rule.id, line)
        given = rule.set
        literal = {k: v for k, v in given.model_dump(exclude_none=True, by_alias=True).items() if isinstance(v, str)}
        if "category" in literal:
            why = taxonomy.check_path(literal["category"], literal.get("area"), literal.get("subarea"))
            if why is not None:
                field = "subarea" if "sub-area" in why else "area" if "area " in why else "category"
                hint = _hint(literal["category"], [c.name for c in taxonomy.categories]) if field == "category" else ""
                problem(field, why + hint)
        else:
            if "area" in literal and literal["area"] not in areas:
                problem(
                    "area", f"area {literal['area']!r} is not in the taxonomy{_hint(literal['area'], sorted(areas))}"
                )
            if "subarea" in literal and literal["subarea"] not in subareas:
                problem("subarea", f"sub-area {literal['subarea']!r} is not in the taxonomy")
        if "nature" in literal and literal["nature"] not in natures:
            problem("nature", f"nature {literal['nature']!r} is not in the taxonomy{_hint(literal['nature'], natures)}")
        sets: list[tuple[str, Any]] = []
        for name in ("category", "area", "subarea", "nature", "service", "ci", "assignment_group", "location"):
            value = getattr(given, name)
            if value is not None:
                sets.append((name, FieldRef(value.from_, value.default) if isinstance(value, FromRef) else value))
        for name, kind in (("impact", Impact), ("urgency", Urgency)):
            value = getattr(given, name)
            if value is not None:
                sets.append((name, FieldRef(value.from_, value.default) if isinstance(value, FromRef) else kind(value)))
        if given.level is not None:
            level = levels.get(given.level)
            if level is None:
                problem("level", f"level {given.level!r} is not in priority.yaml{_hint(given.level, sorted(levels))}")
            else:
                sets.append(("level", level))
        rules.append(
            Rule(
                id=rule.id,
                line=line,
                match=compile_match(rule.match) if rule.match is not None else None,
                sets=tuple(sets),
                cont=rule.continue_,
                description=rule.description,
            )
        )
    last = model.rules[-1]
    if last.match is not None or last.continue_:
        problems.append(
            ConfigProblem(
                file,
                line_of(data, ("rules", len(model.rules) - 1)),
                f"the last rule ({last.id!r}) must be the default: no `match` and no `continue`, so every alert "
                "is classified",
            )
        )
    return Classifier(rules, taxonomy), problems
