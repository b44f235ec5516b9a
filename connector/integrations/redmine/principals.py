"""Who a Redmine user or group id is: the login of a user, the name of a group — looked up once
per backend and cached.

Journals name their author as ``{id, name}`` (the display name) and an ``assigned_to_id``
change only by id, but the process works with helpdesk **logins** (people.yaml lists them,
the closing policy and the KPI work log compare them). Redmine shows a user's login only to
administrators (``GET /users/<id>.json`` leaves it out, or answers 403, for other keys): then the
display name stands in for the login, and that is logged once. Whether an id is a *group* (an
issue assigned to a group, "Allow issue assignment to groups") is read from the project's
memberships, which members may list; ``GET /groups/<id>.json`` (admin only) covers a group
that is no longer a member.
"""

from __future__ import annotations

__all__ = ["Principal", "Principals"]

import logging
from dataclasses import dataclass

from connector.integrations.redmine.client import RedmineClient, RedmineRejected, RedmineUnavailable
from connector.integrations.redmine.schema import DirectoryUserEnvelope, GroupEnvelope, Memberships

log = logging.getLogger(__name__)

_PAGE = 100


@dataclass(frozen=True)
class Principal:
    """A user (``name`` is the login, or the display name when the login cannot be read) or a
    group (``name`` is the group's name)."""

    id: int
    name: str
    is_group: bool = False


class Principals:
    """The users and groups of one Redmine, by id, cached for the backend's life."""

    def __init__(self, client: RedmineClient, project: str | int, backend: str) -> None:
        self._client = client
        self._project = project
        self._backend = backend
        self._known: dict[int, Principal] = {}
        self._members: dict[int, Principal] | None = None
        self._warned = False

    def of(self, principal_id: int, shown: str | None = None) -> Principal:
        """The user or group ``principal_id``; ``shown`` is the name Redmine showed with the id
        (a journal's user), the fallback when nothing better can be read. Raises the client's
        ``BackendUnavailable`` when Redmine cannot be asked."""
        found = self._known.get(principal_id)
        if found is None:
            found = self._look_up(principal_id, shown)
            self._known[principal_id] = found
        return found

    def _look_up(self, principal_id: int, shown: str | None) -> Principal:
        member = self._memberships().get(principal_id)
        if member is not None and member.is_group:
            return member
        fallback = shown or (member.name if member is not None else None) or f"#{principal_id}"
        try:
            user = self._client.get(f"/users/{principal_id}.json", DirectoryUserEnvelope).user
        except RedmineUnavailable as exc:
            if exc.status != 403:
                raise
            self._no_logins()
            return Principal(principal_id, fallback)
        except RedmineRejected as exc:
            if exc.status != 404:
                raise
            return self._group(principal_id) or Principal(principal_id, fallback)
        if user.login:
            return Principal(principal_id, user.login)
        self._no_logins()
        name = f"{user.firstname} {user.lastname}".strip()
        return Principal(principal_id, shown or name or fallback)

    def _group(self, principal_id: int) -> Principal | None:
        """A group that is not (or no longer) a member of the project, if the key may read it."""
        try:
            group = self._client.get(f"/groups/{principal_id}.json", GroupEnvelope).group
        except RedmineUnavailable as exc:
            if exc.status != 403:
                raise
            return None
        except RedmineRejected as exc:
            if exc.status != 404:
                raise
            return None
        return Principal(principal_id, group.name, is_group=True)

    def _memberships(self) -> dict[int, Principal]:
        if self._members is not None:
            return self._members
        members: dict[int, Principal] = {}
        offset = 0
        try:
            while True:
                page = self._client.get(
                    f"/projects/{self._project}/memberships.json", Memberships, {"offset": offset, "limit": _PAGE}
                )
                for item in page.memberships:
                    if item.group is not None:
                        members[item.group.id] = Principal(item.group.id, item.group.name, is_group=True)
                    elif item.user is not None:
                        members[item.user.id] = Principal(item.user.id, item.user.name)
                offset += _PAGE
                if not page.memberships or offset >= page.total_count:
                    break
        except RedmineUnavailable as exc:
            if exc.status != 403:
                raise
            log.warning(
                "%s: the API key may not list the project's members (403); an issue assigned to a "
                "Redmine group is read as assigned to a user of that name",
                self._backend,
            )
        self._members = members
        return members

    def _no_logins(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "%s: the API key may not read users' logins (Redmine shows them to administrators "
                "only); the history names people by their display names, which people.yaml's "
                "logins will not match, so resolvers' lines and the 1st-line checks may be missed. "
                "What to do: run export-history with an administrator's API key (a config of its own), "
                "or add each person's display name to their logins in people.yaml "
                "(docs/operations.md, 'export-history and logins')",
                self._backend,
            )
