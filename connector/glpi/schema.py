"""The shapes of the GLPI answers the backend reads, validated where they enter.

Only the keys the connector uses are declared; everything else is ignored, so a GLPI that adds
keys (or a plugin that does) keeps working. A missing required key is a malformed answer, which
the client reports as ``BackendUnavailable`` (a proxy or a broken upgrade, not a reason to drop
work). GLPI returns ids as numbers, but some plugins and older versions send numeric strings:
both are accepted.
"""

from __future__ import annotations

__all__ = [
    "Created",
    "Dropdown",
    "LinkRow",
    "SearchAnswer",
    "TicketItem",
]

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Created(_Answer):
    """``201 {"id": 15, "message": ""}`` of a create (``message`` is GLPI's after-redirect text:
    never parsed)."""

    id: int = Field(ge=1)
    message: Any = ""


class TicketItem(_Answer):
    """``GET Ticket/<id>``: the flat field object (only what is read)."""

    id: int
    name: str | None = None
    status: int
    is_deleted: int = 0


class LinkRow(_Answer):
    """A ``Ticket_Ticket`` row: ``tickets_id_1`` relates to ``tickets_id_2`` by ``link``
    (1 linked to, 2 duplicates, 3 son of; 4 parent of is stored as 3 with the ids swapped)."""

    id: int
    tickets_id_1: int
    tickets_id_2: int
    link: int


class Dropdown(_Answer):
    """An item of a dropdown-like itemtype: ITILCategory, Group, RequestType, Location, User,
    Entity. Tree dropdowns carry ``completename`` ("A > B > C")."""

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


class SearchAnswer(_Answer):
    """``GET search/Ticket``: one page; ``data`` rows are keyed by search-option id as text.

    GLPI sends no ``data`` key at all when nothing matched.
    """

    totalcount: int = 0
    count: int = 0
    data: list[dict[str, Any]] = Field(default_factory=list)
