"""``RedmineUsers``: who an e-mail address belongs to in Redmine (``UserDirectory``, IM 1.1).

Listing users needs an administrator's key. Many sites give the connector less, and must still
work: a 403 is logged once and answered "unknown" (every sender is then an unknown reporter)
for ``DIRECTORY_RETRY``, after which Redmine is asked again, since an admin may grant the right.
"""

from __future__ import annotations

__all__ = ["DIRECTORY_RETRY", "RedmineUsers"]

import logging
from datetime import datetime, timedelta

from connector.contracts.adapters import HelpdeskUser
from connector.domain.clock import Clock
from connector.integrations.redmine.client import RedmineClient, RedmineUnavailable
from connector.integrations.redmine.schema import UserList
from connector.integrations.redmine.values import PAGE_SIZE

log = logging.getLogger(__name__)

#: after a 403 on the user list, ask again only this much later (an admin may grant the right)
DIRECTORY_RETRY = timedelta(hours=1)


class RedmineUsers:
    """The user directory of one backend (its client, its clock for the 403 pause)."""

    def __init__(self, client: RedmineClient, clock: Clock, *, backend: str) -> None:
        self._client = client
        self._clock = clock
        self._backend = backend
        self._refused_at: datetime | None = None

    def find_by_email(self, email: str) -> HelpdeskUser | None:
        """The active Redmine user with this e-mail address, or ``None``.

        ``GET /users.json?name=`` matches login, names and address, so the answer is filtered
        for the exact address. Failures other than the 403 raise as usual (``BackendUnavailable``).
        """
        address = email.strip().lower()
        if "@" not in address:
            return None
        now = self._clock.now()
        if self._refused_at is not None and now - self._refused_at < DIRECTORY_RETRY:
            return None
        try:
            found = self._client.get("/users.json", UserList, params={"name": address, "status": 1, "limit": PAGE_SIZE})
        except RedmineUnavailable as exc:
            if exc.status != 403:
                raise
            if self._refused_at is None:
                log.warning(
                    "%s: the API key may not list users (403: it needs an administrator); every e-mail "
                    "sender is treated as unknown until it may",
                    self._backend,
                )
            self._refused_at = now
            return None
        self._refused_at = None
        for user in found.users:
            if (user.mail or "").strip().lower() == address:
                name = f"{user.firstname} {user.lastname}".strip() or user.login
                return HelpdeskUser(user_id=str(user.id), login=user.login, name=name, email=address)
        return None
