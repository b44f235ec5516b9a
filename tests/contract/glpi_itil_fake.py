"""The GLPI double (``glpi_fake.GlpiFake``) with GLPI 10's problem and change objects
(issue 13), kept in a module of its own so the base double stays as it is:

* ``Problem``: ``POST Problem/`` (``name``/``content`` required, content stored HTML-encoded as
  every ITIL object's), ``GET Problem/`` (a List with ``searchText[field]`` as a LIKE, paged),
  ``GET Problem/<id>`` and ``GET Problem/<id>/ITILFollowup``;
* ``Problem_Ticket``: ``POST Problem_Ticket/`` with ``problems_id``/``tickets_id``; a second row
  of a pair is refused ``400 ["ERROR_GLPI_ADD", …]`` (GLPI 10.0's
  ``Problem_Ticket::prepareInputForAdd`` "Avoid duplicate entry" returns false, and the API
  answers the failed add); ``GET Problem_Ticket/`` as a List;
* ``ITILFollowup`` of itemtype ``Problem``;
* ``Change`` (``GET Change/<id>``: ``name``, ``status``) and ``Change_Ticket``
  (``GET Change_Ticket/``), seeded by the test as a person would link them in GLPI's UI
  (``add_change``, ``link_change``, ``set_change_status``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.contract.glpi_fake import GlpiFake, Reply, _like, sanitize

#: GLPI 10 ITIL statuses a change takes in these tests
CHANGE_EVALUATION, CHANGE_CLOSED = 9, 6


class ItilGlpiFake(GlpiFake):
    """``GlpiFake`` with problems, changes and their links to tickets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.problems: dict[int, dict[str, Any]] = {}
        self.problem_tickets: dict[int, dict[str, Any]] = {}
        self.problem_followups: list[dict[str, Any]] = []
        self.changes: dict[int, dict[str, Any]] = {}
        self.change_tickets: dict[int, dict[str, Any]] = {}

    # --- seeding, as people do it in GLPI ------------------------------------------------------

    def add_change(self, name: str, status: int = CHANGE_EVALUATION) -> int:
        ident = next(self._ids)
        self.changes[ident] = {"id": ident, "name": sanitize(name), "status": status}
        return ident

    def link_change(self, change_id: int, ticket_id: int | str) -> int:
        ident = next(self._ids)
        self.change_tickets[ident] = {"id": ident, "changes_id": change_id, "tickets_id": int(ticket_id)}
        return ident

    def set_change_status(self, change_id: int, status: int) -> None:
        self.changes[change_id]["status"] = status

    def problem_links(self) -> set[tuple[int, int]]:
        return {(row["problems_id"], row["tickets_id"]) for row in self.problem_tickets.values()}

    def problem_notes(self, problem_id: int) -> list[dict[str, Any]]:
        return [f for f in self.problem_followups if f["items_id"] == problem_id]

    # --- the API -------------------------------------------------------------------------------

    def _routes(self) -> dict[tuple[str, str], Callable[..., Reply]]:
        routes = super()._routes()
        routes.update(
            {
                ("GET", "Problem"): self._get_problem,
                ("POST", "Problem"): self._add_problem,
                ("GET", "Problem_Ticket"): self._list_of(lambda: self.problem_tickets, "Problem_Ticket"),
                ("POST", "Problem_Ticket"): self._add_problem_ticket,
                ("GET", "Change"): self._get_change,
                ("GET", "Change_Ticket"): self._list_of(lambda: self.change_tickets, "Change_Ticket"),
                ("POST", "ITILFollowup"): self._add_any_followup,
            }
        )
        return routes

    def _filtered(self, rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        for key, value in query.items():
            hit = re.fullmatch(r"searchText\[(\w+)\]", key)
            if hit:
                rows = [r for r in rows if _like(sanitize(value), str(r.get(hit.group(1), "")))]
        return rows

    def _list_of(self, table: Callable[[], dict[int, dict[str, Any]]], itemtype: str) -> Callable[..., Reply]:
        def handler(rest: str, query: dict[str, str], *_: Any) -> Reply:
            rows = self._filtered(sorted(table().values(), key=lambda r: r["id"]), query)
            return self._paged(rows, query, itemtype, lambda page, total, span: page)

        return handler

    def _get_problem(self, rest: str, query: dict[str, str], *_: Any) -> Reply:
        ident, _, child = rest.partition("/")
        if not ident:
            rows = self._filtered(sorted(self.problems.values(), key=lambda r: r["id"]), query)
            return self._paged(rows, query, "Problem", lambda page, total, span: page)
        row = self.problems.get(int(ident)) if ident.isdigit() else None
        if row is None:
            return self._error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")
        if child == "ITILFollowup":
            rows = [{"itemtype": "Problem", **f} for f in self.problem_notes(int(ident))]
            rows.sort(key=lambda r: r["id"], reverse=query.get("order", "ASC").upper() == "DESC")
            return self._paged(rows, query, child, lambda page, total, span: page)
        if child:
            return self._error(400, "ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM", f"resource {child} not found")
        return self._json(200, row)

    def _add_problem(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        if not item.get("name") and not item.get("content"):
            return self._error(400, "ERROR_GLPI_ADD", "Title and description are empty")
        ident = next(self._ids)
        self.problems[ident] = {
            "id": ident,
            "name": str(item.get("name", "")),
            "content": sanitize(str(item.get("content", ""))),
            "status": 1,
            "entities_id": int(item.get("entities_id", self.active_entity)),
            "is_deleted": 0,
            "date": self.now_text(),
        }
        return self._json(201, {"id": ident, "message": ""}, {"Location": f"{self.url}/Problem/{ident}"})

    def _add_problem_ticket(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        problem, ticket = int(item.get("problems_id", 0)), int(item.get("tickets_id", 0))
        if problem not in self.problems or ticket not in self.tickets:
            return self._error(400, "ERROR_GLPI_ADD", "Failed to add the link")
        if (problem, ticket) in self.problem_links():  # "Avoid duplicate entry"
            return self._error(400, "ERROR_GLPI_ADD", "Failed to add the link")
        ident = next(self._ids)
        self.problem_tickets[ident] = {"id": ident, "problems_id": problem, "tickets_id": ticket, "link": 1}
        return self._json(201, {"id": ident, "message": ""}, {"Location": f"{self.url}/Problem_Ticket/{ident}"})

    def _get_change(self, rest: str, *_: Any) -> Reply:
        row = self.changes.get(int(rest)) if rest.isdigit() else None
        return self._json(200, row) if row else self._error(404, "ERROR_ITEM_NOT_FOUND", "Item not found")

    def _add_any_followup(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict) or item.get("itemtype") != "Problem":
            return self._add_followup(rest, query, pairs, headers, body)
        if int(item.get("items_id", 0)) not in self.problems:
            return self._error(400, "ERROR_GLPI_ADD", "itemtype and items_id are required")
        if not str(item.get("content", "")).strip():
            return self._error(400, "ERROR_GLPI_ADD", "Content is mandatory")
        ident = next(self._ids)
        self.problem_followups.append(
            {
                "id": ident,
                "items_id": int(item["items_id"]),
                "content": sanitize(str(item["content"])),
                "users_id": self.acting,
                "date": self.now_text(),
            }
        )
        return self._json(201, {"id": ident, "message": ""}, {"Location": f"{self.url}/ITILFollowup/{ident}"})
