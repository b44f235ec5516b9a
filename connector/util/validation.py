"""Config and rule files → ``file:line: reason`` problems: secret references resolved in place,
pydantic's errors translated with did-you-mean hints. Shared by the connector config, the notify
section, the people file and every rule file, so they all report problems the same way."""

from __future__ import annotations

__all__ = ["did_you_mean", "problems_from_validation", "resolve_references"]

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from connector.domain.errors import ConfigProblem
from connector.util.secrets import SecretSource
from connector.util.yamlfile import LineDict, LineList, line_of

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SENSITIVE = re.compile(r"key|token|password|secret", re.IGNORECASE)


class _Unresolved(SecretSource):
    """Stands in for a reference that could not be resolved (already reported), so the model
    pass does not report the same line a second time."""

    __slots__ = ()


def resolve_references(
    node: Any, base: Path, env: typing.Mapping[str, str], file: str, problems: list[ConfigProblem], secrets: set[str]
) -> None:
    """Replace ``${VAR}`` and ``*_file`` references in place, recording problems with lines."""
    if isinstance(node, LineDict):
        for key in list(node.keys()):
            value = node[key]
            line = node.lines.get(key)
            if isinstance(key, str) and key.endswith("_file") and isinstance(value, str):
                target = key[: -len("_file")]
                if target in node:
                    problems.append(ConfigProblem(file, line, f"give either {target} or {key}, not both"))
                    continue
                resolved = _substitute(value, env, file, line, problems)
                file_path = Path(resolved)
                file_path = file_path if file_path.is_absolute() else base / file_path
                try:
                    content = file_path.read_text(encoding="utf-8").strip()
                except OSError as exc:
                    problems.append(ConfigProblem(file, line, f"{key}: cannot read {file_path}: {exc.strerror or exc}"))
                    content = _Unresolved("")
                del node[key]
                node[target] = content if isinstance(content, _Unresolved) else SecretSource(content)
                node.lines[target] = line or node.line
                if content:
                    secrets.add(content)
            elif isinstance(value, str):
                node[key] = _substitute(value, env, file, line, problems, secrets)
            else:
                resolve_references(value, base, env, file, problems, secrets)
    elif isinstance(node, LineList):
        for index, value in enumerate(node):
            if isinstance(value, str):
                node[index] = _substitute(value, env, file, node.lines[index], problems, secrets)
            else:
                resolve_references(value, base, env, file, problems, secrets)


def _substitute(
    value: str,
    env: typing.Mapping[str, str],
    file: str,
    line: int | None,
    problems: list[ConfigProblem],
    secrets: set[str] | None = None,
) -> str:
    """``value`` with ``${VAR}`` replaced; a whole-value reference becomes a ``SecretSource``."""
    refs = _ENV_REF.findall(value)
    if not refs:
        return value
    missing = [ref for ref in refs if ref not in env]
    if missing:
        problems.append(ConfigProblem(file, line, "environment variable " + ", ".join(missing) + " is not set"))
        return _Unresolved("")
    text = _ENV_REF.sub(lambda match: env[match.group(1)], value)
    if _ENV_REF.fullmatch(value):
        if secrets is not None:
            secrets.add(text)
        return SecretSource(text)
    return text


def problems_from_validation(
    exc: ValidationError, data: Any, model: type[BaseModel], file: str, prefix: tuple[Any, ...]
) -> list[ConfigProblem]:
    """Turn pydantic's errors into ``file:line: reason`` problems, with did-you-mean hints."""
    out = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        dotted = ".".join(str(part) for part in (*prefix, *loc))
        kind = error["type"]
        if kind == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            hint = did_you_mean(str(loc[-1]), list(owner.model_fields) if owner else [])
            reason = f"unknown key {dotted!r}{hint}"
        elif kind == "missing":
            reason = f"missing required key {dotted!r}"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            reason = f"{dotted}: {message}"
            shown = error.get("input")
            sensitive = isinstance(shown, SecretSource) or "secret" in message or _SENSITIVE.search(dotted)
            if shown is not None and not isinstance(shown, dict | list) and not sensitive:
                reason += f" (got {shown!r})"
        out.append(ConfigProblem(file, line_of(data, (*prefix, *loc)), reason))
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested model that owns the key at ``loc`` (for did-you-mean), if it can be found."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field_info = current.model_fields.get(str(part))
        if field_info is None:
            return None
        current = _inner_model(field_info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """Unwrap Optional/list/dict annotations to the model inside, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
