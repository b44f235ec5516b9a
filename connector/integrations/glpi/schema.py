"""The shapes of the GLPI answers the backend reads, validated where they enter.

Only the keys the connector uses are declared; everything else is ignored, so a GLPI that adds
keys (or a plugin that does) keeps working. A missing required key is a malformed answer, which
the client reports as ``BackendUnavailable`` (a proxy or a broken upgrade, not a reason to drop
work). GLPI returns ids as numbers, but some plugins and older versions send numeric strings:
both are accepted.
"""

from __future__ import annotations

__all__ = [
    "ActorRow",
    "Created",
    "Dropdown",
    "FullSession",
    "LinkRow",
    "LogRow",
    "NoteRow",
    "SearchAnswer",
    "TicketItem",
]

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Created(_Answer):
    """``201 {"id": 15, "message": ""}`` of a create (``message`` is GLPI's after-redirect text:
    never parsed)."""

    id: int = Field(ge=1)
    message: Any = ""


class TicketItem(_Answer):
    """``GET Ticket/<id>``: the flat field object (only what is read). Dates are GLPI's
    ``YYYY-MM-DD HH:MM:SS`` in its time zone; ``users_id_recipient`` is who wrote the ticket."""

    id: int
    name: str | None = None
    status: int
    is_deleted: int = 0
    content: str | None = None
    date: str | None = None
    date_creation: str | None = None
    date_mod: str | None = None
    users_id_recipient: int = 0
    urgency: int | None = None
    impact: int | None = None
    priority: int | None = None
    itilcategories_id: int = 0
    time_to_resolve: str | None = None


class LogRow(_Answer):
    """A ``glpi_logs`` row (``GET Ticket/<id>/Log``): a field change (``linked_action`` 0, the
    field's search option in ``id_search_option``, raw values) or a linked action — 15/16 an
    actor added/removed (``itemtype_link`` User/Group, the value ``name (id)``, the option saying
    which actor list: 5/8 assigned, 4/71 requester, 66/65 observer; 0 in older rows), 17 a
    follow-up or solution added, 20 the ticket created. ``user_name`` is ``name (id)`` of whoever
    did it."""

    id: int
    itemtype_link: str | None = ""
    linked_action: int = 0
    user_name: str | None = ""
    date_mod: str
    id_search_option: int = 0
    old_value: str | None = ""
    new_value: str | None = ""


class ActorRow(_Answer):
    """A ``Ticket_User`` / ``Group_Ticket`` row: ``type`` 1 requester, 2 assigned, 3 observer."""

    id: int
    users_id: int = 0
    groups_id: int = 0
    type: int


class NoteRow(_Answer):
    """An ``ITILFollowup`` or ``ITILSolution`` of the ticket: who wrote it, when, the HTML."""

    id: int
    users_id: int = 0
    date: str | None = None
    date_creation: str | None = None
    content: str | None = None


class FullSession(_Answer):
    """``GET getFullSession``: only the logged-in user is read."""

    session: dict[str, Any] = Field(default_factory=dict)


class DocumentLinkRow(_Answer):
    """A ``Document_Item`` row of a ticket (``GET Ticket/<id>/Document_Item``): which Document."""

    id: int
    documents_id: int


class DocumentRow(_Answer):
    """A ``Document`` (``GET Document/<id>``): its file name and the SHA-1 GLPI computed of it."""

    id: int
    filename: str | None = None
    sha1sum: str | None = None


class LinkRow(_Answer):
    """A ``Ticket_Ticket`` row: ``tickets_id_1`` relates to ``tickets_id_2`` by ``link``
    (1 linked to, 2 duplicates, 3 son of; 4 parent of is stored as 3 with the ids swapped)."""

    id: int
    tickets_id_1: int
    tickets_id_2: int
    link: int


class Dropdown(_Answer):
    """An item of a dropdown-like itemtype: ITILCategory, Group, RequestType, Location, User,
    Entity. Tree dropdowns carry ``completename`` ("A > B > C").

    GLPI sends ``null`` for a link that does not exist — the root entity (``Entity/0``, the
    most common ``entity`` setting) has ``entities_id: null``, having no parent — so a null
    integer column reads as its default (0, "none") instead of failing the whole answer.
    """

    id: int
    name: str | None = None
    completename: str | None = None
    entities_id: int = 0
    is_recursive: int = 0
    itilcategories_id: int = 0
    is_incident: int | None = None
    is_request: int | None = None
    is_assign: int | None = None
    is_active: int | None = None

    @field_validator("entities_id", "is_recursive", "itilcategories_id", mode="before")
    @classmethod
    def _null_is_none(cls, value: Any) -> Any:
        return 0 if value is None else value


class SearchAnswer(_Answer):
    """``GET search/Ticket``: one page; ``data`` rows are keyed by search-option id as text.

    GLPI sends no ``data`` key at all when nothing matched.
    """

    totalcount: int = 0
    count: int = 0
    data: list[dict[str, Any]] = Field(default_factory=list)
