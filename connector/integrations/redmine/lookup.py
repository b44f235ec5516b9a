"""Find, by name, the ids this Redmine uses for the configured project, tracker, statuses,
priorities and custom fields — and say precisely what is missing.

Ids are instance-specific (status 5 is "Closed" only on a fresh install), so they are never
hard-coded: the backend runs ``discover`` once, lazily, and caches the result; ``setup``
renders the same result for an admin. Names match exactly, else case-insensitively.

Custom fields come from ``GET /custom_fields.json`` when the key is an admin's. Otherwise that
answers 403 and the fallback is what a member can see: the project's own custom fields
(``include=issue_custom_fields``, which omits fields "For all projects") plus the fields
listed on the newest issue of the project and tracker.
"""

from __future__ import annotations

__all__ = ["FORMAT_LABELS", "Discovery", "FoundField", "Problem", "discover", "match_name"]

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from connector.domain.fields import CATALOGUE, KEY_FIELD, FieldSpec
from connector.domain.models import Priority, TicketStatus
from connector.integrations.redmine.client import RedmineClient, RedmineRejected, RedmineUnavailable
from connector.integrations.redmine.problems import link_problems
from connector.integrations.redmine.schema import (
    CustomFieldDefs,
    IssueList,
    IssueStatus,
    IssueStatuses,
    NamedRef,
    PriorityDefs,
    Project,
    ProjectEnvelope,
    Trackers,
    UserEnvelope,
)
from connector.integrations.redmine.settings import RedmineSettings
from connector.util.setup_report import Problem

_N = TypeVar("_N", bound=NamedRef)
_K = TypeVar("_K")

#: Redmine's UI name of each field_format ("New custom field" › Format)
FORMAT_LABELS = {"string": "Text", "text": "Long text", "int": "Integer", "bool": "Boolean"}


@dataclass(frozen=True)
class FoundField:
    """A custom field found for a ticket field. ``None`` attributes could not be checked with
    this API user (non-admins cannot read field definitions)."""

    key: str
    name: str
    id: int
    field_format: str | None = None
    is_filter: bool | None = None
    trackers: tuple[str, ...] | None = None
    applies: bool | None = None  # enabled for this project and tracker, as seen on an issue


@dataclass
class Discovery:
    """What ``discover`` found; ``problems`` lists what is missing, required or not."""

    url: str
    user_login: str = ""
    user_admin: bool = False
    project_id: int | None = None
    project_name: str = ""
    tracker_id: int | None = None
    tracker_name: str = ""
    statuses: dict[TicketStatus, IssueStatus] = field(default_factory=dict)
    all_statuses: dict[int, IssueStatus] = field(default_factory=dict)
    priorities: dict[Priority, NamedRef] = field(default_factory=dict)
    fields: dict[str, FoundField] = field(default_factory=dict)
    fields_source: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False only when something required is missing."""
        return not any(problem.required for problem in self.problems)

    def missing(self, *, required: bool) -> list[Problem]:
        """The required (or the optional) problems."""
        return [problem for problem in self.problems if problem.required is required]


def match_name(items: Iterable[_N], name: str) -> _N | None:
    """The item called ``name``: exact match first, then case-insensitive."""
    candidates = list(items)
    for item in candidates:
        if item.name == name:
            return item
    folded = name.casefold()
    for item in candidates:
        if item.name.casefold() == folded:
            return item
    return None


def _field_how(spec: FieldSpec, name: str, tracker: str) -> str:
    steps = [
        f"Administration › Custom fields › New custom field › Issues: Name {name!r}, "
        f"Format {FORMAT_LABELS.get(spec.field_format, spec.field_format)!r}, "
        f"tick tracker {tracker!r} and 'For all projects'"
    ]
    if spec.is_filter:
        steps.append("tick 'Used as a filter' (find_by_key filters on it)")
    return "; ".join(steps)


def discover(client: RedmineClient, settings: RedmineSettings) -> Discovery:
    """Look everything up once and collect what is missing.

    Raises the client's ``BackendUnavailable`` when Redmine cannot be asked at all (down, key
    refused, REST API disabled): then nothing can be said about the setup.
    """
    found = Discovery(url=settings.url)
    me = client.get("/users/current.json", UserEnvelope).user
    found.user_login, found.user_admin = me.login, me.admin

    project = _project(client, settings, found)
    _tracker(client, settings, project, found)
    _statuses(client, settings, found)
    _priorities(client, settings, found)
    _custom_fields(client, settings, project, found)
    found.problems.extend(link_problems(client, settings, project))  # backend.links (issue 13)
    return found


def _project(client: RedmineClient, settings: RedmineSettings, found: Discovery) -> Project | None:
    try:
        project = client.get(
            f"/projects/{settings.project}.json", ProjectEnvelope, {"include": "trackers,issue_custom_fields"}
        ).project
    except (RedmineRejected, RedmineUnavailable) as exc:
        if isinstance(exc, RedmineUnavailable) and exc.status not in (403, 404):
            raise
        found.problems.append(
            Problem(
                what=f"project {settings.project!r} (HTTP {exc.status}: not found or not visible to "
                f"user {found.user_login!r})",
                how="create it (Projects › New project) or fix backend.project; the API user must be an "
                "admin or a member with the permissions View/Add/Edit issues, Add notes and Manage "
                "issue relations, and the project needs the Issue tracking module",
                required=True,
            )
        )
        return None
    found.project_id, found.project_name = project.id, project.name
    return project


def _tracker(client: RedmineClient, settings: RedmineSettings, project: Project | None, found: Discovery) -> None:
    trackers = client.get("/trackers.json", Trackers).trackers
    tracker = match_name(trackers, settings.tracker)
    if tracker is None:
        found.problems.append(
            Problem(
                what=f"tracker {settings.tracker!r} (this Redmine has: "
                f"{', '.join(t.name for t in trackers) or 'none'})",
                how="Administration › Trackers › New tracker, or set backend.tracker to one of the above",
                required=True,
            )
        )
        return
    found.tracker_id, found.tracker_name = tracker.id, tracker.name
    if project is not None and project.trackers and match_name(project.trackers, tracker.name) is None:
        # Redmine silently swaps a tracker the project lacks for its first one: refuse instead
        found.problems.append(
            Problem(
                what=f"tracker {tracker.name!r} is not enabled in project {project.name!r}",
                how=f"Project {project.name!r} › Settings › Issue tracking: tick {tracker.name!r}",
                required=True,
            )
        )


def _by_name(
    items: Iterable[_N], wanted: Mapping[_K, str], missing: Callable[[_K, str], Problem], found: Discovery
) -> dict[_K, _N]:
    """``wanted`` (process value → Redmine name) resolved against ``items``; each name that is
    not there adds the problem ``missing`` describes."""
    candidates = list(items)
    resolved: dict[_K, _N] = {}
    for value, name in wanted.items():
        item = match_name(candidates, name)
        if item is None:
            found.problems.append(missing(value, name))
        else:
            resolved[value] = item
    return resolved


def _statuses(client: RedmineClient, settings: RedmineSettings, found: Discovery) -> None:
    statuses = client.get("/issue_statuses.json", IssueStatuses).issue_statuses
    found.all_statuses = {status.id: status for status in statuses}
    found.statuses = _by_name(
        statuses,
        settings.status_map,
        lambda status, name: Problem(
            what=f"issue status {name!r} (for {status.value})",
            how=f"Administration › Issue statuses › New status {name!r}, then allow it in "
            f"Administration › Workflow; or change backend.status_map.{status.value}",
            required=True,
        ),
        found,
    )


def _priorities(client: RedmineClient, settings: RedmineSettings, found: Discovery) -> None:
    priorities = client.get("/enumerations/issue_priorities.json", PriorityDefs).issue_priorities
    found.priorities = _by_name(
        [p for p in priorities if p.active],
        settings.priority_map,
        lambda priority, name: Problem(
            what=f"issue priority {name!r} (for priority {int(priority)})",
            how=f"Administration › Enumerations › Issue priorities › New value {name!r} (active), "
            f"or change backend.priority_map.{int(priority)}",
            required=True,
        ),
        found,
    )


def _custom_fields(client: RedmineClient, settings: RedmineSettings, project: Project | None, found: Discovery) -> None:
    # what an issue of this project and tracker carries = exactly the fields that apply to it
    sample: set[int] | None = None
    sample_named: list[NamedRef] = []
    if found.project_id is not None and found.tracker_id is not None:
        page = client.get(
            "/issues.json",
            IssueList,
            {
                "project_id": found.project_id,
                "tracker_id": found.tracker_id,
                "status_id": "*",
                "sort": "id:desc",
                "limit": 1,
            },
        )
        if page.issues:
            sample_named = [NamedRef(id=v.id, name=v.name) for v in page.issues[0].custom_fields]
            sample = {v.id for v in page.issues[0].custom_fields}

    try:
        defs = client.get("/custom_fields.json", CustomFieldDefs).custom_fields
        definitions = {d.id: d for d in defs if d.customized_type == "issue"}
        known: list[NamedRef] = list(definitions.values())
        found.fields_source = "Administration › Custom fields (admin key)"
    except RedmineUnavailable as exc:
        if exc.status != 403:
            raise
        definitions = {}
        known = list(
            {ref.id: ref for ref in [*(project.issue_custom_fields if project else []), *sample_named]}.values()
        )
        found.fields_source = (
            "the project's fields and the newest issue (not an admin key: fields 'For all projects' "
            "show only once an issue of this tracker exists)"
        )

    project_own = {ref.id for ref in project.issue_custom_fields} if project is not None else set()
    tracker = found.tracker_name or settings.tracker
    names = settings.field_names()
    for spec in CATALOGUE:
        name = names[spec.key]
        if name is None:
            continue
        ref = match_name(known, name)
        if ref is None:
            role = ", the idempotency key" if spec.required else ""
            found.problems.append(
                Problem(
                    what=f"custom field {name!r} ({spec.key}{role})",
                    how=_field_how(spec, name, tracker),
                    required=spec.required,
                )
            )
            continue
        definition = definitions.get(ref.id)
        applies: bool | None = None
        if sample is not None:
            applies = ref.id in sample
        elif ref.id in project_own and definition is not None and found.tracker_id is not None:
            applies = any(t.id == found.tracker_id for t in definition.trackers)
        info = FoundField(
            key=spec.key,
            name=ref.name,
            id=ref.id,
            field_format=definition.field_format if definition else None,
            is_filter=definition.is_filter if definition else None,
            trackers=tuple(t.name for t in definition.trackers) if definition else None,
            applies=applies,
        )
        found.fields[spec.key] = info
        _check_field(spec, info, tracker, found)


def _check_field(spec: FieldSpec, info: FoundField, tracker: str, found: Discovery) -> None:
    where = f"custom field {info.name!r} (id {info.id})"
    if info.field_format is not None and info.field_format != spec.field_format:
        found.problems.append(
            Problem(
                what=f"{where} has format {info.field_format!r}, the connector writes {spec.field_format!r}",
                how=f"values may be refused (422); recreate it with Format "
                f"{FORMAT_LABELS.get(spec.field_format, spec.field_format)!r}",
                required=spec.key == KEY_FIELD,
            )
        )
    if spec.is_filter and info.is_filter is False:
        found.problems.append(
            Problem(
                what=f"{where} is not 'Used as a filter' (Redmine then ignores the cf_{info.id} filter)",
                how=f"Administration › Custom fields › {info.name} › tick 'Used as a filter'",
                required=spec.required,
            )
        )
    if info.trackers is not None and tracker not in info.trackers:
        found.problems.append(
            Problem(
                what=f"{where} is not enabled for tracker {tracker!r} (Redmine drops its values silently)",
                how=f"Administration › Custom fields › {info.name} › Trackers: tick {tracker!r}",
                required=spec.required,
            )
        )
    elif info.applies is False:
        found.problems.append(
            Problem(
                what=f"{where} does not apply to this project and tracker (Redmine drops its values silently)",
                how=f"Administration › Custom fields › {info.name}: tick 'For all projects' (or the "
                f"project) and tracker {tracker!r}",
                required=spec.required,
            )
        )
