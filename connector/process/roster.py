"""``people.yaml`` as the lifecycle's ``Roster``: who may close tickets, each group's line, and the
1st line's group (where a rejected assignment goes back to).

Who may close is a rule of ``lifecycle.yaml`` (``closing``, seed §3.1.3.10): the holders of its
``roles`` (shipped: ``service_desk``), the handlers of a group whose ``line`` is
``first_line`` when ``first_line_groups`` is set, and the holders of its ``override_role``
(shipped: ``incident_manager``). This module only asks ``people.yaml`` who holds what. A login
the file does not know is *not* allowed; without a people file nobody can tell, and the
lifecycle then lets closes stand (the closure code is still required).
"""

from __future__ import annotations

__all__ = ["DirectoryRoster"]

from connector.domain.models import ResolverRole
from connector.notify.people import Directory
from connector.rules.files import ClosingModel
from connector.rules.loading import default_rulebook
from connector.rules.people_files import VerificationModel


class DirectoryRoster:
    """A ``connector.process.lifecycle.Roster`` read from a ``Directory`` and the closing rule."""

    def __init__(
        self, directory: Directory, closing: ClosingModel | None = None, verification: VerificationModel | None = None
    ) -> None:
        """``closing`` and ``verification`` are the rule book's (``RuleBook.lifecycle``; default:
        the shipped ones)."""
        self.directory = directory
        shipped = default_rulebook().lifecycle
        self.closing = closing if closing is not None else shipped.closing
        self.verification_roles = frozenset((verification or shipped.verification).roles)
        people = directory.people
        self._first_line_handlers = frozenset(
            pid for group in people.groups.values() if group.line is ResolverRole.FIRST_LINE for pid in group.handlers
        )

    def may_close(self, login: str | None) -> bool | None:
        """A holder of a closing role (or the override role), or a first-line handler: yes;
        anyone else, known to the file or not: no."""
        if login is None:
            return None
        person = self.directory.person_for_login(login)
        if person is None:
            return False
        if self.closing.closing_roles() & set(person.roles):
            return True
        if not self.closing.first_line_groups:
            return False
        return any(self.directory.people.people.get(pid) is person for pid in self._first_line_handlers)

    def first_line_group(self) -> str | None:
        """The 1st line's group (the first ``first_line`` group of ``people.yaml``, as tickets name
        it): where a rejected assignment goes back to (PROCESS §7)."""
        return next(
            (name for name, group in self.directory.people.groups.items() if group.line is ResolverRole.FIRST_LINE),
            None,
        )

    def may_verify(self, login: str | None) -> bool | None:
        """A holder of a verification role (``lifecycle.yaml``'s ``verification.roles``): yes;
        anyone else: no; an unknown actor: cannot tell."""
        if login is None:
            return None
        person = self.directory.person_for_login(login)
        return person is not None and bool(self.verification_roles & set(person.roles))

    def line_of(self, group: str | None) -> ResolverRole | None:
        """The line of an assignment group, as ``people.yaml`` gives it."""
        return self.directory.line_of_group(group)
