"""Problem records (PROCESS §12 "Problem", seed §3.1.3.11; issue 13, item 1): which incident
raises one, and which open problem an incident of the same root cause joins instead: pure.

``itil_links.yaml`` says which incidents raise a problem (``problems.priorities``: a major incident,
P1; ``problems.closure_codes``: a close "success but with a problem"). An incident joins a
problem at most once (``LinkLedger.problem_link``), so a restart, a repeated sync-back pass or
a second close never raises another. The root cause is the incident's fingerprint
(``dedup.yaml``: by default the same CI and the same symptom): an incident whose fingerprint
raised a problem within ``problems.same_root_cause_days`` joins that problem — the helpdesk
links it and adds a note to the problem — instead of opening a second. An incident without a
fingerprint (a report lacking its CI or symptom) opens a problem of its own. A duplicate never
raises one: its master stands for it.

``problem_step`` answers what is due; ``record_problem`` writes it into the ledger. The shells
(the sync-back's links job, ``simulate``) queue the helpdesk's writes in the same transaction.
"""

from __future__ import annotations

__all__ = ["ProblemStep", "problem_record", "problem_step", "record_problem"]

from dataclasses import dataclass
from datetime import datetime

from connector.domain.clock import isoformat
from connector.domain.ledger import TicketState
from connector.domain.links import LinkLedger, ProblemRecord, problem_key
from connector.domain.models import ClosureCode
from connector.rules.links import LinksFile


@dataclass(frozen=True)
class ProblemStep:
    """What an incident owes problem management: the problem it joins, the record to open when
    it opens one (``None``: it joins an open problem), and the notes for both sides."""

    incident_key: str
    problem_key: str
    root: str | None
    record: ProblemRecord | None
    #: a note for the problem record (a later incident of the same root cause), if any
    problem_note: str | None
    #: the note written on the incident
    incident_note: str

    @property
    def opens(self) -> bool:
        """Whether this step opens a new problem record."""
        return self.record is not None


def problem_step(
    state: TicketState,
    ledger: LinkLedger,
    rules: LinksFile,
    now: datetime,
    *,
    closure_code: ClosureCode | None = None,
    solution: str | None = None,
) -> ProblemStep | None:
    """The problem ``state`` raises or joins now, or ``None`` (not due, or done already)."""
    if state.master_key is not None or not rules.raises_problem(state.priority, closure_code):
        return None
    if ledger.problem_of(state.key) is not None:
        return None
    why = _why(state, closure_code)
    root = state.fingerprint
    joined = ledger.problem_for_root(root, now - rules.problems.root_cause_window) if root else None
    if joined is not None:
        days = rules.problems.same_root_cause_days
        return ProblemStep(
            incident_key=state.key,
            problem_key=joined,
            root=root,
            record=None,
            problem_note=_later_incident_note(state, why, solution),
            incident_note=(
                f"问题记录 linked to the open problem {joined}: the same root cause (fingerprint {root}) "
                f"within {days:g} days ({why})"
            ),
        )
    key = problem_key(state.key)
    return ProblemStep(
        incident_key=state.key,
        problem_key=key,
        root=root,
        record=problem_record(state, key, why, solution),
        problem_note=None,
        incident_note=f"问题记录 problem record {key} raised ({why}, PROCESS §12)",
    )


def record_problem(ledger: LinkLedger, step: ProblemStep, now: datetime) -> bool:
    """Write ``step`` into the ledger; ``False`` when the incident had joined a problem already
    (then nothing is owed)."""
    if step.opens:
        ledger.problem_add(step.problem_key, step.root, now)
    return ledger.problem_link(step.incident_key, step.problem_key, now)


def _why(state: TicketState, closure_code: ClosureCode | None) -> str:
    if closure_code is not None and closure_code is ClosureCode.SUCCESS_WITH_PROBLEM:
        return "closed 成功但有问题 success with a problem"
    if closure_code is not None:
        return f"closed {closure_code.value}"
    return f"major incident P{int(state.priority)}" if state.priority is not None else "incident"


def _content(state: TicketState, name: str) -> str | None:
    value = state.content.get(name)
    return str(value) if value not in (None, "") else None


def _timeline(state: TicketState) -> list[str]:
    moments = [
        ("occurred 发生", state.occurred_at),
        ("registered 登记", state.created_at),
        ("assigned 分派", state.assigned_at),
        ("accepted 受理", state.accepted_at),
        ("third party 第三方", state.third_party_at),
        ("resolved 解决", state.resolved_at),
        ("closed 关闭", state.closed_at),
    ]
    return [f"  {label}: {isoformat(at)}" for label, at in moments if at is not None]


def problem_record(state: TicketState, key: str, why: str, solution: str | None = None) -> ProblemRecord:
    """The record an incident opens: its title, CI, service, category, timeline and solution."""
    title = _content(state, "title") or state.key
    ci, service, category = _content(state, "ci"), _content(state, "service"), _content(state, "category")
    lines = [
        f"Problem raised by incident {state.key} ({why}).",
        f"incident 事件: {state.key}" + (f" (helpdesk #{state.ticket_id})" if state.ticket_id else ""),
        f"CI 配置项: {ci or '-'}",
        f"service 服务: {service or '-'}",
        f"category 分类: {category or '-'}",
        f"priority 优先级: P{int(state.priority)}" if state.priority is not None else "priority 优先级: -",
        f"fingerprint 指纹: {state.fingerprint or '-'}",
        "timeline 时间线:",
        *_timeline(state),
        f"solution 解决方案: {solution or _content(state, 'solution') or '- (not given yet)'}",
        "",
        _content(state, "description") or "",
    ]
    return ProblemRecord(
        key=key,
        title=f"[问题 problem] {title}",
        description="\n".join(lines).rstrip(),
        ci=ci,
        service=service,
        category=category,
    )


def _later_incident_note(state: TicketState, why: str, solution: str | None) -> str:
    lines = [
        f"Another incident of the same root cause 同一根因: {state.key}"
        + (f" (helpdesk #{state.ticket_id})" if state.ticket_id else "")
        + f", {why}",
        f"title 标题: {_content(state, 'title') or '-'}",
        f"CI 配置项: {_content(state, 'ci') or '-'}",
        "timeline 时间线:",
        *_timeline(state),
    ]
    found = solution or _content(state, "solution")
    if found:
        lines.append(f"solution 解决方案: {found}")
    return "\n".join(lines)
