"""Warnings about classification rules that load but do not do what they seem to.

Regexes cannot be compared in general, so only what is certain is reported:

* **unreachable**: an earlier rule (that does not ``continue``) matches every alert this one
  does — its conditions are a subset of this rule's, each at least as wide (a list that
  contains this rule's list, an identical regex, no condition at all);
* **overlap**: two rules (neither ``continue``) that share conditions which certainly admit a
  common alert (intersecting lists, identical regexes) while neither contains the other —
  an alert matching both takes the earlier one's settings;
* a ``continue`` rule that sets nothing.
"""

from __future__ import annotations

__all__ = ["lint_rules"]

from typing import Any

from connector.domain.errors import ConfigProblem
from connector.rules.files import ClassificationFile, MatchModel
from connector.util.yamlfile import LineDict, line_of

_SETS = ("source", "origin", "severity", "host_groups")
_REGEXES = ("ci", "service", "title", "description", "text", "sender")


def _normal(match: MatchModel | None) -> dict[str, Any]:
    if match is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in match.given().items():
        if key == "severity" and isinstance(value, dict):
            out[key] = frozenset(range(value.get("min", 0), value.get("max", 5) + 1))
        elif key in _SETS:
            out[key] = frozenset(value if isinstance(value, list) else [value])
        else:
            out[key] = value
    return out


def _covers(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Every alert meeting ``b``'s conditions meets ``a``'s."""
    for key, wide in a.items():
        if key not in b:
            return False
        narrow = b[key]
        if key in _SETS:
            if not narrow <= wide:
                return False
        elif key == "tags":
            if any(tag not in narrow or (rx is not None and narrow[tag] != rx) for tag, rx in wide.items()):
                return False
        elif wide != narrow:
            return False
    return True


def _certainly_intersect(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """What a common alert would look like, when the shared conditions surely admit one."""
    shared = [key for key in a if key in b]
    if not shared:
        return None
    parts = []
    for key in shared:
        if key in _SETS:
            both = a[key] & b[key]
            if not both:
                return None
            parts.append(f"{key} {', '.join(sorted(map(str, both)))}")
        elif key == "tags":
            common = set(a[key]) & set(b[key])
            if not common or any(
                a[key][t] is not None and b[key][t] is not None and a[key][t] != b[key][t] for t in common
            ):
                return None
            parts.append("tags " + ", ".join(sorted(common)))
        elif a[key] == b[key]:
            parts.append(f"{key} ~ {a[key]!r}")
        else:
            return None
    return "; ".join(parts)


def lint_rules(model: ClassificationFile, data: LineDict, file: str) -> list[ConfigProblem]:
    """Warnings (unreachable, overlapping, idle rules), each at the line of the later rule."""
    warnings: list[ConfigProblem] = []
    normal = [_normal(rule.match) for rule in model.rules]
    lines = [line_of(data, ("rules", i)) for i in range(len(model.rules))]
    unreachable: set[int] = set()
    for j, rule in enumerate(model.rules):
        if rule.continue_ and not rule.set.model_dump(exclude_none=True):
            warnings.append(ConfigProblem(file, lines[j], f"warning: rule {rule.id!r} continues but sets nothing"))
        for i in range(j):
            earlier = model.rules[i]
            if earlier.continue_ or i in unreachable:
                continue
            if _covers(normal[i], normal[j]):
                warnings.append(
                    ConfigProblem(
                        file,
                        lines[j],
                        f"warning: rule {rule.id!r} can never match: rule {earlier.id!r} (line {lines[i]}) "
                        "matches every alert it does, and the first match wins",
                    )
                )
                unreachable.add(j)
                break
            if rule.continue_ or _covers(normal[j], normal[i]):
                continue
            common = _certainly_intersect(normal[i], normal[j])
            if common is not None:
                warnings.append(
                    ConfigProblem(
                        file,
                        lines[j],
                        f"warning: rule {rule.id!r} overlaps rule {earlier.id!r} (line {lines[i]}) on {common}: "
                        f"an alert matching both is classified by {earlier.id!r} (the first match wins)",
                    )
                )
    return warnings
