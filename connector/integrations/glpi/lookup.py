"""GLPI ids by name: ITIL categories, groups, users, request sources, locations — looked up on
first use and cached for the backend's life.

Ids are instance-specific, so they are never hard-coded; the config may pin one
(``categories``, ``groups``, ``request_sources``) and everything else is found by name with
``GET <Itemtype>/?searchText[<column>]=^<name>$`` (an anchored ``LIKE``, so the answer is
compared again here: exactly first, then case-insensitively, after decoding GLPI's HTML
entities). Names are not unique across entities; tree dropdowns are matched on their complete
name ("A > B > C").

A name GLPI does not have is not a reason to hold an incident back: the ticket is created
without that id, the value stays in the ticket's content block, and a warning says what to
add (``itsm-connector setup glpi``). Misses are remembered for ``MISS_TTL`` only, so a
category an admin adds is picked up without a restart. A lookup the API user may not make
(403) is logged as an error once and treated the same way. Any other refusal (a 4xx) or an
unreadable answer is raised, and ``inputs`` writes the ticket without that id, saying which
lookup failed; only an unreachable GLPI (timeout, 5xx) fails the operation, which the outbox
then retries.
"""

from __future__ import annotations

__all__ = ["MISS_TTL", "Lookups", "iterate"]

import html
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TypeVar

from connector.domain.clock import Clock
from connector.domain.models import TicketSource
from connector.integrations.glpi.client import GlpiClient, GlpiConfigError, GlpiRejected
from connector.integrations.glpi.schema import Dropdown
from connector.integrations.glpi.settings import GlpiSettings, split_path

log = logging.getLogger(__name__)

MISS_TTL = timedelta(minutes=10)
_T = TypeVar("_T")


def iterate(client: GlpiClient, path: str, shape: type[list[_T]], params: dict[str, str | int]) -> Iterator[_T]:
    """Every row of a List call (``GET <Itemtype>/``), all pages."""
    for page in client.pages(path, shape, list(params.items())):
        yield from page.items


def _decoded(text: str | None) -> str:
    return html.unescape(text or "").strip()


def _pick(items: list[Dropdown], column: str, wanted: str) -> Dropdown | None:
    """The item whose ``column`` is ``wanted``: exact first, then case-insensitive."""
    values = [(item, _decoded(getattr(item, column))) for item in items]
    for item, value in values:
        if value == wanted:
            return item
    folded = wanted.casefold()
    return next((item for item, value in values if value.casefold() == folded), None)


class Lookups:
    """Cached ``name -> id`` for the dropdowns a ticket refers to."""

    def __init__(self, client: GlpiClient, settings: GlpiSettings, clock: Clock, backend: str) -> None:
        self._client = client
        self._settings = settings
        self._clock = clock
        self._backend = backend
        self._found: dict[tuple[str, str, str], int] = {}
        self._missed: dict[tuple[str, str, str], datetime] = {}
        self._warned: set[tuple[str, str, str]] = set()
        self._items: dict[tuple[str, int], Dropdown | None] = {}
        self._lock = threading.Lock()

    # --- what a ticket needs -------------------------------------------------------------------

    def category(self, parts: tuple[str, ...]) -> int | None:
        """The ITILCategory of a taxonomy path (``categories`` pins, else the complete name)."""
        if not parts:
            return None
        path = " > ".join(parts)
        if path in self._settings.categories:
            return self._settings.categories[path]
        return self._find("ITILCategory", "completename", self._settings.category_name(parts), f"category {path!r}")

    def group(self, name: str) -> int | None:
        """The Group a process assignment group maps to (id, or complete name, or its own name)."""
        ref = self._settings.groups.get(name, name)
        if isinstance(ref, int):
            return ref
        return self._find("Group", "completename", ref, f"assignment group {name!r}")

    def user(self, login: str, role: str) -> int | None:
        """The User with this login (``name`` in GLPI)."""
        return self._find("User", "name", login, f"{role} {login!r}")

    def request_type(self, source: TicketSource) -> int | None:
        """The RequestType (request source) of a ticket source."""
        ref = self._settings.request_sources.get(source)
        if ref is None or isinstance(ref, int):
            return ref
        return self._find("RequestType", "name", ref, f"request source for {source.value}")

    def location(self, name: str) -> int | None:
        """The Location with this complete name."""
        return self._find("Location", "completename", name, f"location {name!r}")

    # --- reading back --------------------------------------------------------------------------

    def category_parts(self, completename: str) -> tuple[str, ...] | None:
        """The taxonomy path of a category's complete name (``category_root`` removed);
        ``None`` for a category outside the root."""
        parts = split_path(_decoded(completename))
        root = self._settings.category_root
        if root is None:
            return parts or None
        if len(parts) > 1 and parts[0] == root:
            return parts[1:]
        return None

    def group_name(self, completename: str) -> str:
        """The process assignment group of a GLPI group name (reverse of ``groups``)."""
        shown = _decoded(completename)
        for name, ref in self._settings.groups.items():
            if isinstance(ref, str) and ref == shown:
                return name
        return shown

    # --- by id (the history names users, groups and categories by id) ----------------------------

    def item(self, itemtype: str, ident: int) -> Dropdown | None:
        """``GET <Itemtype>/<id>``, once per id; ``None`` for one GLPI does not have (404) or the
        API user may not read (403, logged once)."""
        cache_key = (itemtype, ident)
        with self._lock:
            if cache_key in self._items:
                return self._items[cache_key]
        found: Dropdown | None
        try:
            found = self._client.get(f"{itemtype}/{ident}", Dropdown)
        except GlpiRejected as exc:
            if exc.status != 404:
                raise
            found = None
        except GlpiConfigError as exc:
            self._warn((itemtype, "id", "*"), logging.ERROR, f"cannot read {itemtype} items by id ({exc})")
            found = None
        with self._lock:
            self._items[cache_key] = found
        return found

    def login(self, user_id: int) -> str | None:
        """The login (GLPI's user ``name``) of a user id."""
        user = self.item("User", user_id) if user_id else None
        if user is None:
            return None
        return _decoded(user.name) or None

    def group_name_of(self, group_id: int) -> str | None:
        """The process assignment group of a GLPI group id."""
        group = self.item("Group", group_id) if group_id else None
        if group is None:
            return None
        return self.group_name(group.completename or group.name or "") or None

    def category_parts_of(self, category_id: int) -> tuple[str, ...] | None:
        """The taxonomy path of an ITILCategory id."""
        category = self.item("ITILCategory", category_id) if category_id else None
        if category is None:
            return None
        return self.category_parts(category.completename or category.name or "")

    # --- the cache -----------------------------------------------------------------------------

    def _find(self, itemtype: str, column: str, value: str, what: str) -> int | None:
        wanted = value.strip()
        if not wanted:
            return None
        cache_key = (itemtype, column, wanted)
        now = self._clock.now()
        with self._lock:
            if cache_key in self._found:
                return self._found[cache_key]
            missed = self._missed.get(cache_key)
            if missed is not None and now - missed < MISS_TTL:
                return None
        try:
            items = list(
                iterate(self._client, f"{itemtype}/", list[Dropdown], {f"searchText[{column}]": f"^{wanted}$"})
            )
        except GlpiConfigError as exc:
            self._miss(cache_key, now)
            self._warn(
                cache_key,
                logging.ERROR,
                f"cannot look up the {what} ({exc}); tickets are created without it until the right is given",
            )
            return None
        item = _pick(items, column, wanted)
        if item is None:
            self._miss(cache_key, now)
            self._warn(
                cache_key,
                logging.WARNING,
                f"GLPI has no {itemtype} {wanted!r} (for the {what}); tickets are created without it and "
                "the value is kept in their content. Add it, or run `itsm-connector setup glpi`",
            )
            return None
        with self._lock:
            self._found[cache_key] = item.id
            self._missed.pop(cache_key, None)
        return item.id

    def _miss(self, cache_key: tuple[str, str, str], now: datetime) -> None:
        with self._lock:
            self._missed[cache_key] = now

    def _warn(self, cache_key: tuple[str, str, str], level: int, message: str) -> None:
        with self._lock:
            if cache_key in self._warned:
                return
            self._warned.add(cache_key)
        log.log(level, "%s: %s", self._backend, message)
