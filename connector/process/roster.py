"""``people.yaml`` as the lifecycle's ``Roster``: who may close tickets, and each group's line.

The closing right (seed §3.1.3.10) belongs to the 1st line — holders of ``service_desk`` and
the handlers of a group whose ``line`` is ``first_line`` (``Directory.is_first_line``) — and to
the incident manager. A login the file does not know is *not* allowed; without a people file
nobody can tell, and the lifecycle then lets closes stand (the closure code is still required).
"""

from __future__ import annotations

__all__ = ["OVERRIDE_ROLE", "DirectoryRoster"]

from connector.domain.models import ResolverRole
from connector.notify.people import Directory

#: the role that may close any ticket besides the 1st line (it may override the rule)
OVERRIDE_ROLE = "incident_manager"


class DirectoryRoster:
    """A ``connector.process.lifecycle.Roster`` read from a ``Directory``."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    def may_close(self, login: str | None) -> bool | None:
        """1st line or incident manager: yes; anyone else, known to the file or not: no."""
        if login is None:
            return None
        if self.directory.is_first_line(login):
            return True
        person = self.directory.person_for_login(login)
        return person is not None and OVERRIDE_ROLE in person.roles

    def line_of(self, group: str | None) -> ResolverRole | None:
        """The line of an assignment group, as ``people.yaml`` gives it."""
        return self.directory.line_of_group(group)
