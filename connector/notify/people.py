"""``people.yaml``: the roles of the process, who holds them, and the assignment groups.

Rule files name roles (``project_manager``), never people, so a change of staff is one edit
here. A person has handles per channel kind (e-mail, phone, WeCom, DingTalk) and the helpdesk
logins that identify them as an assignee. An assignment group lists its handlers and may hold
its own holders of a role (the project manager *of the finance system*), which win over the
site-wide holders for tickets of that group.

Three roles are dynamic, filled from the ticket rather than from this file: ``user`` (the
ticket's contact), ``assignee`` (the assigned handler; the group's handlers while nobody is
assigned or the assignee is not listed here) and ``group`` (the assignment group's handlers).

``Directory`` answers "who gets this role on this channel" for one notice.
"""

from __future__ import annotations

__all__ = [
    "DYNAMIC_ROLES",
    "FIRST_LINE_ROLE",
    "Directory",
    "Group",
    "People",
    "Person",
    "RoleInfo",
    "load_people",
]

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.contracts.notifiers import AddressKind, Recipient
from connector.domain.models import ResolverRole
from connector.domain.notice import Contact, Notice
from connector.util.loading import known_name, validate_with_context
from connector.util.yamlfile import LineDict, load_yaml

#: roles filled from the ticket, with their labels; people.yaml may not redefine them
DYNAMIC_ROLES: dict[str, tuple[str, str]] = {
    "user": ("用户", "user"),
    "assignee": ("事件受理员", "assigned handler"),
    "group": ("处理组", "assignment group"),
}

_ID = r"^[a-z][a-z0-9_.-]*$"
#: a role declared under ``roles:`` / a person declared under ``people:`` (checked per item)
_RoleRef = Annotated[str, known_name("declared_roles", "role")]
_PersonRef = Annotated[str, known_name("declared_people", "person")]


def _new_role(role: str) -> str:
    if role in DYNAMIC_ROLES:
        raise ValueError(f"{role!r} is a built-in role filled from the ticket; choose another name")
    if not re.match(_ID, role):
        raise ValueError("a role id has lower-case letters, digits, _ . - only")
    return role


_RoleId = Annotated[str, AfterValidator(_new_role)]
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{2,}[0-9]$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _text(value: Any) -> Any:
    """A handle written as a bare number (``phone: 13800000000``) is still text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class RoleInfo(_Strict):
    """A role of the process, with the labels notices show."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def label(self, lang: str) -> str:
        """The label in ``lang`` ("zh" or "en")."""
        return self.zh if lang == "zh" else self.en


class Person(_Strict):
    """Someone who can be notified, with a handle per channel kind (each optional)."""

    name: str = Field(min_length=1)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = None
    wecom: str | None = Field(None, min_length=1, description="WeCom mobile number or user id")
    dingtalk: str | None = Field(None, min_length=1, description="DingTalk mobile number or user id")
    roles: list[_RoleRef] = Field(default_factory=list)
    logins: list[str] = Field(default_factory=list, description="helpdesk logins (to recognise an assignee)")

    @field_validator("phone", "wecom", "dingtalk", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError("a phone number has digits, spaces, -, () and an optional leading +")
        return value

    def handle(self, kind: AddressKind) -> str | None:
        """This person's address on a channel of ``kind``."""
        value: str | None = getattr(self, kind)
        return value


#: the role whose holders are the 1st line wherever they work (PROCESS §1: the recorder)
FIRST_LINE_ROLE = "service_desk"


class Group(_Strict):
    """An assignment group (as tickets name it): its handlers, its own holders of roles, and
    the line it works on (the KPIs count resolutions per line; only the 1st line may close)."""

    name: str | None = Field(None, description="what notices call the group; default: its key")
    line: ResolverRole = Field(
        ResolverRole.SECOND_LINE,
        description="first_line (the service desk), second_line (support engineers, the default) or "
        "third_party (a supplier's group)",
    )
    handlers: list[_PersonRef] = Field(default_factory=list)
    roles: dict[_RoleRef, list[_PersonRef]] = Field(default_factory=dict)


class People(_Strict):
    """The whole file."""

    roles: dict[_RoleId, RoleInfo] = Field(min_length=1)
    people: dict[Annotated[str, Field(pattern=_ID)], Person] = Field(default_factory=dict)
    groups: dict[str, Group] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _logins_unique(self) -> Self:
        owner: dict[str, str] = {}
        for pid, person in self.people.items():
            for login in (pid, *person.logins):
                if owner.get(login, pid) != pid:
                    raise ValueError(f"login {login!r} is both {owner[login]!r}'s and {pid!r}'s")
                owner[login] = pid
        return self


def load_people(path: Path) -> People:
    """Load and validate ``people.yaml``; raises ``ConfigError`` with every problem at file:line.

    The declared role and person ids are read first, so that a reference to an undeclared one
    is reported on its own line with a did-you-mean."""
    data = load_yaml(path)
    context: dict[str, Any] = {}
    if isinstance(data, LineDict):
        for key, name in (("roles", "declared_roles"), ("people", "declared_people")):
            section = data.get(key)
            context[name] = set(section) if isinstance(section, dict) else set()
        context["declared_roles"] -= set(DYNAMIC_ROLES)
    return validate_with_context(data, People, str(path), context)


class Directory:
    """Who holds a role, and where to reach them on a channel, for one notice's ticket."""

    def __init__(self, people: People) -> None:
        self.people = people
        self._by_login = {login: pid for pid, p in people.people.items() for login in (*p.logins, pid)}
        self._first_line = frozenset(
            pid for group in people.groups.values() if group.line is ResolverRole.FIRST_LINE for pid in group.handlers
        ) | frozenset(pid for pid, p in people.people.items() if FIRST_LINE_ROLE in p.roles)

    def person_for_login(self, login: str) -> Person | None:
        """The person a helpdesk login (or a person id) belongs to, or ``None``."""
        pid = self._by_login.get(login)
        return self.people.people[pid] if pid is not None else None

    def line_of_group(self, group: str | None) -> ResolverRole | None:
        """The line of an assignment group as tickets name it; ``None`` for a group this file
        does not list (its line is unknown, so nothing is claimed about it)."""
        found = self.people.groups.get(group) if group is not None else None
        return found.line if found is not None else None

    def is_first_line(self, login: str | None) -> bool:
        """Whether the helpdesk login belongs to the 1st line: a holder of ``service_desk`` or a
        member (handler, or holder of a group role) of a ``first_line`` group. The closing
        policy (PROCESS §11) lets only them — and the incident manager — close. A group's own
        holders of a role are not its members: the finance system's project manager does not
        work on the desk because the group is listed as ``first_line``."""
        pid = self._by_login.get(login) if login is not None else None
        return pid is not None and pid in self._first_line

    @property
    def role_ids(self) -> frozenset[str]:
        """Every role a rule may name: the file's roles and the dynamic ones."""
        return frozenset(self.people.roles) | frozenset(DYNAMIC_ROLES)

    def role_label(self, role: str, lang: str) -> str:
        """What a notice calls ``role`` (the id itself for a role nobody declared)."""
        if role in DYNAMIC_ROLES:
            zh, en = DYNAMIC_ROLES[role]
            return zh if lang == "zh" else en
        info = self.people.roles.get(role)
        return info.label(lang) if info is not None else role

    def group_label(self, group: str | None) -> str | None:
        """The display name of an assignment group."""
        if group is None:
            return None
        found = self.people.groups.get(group)
        return (found.name or group) if found is not None else group

    def holders(self, role: str, *, group: str | None = None, assignee: str | None = None) -> list[str]:
        """The person ids holding ``role`` for a ticket of ``group`` assigned to ``assignee``
        (``user`` has none here: the contact is not in this file)."""
        found = self.people.groups.get(group) if group is not None else None
        if role == "group":
            return list(found.handlers) if found is not None else []
        if role == "assignee":
            person = self._by_login.get(assignee) if assignee is not None else None
            if person is not None:
                return [person]
            return list(found.handlers) if found is not None else []
        if found is not None and role in found.roles:
            return list(found.roles[role])
        return [pid for pid, p in self.people.people.items() if role in p.roles]

    def recipients(self, roles: Iterable[str], kind: AddressKind, notice: Notice) -> tuple[list[Recipient], list[str]]:
        """The recipients of ``roles`` on a channel of ``kind`` for ``notice``'s ticket, each
        address once, and what could not be reached (``"role: nobody"``, ``"person: no phone"``)."""
        out: list[Recipient] = []
        missing: list[str] = []
        seen: set[str] = set()

        def add(recipient: Recipient) -> None:
            if recipient.address not in seen:
                seen.add(recipient.address)
                out.append(recipient)

        for role in roles:
            if role == "user":
                address = _contact_handle(notice.contact, kind)
                if address is None:
                    missing.append(f"user: no {kind}")
                else:
                    add(Recipient("user", (notice.contact.name if notice.contact else None) or address, address))
                continue
            holders = self.holders(role, group=notice.assignment_group, assignee=notice.assignee)
            if not holders:
                missing.append(f"{role}: nobody")
            for pid in holders:
                person = self.people.people[pid]
                handle = person.handle(kind)
                if handle is None:
                    missing.append(f"{pid}: no {kind}")
                else:
                    add(Recipient(pid, person.name, handle))
        return out, missing


def _contact_handle(contact: Contact | None, kind: AddressKind) -> str | None:
    if contact is None:
        return None
    value: str | None = getattr(contact, kind)
    return value
