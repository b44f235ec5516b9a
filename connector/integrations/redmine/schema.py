"""The shapes of the Redmine answers the backend reads, validated where they enter.

Only the keys the connector uses are declared; everything else is ignored, so a newer Redmine
that adds keys keeps working. A missing required key is a malformed answer, which the client
reports as ``BackendUnavailable`` (a proxy or a broken upgrade, not a reason to drop work).
"""

from __future__ import annotations

__all__ = [
    "CustomFieldDef",
    "CustomFieldDefs",
    "CustomValue",
    "DirectoryUser",
    "DirectoryUserEnvelope",
    "GroupEnvelope",
    "Issue",
    "IssueEnvelope",
    "IssueList",
    "IssueRelation",
    "IssueRelations",
    "IssueStatus",
    "IssueStatuses",
    "Journal",
    "JournalDetail",
    "Membership",
    "Memberships",
    "NamedRef",
    "PriorityDef",
    "PriorityDefs",
    "Project",
    "ProjectEnvelope",
    "RelationEnvelope",
    "TrackerDef",
    "Trackers",
    "Upload",
    "UploadEnvelope",
    "User",
    "UserEnvelope",
    "UserList",
]

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class NamedRef(_Answer):
    """``{"id": 3, "name": "Support"}`` as Redmine nests it."""

    id: int
    name: str = ""


class IssueStatus(NamedRef):
    """A status, with whether it closes the issue."""

    is_closed: bool = False


class CustomValue(_Answer):
    """One custom field value on an issue; ``value`` is a list for multi-valued fields."""

    id: int
    name: str = ""
    value: str | list[str] | None = None


class IssueRelation(_Answer):
    """A relation as stored (normalised: reverse types flipped, ``relates`` ordered by id)."""

    id: int
    issue_id: int
    issue_to_id: int
    relation_type: str
    delay: int | None = None


class JournalDetail(_Answer):
    """One change of a journal: ``property`` is ``attr`` (an issue attribute such as
    ``status_id``), ``cf`` (``name`` is the custom field's id), ``attachment`` or ``relation``;
    the values are text (ids as digits), ``None`` when there was none."""

    property: str
    name: str
    old_value: str | None = None
    new_value: str | None = None


class Journal(_Answer):
    """One journal entry of ``include=journals``: who, when, the note, the changes."""

    id: int
    user: NamedRef | None = None
    notes: str | None = None
    created_on: datetime
    private_notes: bool = False
    details: list[JournalDetail] = Field(default_factory=list)


class Issue(_Answer):
    """An issue as Show and List return it (``journals`` only with ``include=journals``)."""

    id: int
    project: NamedRef | None = None
    tracker: NamedRef | None = None
    status: IssueStatus | None = None
    priority: NamedRef | None = None
    assigned_to: NamedRef | None = None
    subject: str = ""
    description: str | None = None
    custom_fields: list[CustomValue] = Field(default_factory=list)
    created_on: datetime | None = None
    updated_on: datetime
    closed_on: datetime | None = None
    allowed_statuses: list[IssueStatus] | None = None
    relations: list[IssueRelation] = Field(default_factory=list)
    author: NamedRef | None = None
    journals: list[Journal] | None = None

    def custom_value(self, field_id: int) -> str | list[str] | None:
        """The value of custom field ``field_id``; ``None`` when the issue does not carry it."""
        for value in self.custom_fields:
            if value.id == field_id:
                return value.value
        return None

    def has_custom_field(self, field_id: int) -> bool:
        """Whether the field applies to this issue at all (Redmine lists every applicable one)."""
        return any(value.id == field_id for value in self.custom_fields)


class IssueEnvelope(_Answer):
    """``{"issue": {...}}``."""

    issue: Issue


class IssueList(_Answer):
    """``GET /issues.json``: one page and the paging meta."""

    issues: list[Issue]
    total_count: int = 0
    offset: int = 0
    limit: int = 25


class IssueRelations(_Answer):
    """``GET /issues/<id>/relations.json``."""

    relations: list[IssueRelation] = Field(default_factory=list)


class RelationEnvelope(_Answer):
    """``{"relation": {...}}`` answered by a relation create."""

    relation: IssueRelation


class Upload(_Answer):
    """A file uploaded to Redmine but not attached yet; the token attaches it once."""

    token: str = Field(min_length=1)


class UploadEnvelope(_Answer):
    """``{"upload": {"id": 42, "token": "42.ab…"}}`` answered by ``POST /uploads.json``."""

    upload: Upload


class TrackerDef(NamedRef):
    """A tracker and its default status."""

    default_status: NamedRef | None = None


class Trackers(_Answer):
    """``GET /trackers.json``."""

    trackers: list[TrackerDef]


class IssueStatuses(_Answer):
    """``GET /issue_statuses.json``."""

    issue_statuses: list[IssueStatus]


class PriorityDef(NamedRef):
    """An issue priority; inactive ones cannot be set."""

    is_default: bool = False
    active: bool = True


class PriorityDefs(_Answer):
    """``GET /enumerations/issue_priorities.json``."""

    issue_priorities: list[PriorityDef]


class CustomFieldDef(NamedRef):
    """A custom field definition (``GET /custom_fields.json``, admin only)."""

    customized_type: str = "issue"
    field_format: str = "string"
    is_filter: bool = False
    multiple: bool = False
    visible: bool = True
    trackers: list[NamedRef] = Field(default_factory=list)


class CustomFieldDefs(_Answer):
    """``GET /custom_fields.json``."""

    custom_fields: list[CustomFieldDef]


class Project(NamedRef):
    """A project with ``include=trackers,issue_custom_fields``.

    ``issue_custom_fields`` lists only fields enabled for this project one by one; fields
    "For all projects" are not in it (Redmine 5.0).
    """

    identifier: str = ""
    trackers: list[NamedRef] = Field(default_factory=list)
    issue_custom_fields: list[NamedRef] = Field(default_factory=list)


class ProjectEnvelope(_Answer):
    """``{"project": {...}}``."""

    project: Project


class User(_Answer):
    """The API key's user (``GET /users/current.json``)."""

    id: int
    login: str = ""
    admin: bool = False


class UserEnvelope(_Answer):
    """``{"user": {...}}``."""

    user: User


class DirectoryUser(_Answer):
    """A user as ``GET /users.json`` lists them (admin keys only; ``mail`` may be absent)."""

    id: int
    login: str = ""
    firstname: str = ""
    lastname: str = ""
    mail: str | None = None


class DirectoryUserEnvelope(_Answer):
    """``GET /users/<id>.json``: ``login`` is sent to administrators (and the user) only."""

    user: DirectoryUser


class GroupEnvelope(_Answer):
    """``GET /groups/<id>.json`` (administrators only)."""

    group: NamedRef


class Membership(_Answer):
    """A project member: a user or a group (exactly one of them is set), with its roles."""

    id: int
    user: NamedRef | None = None
    group: NamedRef | None = None


class Memberships(_Answer):
    """``GET /projects/<id>/memberships.json``: one page."""

    memberships: list[Membership] = Field(default_factory=list)
    total_count: int = 0


class UserList(_Answer):
    """``GET /users.json``: one page of users."""

    users: list[DirectoryUser] = Field(default_factory=list)
    total_count: int = 0
