"""One rule file (``rules/*.yaml``) into one validated pydantic model, with ``file:line`` errors.

The rule files are validated exactly like the connector config: unknown keys, wrong types and
values are reported with the line they are on and a did-you-mean, all at once. A file that
does not validate raises ``ConfigError`` and yields nothing, so a typo never half-loads.
"""

from __future__ import annotations

__all__ = ["load_model", "load_with_lines", "validate_data"]

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from connector.domain.errors import ConfigError, ConfigProblem
from connector.util.validation import problems_from_validation as _problems
from connector.util.yamlfile import LineDict, load_yaml

_M = TypeVar("_M", bound=BaseModel)


def validate_data(data: Any, model: type[_M], file: str, context: Mapping[str, Any] | None = None) -> _M:
    """Validate parsed YAML ``data`` (as ``load_yaml`` returns it) against ``model``; ``context``
    holds the names other files declare (``roles``, ``channels``), for the checks across files."""
    if not isinstance(data, LineDict):
        raise ConfigError([ConfigProblem(file, None, "the file must be a mapping")])
    try:
        return model.model_validate(data, context=dict(context or {}))
    except ValidationError as exc:
        raise ConfigError(_problems(exc, data, model, file, ())) from exc


def load_model(path: Path, model: type[_M]) -> _M:
    """Parse and validate the rule file at ``path``; raises ``ConfigError`` with every problem."""
    return validate_data(load_yaml(path), model, str(path))


def load_with_lines(path: Path, model: type[_M], context: Mapping[str, Any] | None = None) -> tuple[_M, LineDict]:
    """Like ``load_model``, and also the parsed data, whose line numbers let later checks
    (across files) name the line they are about."""
    data = load_yaml(path)
    return validate_data(data, model, str(path), context), data
