"""YAML loading that remembers line numbers, so every config error can say ``file:line``.

Mappings load as ``LineDict`` and sequences as ``LineList``: ordinary dict/list subclasses that
also know the line of each key/item. Duplicate keys are an error (PyYAML silently keeps the
last one, which hides typos in long rule files).
"""

from __future__ import annotations

__all__ = ["LineDict", "LineList", "line_of", "load_yaml"]

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from connector.domain.errors import ConfigError, ConfigProblem


class LineDict(dict[Any, Any]):
    """A dict that knows the line of each key (1-based) and of itself."""

    line: int = 0
    lines: dict[Any, int]


class LineList(list[Any]):
    """A list that knows the line of each item (1-based) and of itself."""

    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader building LineDict/LineList and refusing duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {result.lines[key]})", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse ``path``; a syntax error becomes a ``ConfigError`` naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, f"cannot read: {exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(str(path), None, f"not UTF-8 text: {exc}")]) from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise ConfigError([ConfigProblem(str(path), line, f"YAML syntax: {reason}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(str(path), None, f"YAML syntax: {exc}")]) from exc


def line_of(data: Any, loc: Sequence[Any]) -> int | None:
    """The line of the deepest node along ``loc`` (a pydantic error location) that exists."""
    node = data
    line: int | None = getattr(data, "line", None) or None
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line
