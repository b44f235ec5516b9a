"""The knowledge rules (``knowledge.yaml``, issue 13): which solved incidents are "similar", which
closes make a knowledge-base candidate, and how a handler says the knowledge base was used.

The model of the file and the small pure readings of it (is this close a KB candidate? what is
its root cause? does this note say "KB used"?); the lookup itself, which reads the store, is
``connector.process.similar``. Every number is the file's: the shipped defaults are in
``rules/defaults/knowledge.yaml``, none is written here.
"""

from __future__ import annotations

__all__ = [
    "KbCandidateModel",
    "KnowledgeFile",
    "KnowledgeUsedModel",
    "SimilarModel",
    "kb_used_line",
    "root_cause",
]

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connector.domain.models import ClosureCode

#: the two ways a solved incident can match a new one, in the order ``similar.order`` names them
MatchKind = Literal["same_ci_symptom", "same_category_title"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SimilarModel(_Strict):
    """``similar``: how many solved incidents the note names, how they are matched, how far back."""

    enabled: bool
    count: int = Field(ge=1)
    order: list[MatchKind] = Field(min_length=1)
    #: the least rapidfuzz token-set ratio (0–100) two titles of one category need
    min_title_score: float = Field(ge=0, le=100)
    lookback_days: float = Field(gt=0)
    #: how many of a category's most recently solved incidents the title match compares
    scan_limit: int = Field(ge=1)

    @field_validator("order")
    @classmethod
    def _once(cls, value: list[MatchKind]) -> list[MatchKind]:
        if len(set(value)) != len(value):
            raise ValueError("each match kind may be named once")
        return value


class KbCandidateModel(_Strict):
    """``kb_candidate``: which closes make a knowledge-base candidate."""

    enabled: bool
    closure_codes: list[ClosureCode] = Field(min_length=1)
    require_root_cause: bool
    root_cause_prefixes: list[str] = Field(min_length=1)

    @field_validator("root_cause_prefixes")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not prefix.strip() for prefix in value):
            raise ValueError("a root-cause prefix may not be blank")
        return value


class KnowledgeUsedModel(_Strict):
    """``knowledge_used``: the note lines that mark a ticket "KB used" (KPI 15)."""

    used_lines: list[str] = Field(min_length=1)


class KnowledgeFile(_Strict):
    """``knowledge.yaml``."""

    similar: SimilarModel
    kb_candidate: KbCandidateModel
    knowledge_used: KnowledgeUsedModel


def root_cause(solution: str | None, rules: KbCandidateModel) -> str | None:
    """The root cause a solution states: the rest of its first line that begins with one of the
    prefixes (case-insensitive), or ``None`` when no line does or the rest is blank."""
    if not solution:
        return None
    prefixes = [prefix.casefold() for prefix in rules.root_cause_prefixes]
    for line in solution.splitlines():
        text = line.strip()
        folded = text.casefold()
        for prefix in prefixes:
            if folded.startswith(prefix):
                rest = text[len(prefix) :].strip()
                if rest:
                    return rest
    return None


def kb_used_line(note: str | None, rules: KnowledgeUsedModel) -> bool:
    """Whether a note has a line that is exactly one of the "KB used" lines (case-insensitive,
    blanks around it ignored): a handler's way to mark the knowledge base used without a field."""
    if not note:
        return False
    wanted = {line.strip().casefold() for line in rules.used_lines}
    return any(line.strip().casefold() in wanted for line in note.splitlines())
