"""``itil_links.yaml``: when an incident raises a problem record, which problem is "the same root
cause", and what a linked change does to the incident's SLA (PROCESS §12, issue 13).

The model is the file's shape (unknown keys and bad values are ``file:line`` errors, as in every
rule file); ``raises_problem`` and ``root_cause_window`` are the pure readings the process
(``connector.process.problems``) asks. No number of the process is written here: the shipped
values are ``connector/rules/defaults/itil_links.yaml``'s.
"""

from __future__ import annotations

__all__ = ["ChangesModel", "LinksFile", "ProblemsModel"]

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from connector.domain.models import ClosureCode, Priority
from connector.util.loading import known_name

#: a role of people.yaml (checked against it when it is loaded, as the ladder's roles are)
_Role = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$"), known_name("roles", "role")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProblemsModel(_Strict):
    """``problems:``: which incidents raise a problem record, and which share one."""

    enabled: bool = True
    #: an incident made with, or raised to, one of these priorities raises a problem (major: P1)
    priorities: list[Priority] = Field(default_factory=list)
    #: an incident closed with one of these codes raises one ("success but with a problem")
    closure_codes: list[ClosureCode] = Field(default_factory=list)
    #: a later incident of the same fingerprint links to an open problem opened this recently
    same_root_cause_days: float = Field(gt=0)

    @property
    def root_cause_window(self) -> timedelta:
        """How long after a problem's opening an incident of its fingerprint still links to it."""
        return timedelta(days=self.same_root_cause_days)


class ChangesModel(_Strict):
    """``changes:``: what a change linked to an incident does to it."""

    #: pending-change time pauses the SLA clocks, like a suspension
    pauses_sla: bool = True
    #: the roles told when the change closed and the incident is back in progress
    closed_notify: list[_Role] = Field(default_factory=list)


class LinksFile(_Strict):
    """``itil_links.yaml``: the links to problem and change management."""

    problems: ProblemsModel
    changes: ChangesModel = Field(default_factory=ChangesModel)

    def raises_problem(self, priority: Priority | None, closure_code: ClosureCode | None = None) -> bool:
        """Whether an incident of ``priority`` (closed with ``closure_code``, if closed) raises a
        problem record."""
        if not self.problems.enabled:
            return False
        if closure_code is not None and closure_code in self.problems.closure_codes:
            return True
        return priority is not None and priority in self.problems.priorities
