"""Classification rules (``rules/classification.yaml``) compiled for matching, and applied.

Rules are tried in order. A rule whose ``match`` holds sets its fields; fields an earlier
matching rule already set are kept (the first match wins), and matching stops unless the rule
says ``continue: true``. The last rule has no ``match``: the default that catches the rest.

Everything here is pure and compiled once at load time (regexes, sets), so one alert costs a
few microseconds per rule. A value a rule takes from the alert (``{from: tag:service}``) is
checked when the alert arrives: an impact that is not 1–4 raises ``RuleError`` naming the rule
(the alert is dead-lettered), a category path the taxonomy does not know is left unset.
"""

from __future__ import annotations

__all__ = ["TAXONOMY_FIELDS", "Classifier", "FieldRef", "Match", "Rule"]

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.domain.errors import RuleError
from connector.domain.models import Alert, Impact, Ticket, TicketSource, Urgency
from connector.rules.priority import Level
from connector.rules.quick_search import quick_search
from connector.rules.taxonomy import Taxonomy

#: fields whose values must be a path of the taxonomy (or a nature of it)
TAXONOMY_FIELDS = ("category", "area", "subarea", "nature")
_TAXONOMY_SET = frozenset(TAXONOMY_FIELDS)


@dataclass(frozen=True)
class FieldRef:
    """A value taken from the alert: ``ci``, ``service``, ``reporter``, ``location``, ``title``,
    ``source`` or ``tag:NAME``; ``default`` when the alert has none."""

    name: str
    default: str | None = None

    def resolve(self, alert: Alert, draft: Ticket) -> str | None:
        """The value for this alert (``None`` when it has none and there is no default)."""
        if self.name.startswith("tag:"):
            value: Any = alert.tags.get(self.name[4:])
        elif self.name == "source":
            value = alert.source
        else:
            value = getattr(draft, self.name)
        text = str(value).strip() if value is not None else ""
        return text or self.default


@dataclass(frozen=True)
class Match:
    """The conditions of one rule; every condition given must hold (lists mean any-of)."""

    source: frozenset[str] | None = None
    origin: frozenset[TicketSource] | None = None
    severity: frozenset[int] | None = None
    host_groups: tuple[str, ...] | None = None  # fnmatch patterns
    tags: Mapping[str, re.Pattern[str] | None] | None = None  # None: the tag only has to exist
    ci: re.Pattern[str] | None = None
    service: re.Pattern[str] | None = None
    title: re.Pattern[str] | None = None
    description: re.Pattern[str] | None = None
    text: re.Pattern[str] | None = None  # title + description
    sender: re.Pattern[str] | None = None
    #: host-group patterns without wildcards, looked up in a set; the others as one regex
    literal_groups: frozenset[str] = field(init=False, repr=False, compare=False)
    _wild_groups: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    #: the text conditions that are set, as (where the text is, its regex): only these run
    _texts: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = self.host_groups or ()
        wild = [fnmatch.translate(p) for p in patterns if _GLOB.search(p)]
        object.__setattr__(self, "literal_groups", frozenset(p for p in patterns if not _GLOB.search(p)))
        object.__setattr__(self, "_wild_groups", re.compile("|".join(wild)) if wild else None)
        texts = [(name, quick_search(getattr(self, name))) for name in _TEXT_FIELDS if getattr(self, name) is not None]
        object.__setattr__(self, "_texts", tuple(texts))

    def matches(self, alert: Alert, draft: Ticket) -> bool:
        """Whether this alert (and the draft made from it) meets every condition."""
        if self.origin is not None and draft.source not in self.origin:
            return False
        if self.host_groups is not None and not self.groups_match(alert.host_groups):
            return False
        return self.matches_the_rest(alert, draft)

    def matches_the_rest(self, alert: Alert, draft: Ticket) -> bool:
        """``matches`` without its kind of source and host groups (the classifier checks those
        once per combination of them; every condition is pure, so the order does not matter)."""
        if self.source is not None and alert.source not in self.source:
            return False
        if self.severity is not None and alert.severity not in self.severity:
            return False
        if self.tags is not None:
            for name, pattern in self.tags.items():
                value = alert.tags.get(name)
                if value is None or (pattern is not None and not pattern.search(value)):
                    return False
        for name, pattern in self._texts:
            text: str | None
            if name == "title":
                text = alert.title
            elif name == "text":
                text = f"{alert.title}\n{alert.description}"
            elif name in ("ci", "service"):
                text = getattr(draft, name)
            elif name == "sender":
                text = alert.reporter
            else:
                text = getattr(alert, name)
            if text is None or pattern.search(text) is None:
                return False
        return True

    def groups_match(self, groups: tuple[str, ...]) -> bool:
        """Whether one of an alert's host groups ``groups`` is one of this match's (always true
        without a host-group condition)."""
        if self.host_groups is None:
            return True
        if not self.literal_groups.isdisjoint(groups):
            return True
        wild = self._wild_groups
        return wild is not None and any(wild.match(group) for group in groups)


_GLOB = re.compile(r"[*?\[]")
#: how many (kind of source, host groups) combinations ``Classifier.candidates`` remembers
_CANDIDATE_CACHE = 4096
#: the regex conditions, cheapest first (CI and service are short, a description may be long)
_TEXT_FIELDS = ("ci", "service", "sender", "title", "description", "text")


@dataclass(frozen=True)
class Rule:
    """One compiled rule: where it is (for messages), when it applies and what it sets."""

    id: str
    line: int
    match: Match | None  # None: the default, matches everything
    sets: tuple[tuple[str, Any], ...]  # (field, literal | FieldRef | Level)
    cont: bool = False
    description: str = ""


class Classifier:
    """The ordered rules plus the taxonomy their values are checked against."""

    def __init__(self, rules: Sequence[Rule], taxonomy: Taxonomy) -> None:
        self.rules = tuple(rules)
        self.taxonomy = taxonomy
        self._natures = frozenset(taxonomy.nature_values())
        # An index, so an alert is only tried against rules it could match: per kind of source,
        # the rules that do not exclude it; among them those gated by literal host groups are
        # found through the alert's own groups. Order is kept (rule positions).
        self._open: dict[TicketSource, tuple[int, ...]] = {}
        self._by_group: dict[TicketSource, dict[str, tuple[int, ...]]] = {}
        for origin in TicketSource:
            fits = [
                i
                for i, r in enumerate(self.rules)
                if r.match is None or r.match.origin is None or origin in r.match.origin
            ]
            gated = {i for i in fits if _gated_by_groups(self.rules[i])}
            self._open[origin] = tuple(i for i in fits if i not in gated)
            index: dict[str, list[int]] = {}
            for i in sorted(gated):
                match = self.rules[i].match
                assert match is not None
                for group in match.literal_groups:
                    index.setdefault(group, []).append(i)
            self._by_group[origin] = {g: tuple(ix) for g, ix in index.items()}
        # the candidates per (kind of source, host groups): a site has a few dozen combinations,
        # and working them out per alert was a tenth of the classification's time; each with its
        # conditions and whether it only sets literal text fields (set at once, first match wins)
        self._candidates: dict[tuple[TicketSource, tuple[str, ...]], tuple[_Step, ...]] = {}

    def candidates(self, alert: Alert, origin: TicketSource) -> tuple[Rule, ...]:
        """The rules that could match this alert, in file order."""
        return tuple(rule for rule, _check, _plain in self._steps(alert, origin))

    def _steps(self, alert: Alert, origin: TicketSource) -> tuple[_Step, ...]:
        key = (origin, alert.host_groups)
        found = self._candidates.get(key)
        if found is None:
            if len(self._candidates) >= _CANDIDATE_CACHE:  # bounded whatever the sources send
                self._candidates.clear()
            found = self._candidates[key] = tuple(
                (rule, rule.match.matches_the_rest if rule.match is not None else None, _plain(rule))
                for rule in self._candidates_of(alert.host_groups, origin)
                if rule.match is None or rule.match.groups_match(alert.host_groups)
            )
        return found

    def _candidates_of(self, host_groups: tuple[str, ...], origin: TicketSource) -> tuple[Rule, ...]:
        by_group = self._by_group[origin]
        hits = [i for group in host_groups for i in by_group.get(group, ())]
        if not hits:
            return tuple(self.rules[i] for i in self._open[origin])
        return tuple(self.rules[i] for i in sorted({*self._open[origin], *hits}))

    def classify(self, alert: Alert, draft: Ticket) -> Ticket:
        """The draft with the fields of every matching rule set; ``rule`` names those rules.

        Raises ``RuleError`` naming the rule when a value it takes from the alert cannot be
        used (e.g. ``impact: {from: tag:impact}`` and the tag holds ``high``).
        """
        updates: dict[str, Any] = {}
        matched: list[str] = []
        from_alert: set[str] = set()
        for rule, check, plain in self._steps(alert, draft.source):
            if check is not None and not check(alert, draft):
                continue
            matched.append(rule.id)
            if plain:
                for name, value in rule.sets:
                    if name not in updates:  # an earlier matching rule set it: the first match wins
                        updates[name] = value
            else:
                for name, value in rule.sets:
                    self._apply(rule, name, value, alert, draft, updates, from_alert)
            if not rule.cont:
                break
        if from_alert and not _TAXONOMY_SET.isdisjoint(from_alert):
            self._drop_unknown_paths(updates, from_alert, draft)
        updates["rule"] = "+".join(matched) if matched else None
        return draft.model_copy(update=updates)

    def _apply(
        self,
        rule: Rule,
        name: str,
        value: Any,
        alert: Alert,
        draft: Ticket,
        updates: dict[str, Any],
        from_alert: set[str],
    ) -> None:
        if isinstance(value, Level):
            for field, level_value in (("impact", value.impact), ("urgency", value.urgency)):
                updates.setdefault(field, level_value)
            return
        if name in updates:
            return  # an earlier matching rule set it: the first match wins
        if isinstance(value, FieldRef):
            resolved = value.resolve(alert, draft)
            if resolved is None:
                return
            from_alert.add(name)
            value = resolved
        if name == "impact":
            updates[name] = _enum(Impact, value, rule, alert, name)
        elif name == "urgency":
            updates[name] = _enum(Urgency, value, rule, alert, name)
        else:
            updates[name] = value

    def _drop_unknown_paths(self, updates: dict[str, Any], from_alert: set[str], draft: Ticket) -> None:
        """Leave unset a category path or nature taken from the alert that the taxonomy lacks."""
        if "nature" in from_alert and updates.get("nature") not in self._natures:
            updates.pop("nature", None)
        for depth in ("subarea", "area", "category"):
            path = [updates.get(k, getattr(draft, k)) for k in ("category", "area", "subarea")]
            if self.taxonomy.check_path(*path) is None:
                return
            if depth in from_alert:
                updates[depth] = None


#: a candidate rule, its conditions but the kind of source and host groups (``None``: the default),
#: whether ``_plain``
_Step = tuple[Rule, Callable[[Alert, Ticket], bool] | None, bool]


def _plain(rule: Rule) -> bool:
    """A rule that only sets literal values of text fields (what ``Classifier._apply`` would store
    as they are)."""
    return all(type(value) is str and name not in ("impact", "urgency") for name, value in rule.sets)


def _gated_by_groups(rule: Rule) -> bool:
    """A rule that can only match an alert in one of its literal host groups."""
    match = rule.match
    return match is not None and match.host_groups is not None and match.literal_groups == frozenset(match.host_groups)


def _enum(kind: type[Impact] | type[Urgency], value: Any, rule: Rule, alert: Alert, name: str) -> Any:
    try:
        return kind(int(value))
    except (TypeError, ValueError) as exc:
        raise RuleError(
            f"{name} {value!r} is not 1–4 (classification.yaml line {rule.line})",
            rule=f"classification:{rule.id}",
            alert=alert.key,
        ) from exc
