"""Knowledge in GLPI (issue 13): configuration items linked with ``Item_Ticket``, and
knowledge-base candidates as unpublished ``KnowbaseItem``s linked with ``KnowbaseItem_Item``
(``backend.knowledge``; both off until configured).

**CIs.** The ticket's CI (for Zabbix, the host name) is looked up among ``ci_itemtypes``
(``Computer``, ``NetworkEquipment``, …), by each of ``ci_match_fields`` in turn (``name``, or an
inventory field such as ``serial``), an exact match (``searchText[field]=^CI$``, then compared
again here: GLPI's filter is a LIKE). Found assets are cached for the process's life, misses for
ten minutes (an asset may be added). Linking looks first (``GET Ticket/<id>/Item_Ticket``) and
adds only a missing link; GLPI refuses a second link of one asset (``400 ERROR_GLPI_ADD``), and
that refusal is checked against the ticket's links again, so a retry after a 500 that came
after the commit counts as done.

**KB candidates.** One ``KnowbaseItem`` per ticket: ``name`` ``KB candidate #<ticket>: <title>``,
``answer`` the symptom, root cause and solution as escaped HTML (``render.html_text``),
``is_faq`` 0 and no target (entity, group, profile or user), so only its writer and the
knowledge-base administrators see it — unpublished until people edit it and give it a target
or put it in the FAQ; filed under ``kb_category`` when set (``_categories``). The article is
found again by its name's prefix (the connector's own text, no untrusted character in it)
before one is added, and its ``KnowbaseItem_Item`` link to the ticket is added only when
missing: each of the two creates is safe to repeat after a 500-after-commit. ::

    GET  <Itemtype>/?searchText[<field>]=^CI$            the asset (per type and field)
    GET  Ticket/<id>/Item_Ticket                          the ticket's linked assets
    POST Item_Ticket/        {input: {tickets_id, itemtype, items_id}}
    GET  KnowbaseItem/?searchText[name]=^KB candidate #<id>:
    POST KnowbaseItem/       {input: {name, answer, is_faq: 0, _categories: [..]}}
    GET  KnowbaseItem_Item/?searchText[knowbaseitems_id]=^<kb id>$
    POST KnowbaseItem_Item/  {input: {knowbaseitems_id, itemtype: Ticket, items_id}}
"""

from __future__ import annotations

__all__ = ["GlpiKnowledge", "kb_answer", "kb_name_prefix"]

import html
import logging
import threading
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from connector.domain.clock import Clock
from connector.domain.knowledge import KbArticle
from connector.integrations.glpi.client import GlpiClient, GlpiRejected
from connector.integrations.glpi.lookup import MISS_TTL, iterate
from connector.integrations.glpi.render import defused, html_text, ticket_name
from connector.integrations.glpi.settings import GlpiSettings
from connector.integrations.glpi.writes import Writes

log = logging.getLogger(__name__)

#: how long a CI GLPI lacks is remembered before it is looked up again: the dropdown lookups'
#: cache time (a cache, not a process rule)
CI_MISS_TTL = MISS_TTL


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    name: str | None = None


class _ItemLink(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    itemtype: str
    items_id: int


class _KbLink(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int
    knowbaseitems_id: int
    itemtype: str
    items_id: int


def kb_name_prefix(ticket_id: int) -> str:
    """The start of a candidate's name: how it is found again (connector text only)."""
    return f"KB candidate #{ticket_id}: "


def kb_answer(article: KbArticle) -> str:
    """The article's HTML: the connector's headings, the ticket's texts escaped."""
    sections = [
        (
            "Draft 草稿",
            f"Written by itsm-connector when ticket #{article.ticket_id} was closed successfully. Unpublished: "
            "edit it, then give it a target or put it in the FAQ to publish it.",
        ),
        ("Configuration item 配置项", "\n".join(x for x in (article.ci, article.category) if x)),
        ("Symptom 症状", article.symptom),
        ("Root cause 根本原因", article.root_cause or "-"),
        ("Solution 解决方案", article.solution),
    ]
    return "".join(
        f"<h2>{html.escape(title)}</h2>" + html_text(defused(text)) for title, text in sections if text.strip()
    )


class GlpiKnowledge:
    """The knowledge part of one GLPI backend, over its client."""

    def __init__(self, client: GlpiClient, writes: Writes, settings: GlpiSettings, clock: Clock, backend: str) -> None:
        self._client = client
        self._writes = writes
        self._settings = settings.knowledge
        self._clock = clock
        self._backend = backend
        self._found: dict[str, tuple[str, int]] = {}
        self._missed: dict[str, datetime] = {}
        self._lock = threading.Lock()

    @property
    def kb_enabled(self) -> bool:
        """Whether KB candidates are switched on."""
        return self._settings.kb_candidates

    @property
    def ci_enabled(self) -> bool:
        """Whether CI item types are configured."""
        return bool(self._settings.ci_itemtypes)

    # --- CIs ---------------------------------------------------------------------------------------

    def link_ci(self, ticket_id: str, ci: str) -> str | None:
        """Link the ticket to the asset named ``ci`` (once); ``"Itemtype id"``, or ``None``."""
        found = self._asset(ci.strip())
        if found is None:
            return None
        itemtype, ident = found
        tid = int(ticket_id)
        if not self._linked(tid, itemtype, ident):
            try:
                self._writes.post(
                    "Item_Ticket", {"input": {"tickets_id": tid, "itemtype": itemtype, "items_id": ident}}, (tid,)
                )
            except GlpiRejected as exc:
                if exc.code != "ERROR_GLPI_ADD" or not self._linked(tid, itemtype, ident):
                    raise
                log.debug("%s: ticket #%d already linked to %s %d", self._backend, tid, itemtype, ident)
        return f"{itemtype} {ident}"

    def _linked(self, tid: int, itemtype: str, ident: int) -> bool:
        rows = iterate(self._client, f"Ticket/{tid}/Item_Ticket", list[_ItemLink], {})
        return any(row.itemtype == itemtype and row.items_id == ident for row in rows)

    def _asset(self, ci: str) -> tuple[str, int] | None:
        if not ci:
            return None
        now = self._clock.now()
        with self._lock:
            if ci in self._found:
                return self._found[ci]
            missed = self._missed.get(ci)
            if missed is not None and now - missed < CI_MISS_TTL:
                return None
        wanted = ci.casefold()
        for itemtype in self._settings.ci_itemtypes:
            for column in self._settings.ci_match_fields:
                rows = iterate(
                    self._client, f"{itemtype}/", list[dict[str, object]], {f"searchText[{column}]": f"^{ci}$"}
                )
                hits = sorted(
                    int(str(row["id"])) for row in rows if str(row.get(column) or "").strip().casefold() == wanted
                )
                if hits:
                    with self._lock:
                        self._found[ci] = (itemtype, hits[0])
                    return itemtype, hits[0]
        with self._lock:
            self._missed[ci] = now
        log.info(
            "%s: no %s with %s %r",
            self._backend,
            "/".join(self._settings.ci_itemtypes),
            "/".join(self._settings.ci_match_fields),
            ci,
        )
        return None

    # --- KB candidates -----------------------------------------------------------------------------

    def write_kb_candidate(self, article: KbArticle) -> str:
        """The candidate of ``article.ticket_id`` and its link to the ticket, each added only
        when missing (see the module docstring); ``"KnowbaseItem <id>"``."""
        tid = int(article.ticket_id)
        prefix = kb_name_prefix(tid)
        ident = self._article(prefix)
        if ident is None:
            item: dict[str, object] = {
                "name": ticket_name(prefix + article.title),
                "answer": kb_answer(article),
                "is_faq": 0,
            }
            if self._settings.kb_category is not None:
                item["_categories"] = [self._settings.kb_category]
            ident = self._writes.post("KnowbaseItem", {"input": item}).id
        if not self._kb_linked(ident, tid):
            self._writes.post(
                "KnowbaseItem_Item", {"input": {"knowbaseitems_id": ident, "itemtype": "Ticket", "items_id": tid}}
            )
        return f"KnowbaseItem {ident}"

    def _article(self, prefix: str) -> int | None:
        rows = iterate(self._client, "KnowbaseItem/", list[_Row], {"searchText[name]": f"^{prefix}"})
        found = sorted(row.id for row in rows if html.unescape(row.name or "").startswith(prefix))
        return found[0] if found else None

    def _kb_linked(self, ident: int, tid: int) -> bool:
        rows = iterate(
            self._client, "KnowbaseItem_Item/", list[_KbLink], {"searchText[knowbaseitems_id]": f"^{ident}$"}
        )
        return any(r.knowbaseitems_id == ident and r.itemtype == "Ticket" and r.items_id == tid for r in rows)
