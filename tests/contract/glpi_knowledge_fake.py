"""``GlpiFake`` with the GLPI 10 items issue 13 uses: assets (``Computer``, ``NetworkEquipment``)
linked to tickets with ``Item_Ticket``, and the knowledge base (``KnowbaseItem``,
``KnowbaseItem_Item``). Shapes from GLPI's apirest.md and the 10.0 source:

* ``POST Item_Ticket/`` ``{input: {tickets_id, itemtype, items_id}}`` → ``201 {id, message}``;
  a second link of the same asset to the same ticket is refused as GLPI's
  ``CommonItilObject_Item::prepareInputForAdd`` refuses it ("avoid duplicate entry":
  ``400 ["ERROR_GLPI_ADD", …]``); a ticket or asset that does not exist likewise;
* ``GET Ticket/<id>/Item_Ticket``: the ticket's links, paged like every sub-item list;
* ``POST KnowbaseItem/`` ``{input: {name, answer, is_faq, _categories}}``: the answer stored
  sanitised like every rich text, an empty name becoming "New item"; no target is added, so
  the article is unpublished; ``GET KnowbaseItem/`` with ``searchText``;
* ``POST KnowbaseItem_Item/`` ``{input: {knowbaseitems_id, itemtype, items_id}}`` and its
  List; GLPI does not refuse a second identical link, so neither does the fake (the connector
  must look before it adds).

Assets are kept as the base fake's dropdown-like items (``add("Computer", name=…, serial=…)``),
listed and filtered by ``searchText`` the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import responses

from connector.domain.clock import Clock
from tests.contract.glpi_fake import GlpiFake, Reply, _like, sanitize

ASSET_TYPES = ("Computer", "NetworkEquipment")


class KnowledgeGlpiFake(GlpiFake):
    """The base fake plus assets, ``Item_Ticket`` and the knowledge base."""

    def __init__(self, rsps: responses.RequestsMock, clock: Clock, **kwargs: Any) -> None:
        super().__init__(rsps, clock, **kwargs)
        for itemtype in ASSET_TYPES:
            self.dropdowns[itemtype] = {}
        self.item_tickets: list[dict[str, Any]] = []
        self.articles: dict[int, dict[str, Any]] = {}
        self.article_items: list[dict[str, Any]] = []

    def _routes(self) -> dict[tuple[str, str], Callable[..., Reply]]:
        routes = super()._routes()
        routes[("POST", "Item_Ticket")] = self._add_item_ticket
        routes[("GET", "KnowbaseItem")] = self._list(lambda: list(self.articles.values()), "KnowbaseItem")
        routes[("POST", "KnowbaseItem")] = self._add_article
        routes[("GET", "KnowbaseItem_Item")] = self._list(lambda: self.article_items, "KnowbaseItem_Item")
        routes[("POST", "KnowbaseItem_Item")] = self._add_article_item
        return routes

    def _sub_items(self, ticket_id: int, child: str, query: dict[str, str]) -> Reply:
        if child != "Item_Ticket":
            return super()._sub_items(ticket_id, child, query)
        rows = [dict(r) for r in self.item_tickets if r["tickets_id"] == ticket_id]
        return self._paged(rows, query, child, lambda page, total, span: page)

    def _list(self, rows_of: Callable[[], list[dict[str, Any]]], itemtype: str) -> Callable[..., Reply]:
        def handler(rest: str, query: dict[str, str], *_: Any) -> Reply:
            rows = sorted(rows_of(), key=lambda r: r["id"])
            for key, value in query.items():
                hit = re.fullmatch(r"searchText\[(\w+)\]", key)
                if hit:
                    rows = [r for r in rows if _like(sanitize(value), str(r.get(hit.group(1), "")))]
            return self._paged(rows, query, itemtype, lambda page, total, span: page)

        return handler

    def _created(self, itemtype: str, ident: int) -> Reply:
        return self._json(201, {"id": ident, "message": ""}, {"Location": f"{self.url}/{itemtype}/{ident}"})

    def _add_item_ticket(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        tid, itemtype, items_id = (
            int(item.get("tickets_id", 0)),
            str(item.get("itemtype", "")),
            int(item.get("items_id", 0)),
        )
        if tid not in self.tickets or itemtype not in ASSET_TYPES or items_id not in self.dropdowns[itemtype]:
            return self._error(400, "ERROR_GLPI_ADD", "Failed to add the item")
        if any((r["tickets_id"], r["itemtype"], r["items_id"]) == (tid, itemtype, items_id) for r in self.item_tickets):
            return self._error(400, "ERROR_GLPI_ADD", "Failed to add the item")  # avoid duplicate entry
        ident = next(self._ids)
        self.item_tickets.append({"id": ident, "tickets_id": tid, "itemtype": itemtype, "items_id": items_id})
        self._touch(tid)
        return self._created("Item_Ticket", ident)

    def _add_article(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        ident = next(self._ids)
        self.articles[ident] = {
            "id": ident,
            "name": sanitize(str(item.get("name") or "New item")),
            "answer": sanitize(str(item.get("answer") or "")),
            "is_faq": int(item.get("is_faq", 0)),
            "users_id": self.acting,
            "categories": list(item.get("_categories") or []),
        }
        return self._created("KnowbaseItem", ident)

    def _add_article_item(self, rest: str, query: Any, pairs: Any, headers: Any, body: bytes) -> Reply:
        item = self._input(body)
        if not isinstance(item, dict):
            return item
        kb, itemtype, items_id = (
            int(item.get("knowbaseitems_id", 0)),
            str(item.get("itemtype", "")),
            int(item.get("items_id", 0)),
        )
        if kb not in self.articles or not itemtype or (itemtype == "Ticket" and items_id not in self.tickets):
            return self._error(400, "ERROR_GLPI_ADD", "Failed to add the item")
        ident = next(self._ids)
        self.article_items.append({"id": ident, "knowbaseitems_id": kb, "itemtype": itemtype, "items_id": items_id})
        return self._created("KnowbaseItem_Item", ident)
