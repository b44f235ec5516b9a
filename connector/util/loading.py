"""YAML → pydantic with ``file:line`` errors, with a validation context for cross-file checks.

``connector.rules.rulefile.load_model`` validates one file on its own. The notification files refer
to each other (a rule names a role that ``people.yaml`` declares, a channel the config
configures), so their validators read the known names from pydantic's validation ``context``
and a wrong name is reported on its own line, with a did-you-mean, like any other problem.
"""

from __future__ import annotations

__all__ = ["did_you_mean", "known_name", "load_with_context", "validate_with_context"]

import difflib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import AfterValidator, BaseModel, ValidationError, ValidationInfo

from connector.domain.errors import ConfigError, ConfigProblem
from connector.util.validation import problems_from_validation as _problems
from connector.util.yamlfile import LineDict, load_yaml

_M = TypeVar("_M", bound=BaseModel)


def did_you_mean(word: str, candidates: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def known_name(context_key: str, what: str) -> AfterValidator:
    """A validator for a name that must be one of ``context[context_key]`` when the context has
    that key (the other file is loaded); without it, any name passes. Put it on the item type
    (``list[Annotated[str, known_name(...)]]``) so the error names the item's own line."""

    def check(value: str, info: ValidationInfo) -> str:
        context = info.context or {}
        names: Collection[str] | None = context.get(context_key)
        if names is not None and value not in names:
            listed = ", ".join(sorted(names)) or "none"
            raise ValueError(f"not a known {what}{did_you_mean(value, names)} (known: {listed})")
        return value

    return AfterValidator(check)


def validate_with_context(data: Any, model: type[_M], file: str, context: Mapping[str, Any] | None = None) -> _M:
    """Validate parsed YAML ``data`` (a whole file or one section of it, as ``load_yaml`` returns
    it) against ``model``; raises ``ConfigError`` with every problem."""
    if not isinstance(data, LineDict):
        raise ConfigError([ConfigProblem(file, getattr(data, "line", None), "expected a mapping")])
    try:
        return model.model_validate(data, context=dict(context or {}))
    except ValidationError as exc:
        raise ConfigError(_problems(exc, data, model, file, ())) from exc


def load_with_context(path: Path, model: type[_M], context: Mapping[str, Any] | None = None) -> _M:
    """Parse and validate the file at ``path``; raises ``ConfigError`` with every problem."""
    return validate_with_context(load_yaml(path), model, str(path), context)
