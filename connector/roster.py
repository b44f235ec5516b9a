"""``people.yaml`` as the lifecycle's ``Roster``: who may close tickets, and each group's line.

The closing right (seed §3.1.3.10) belongs to the 1st line — holders of ``service_desk`` and
the handlers of a group whose ``line`` is ``first_line`` — and to the incident manager.
A login the file does not know is *not* allowed; without a people file nobody can tell, and
the lifecycle then lets closes stand (and logs that it could not check).
"""

from __future__ import annotations

__all__ = ["CLOSING_ROLES", "DirectoryRoster"]

from connector.models import ResolverRole
from connector.notify.people import Directory

#: the roles whose holders may close any ticket
CLOSING_ROLES = ("service_desk", "incident_manager")


class DirectoryRoster:
    """A ``connector.lifecycle.Roster`` read from a ``Directory``."""

    def __init__(self, directory: Directory, own_login: str | None = None) -> None:
        people = directory.people
        self._logins = {login: pid for pid, person in people.people.items() for login in (pid, *person.logins)}
        closers = {pid for pid, person in people.people.items() if set(person.roles) & set(CLOSING_ROLES)}
        self._lines: dict[str, ResolverRole] = {}
        for key, group in people.groups.items():
            line = getattr(group, "line", None)
            if line is not None:
                role = ResolverRole(line)
                self._lines[key] = role
                if group.name:
                    self._lines[group.name] = role
                if role is ResolverRole.FIRST_LINE:
                    closers.update(group.handlers)
        self._closers = frozenset(closers)
        self._own = own_login

    def may_close(self, login: str | None) -> bool | None:
        """1st line or incident manager: yes; anyone else the file names or not: no."""
        if login is None:
            return None
        if self._own is not None and login == self._own:
            return True
        return self._logins.get(login) in self._closers

    def line_of(self, group: str | None) -> ResolverRole | None:
        """The line of an assignment group (by its key or its display name)."""
        return self._lines.get(group) if group is not None else None
