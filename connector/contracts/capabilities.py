"""What an adapter can do beyond its required protocol, found out once, when it is built.

A backend must have every member of ``Backend`` (a source: of ``Source``; a notifier: of
``Notifier``); ``check_backend`` / ``check_source`` / ``check_notifier`` fail at start-up with
a ``PluginError`` naming what is missing, instead of an ``AttributeError`` in the middle of a
drain hours later. Everything else is optional, and each option is a small protocol of its
own; ``BackendCapabilities.of`` / ``SourceCapabilities.of`` test them once and hand the rest
of the connector a frozen record, so no module probes an adapter with ``getattr``/``hasattr``
at run time, and what a helpdesk can do is written in one place (``docs/plugins.md``).
"""

from __future__ import annotations

__all__ = [
    "Acknowledging",
    "BackendCapabilities",
    "ChangeTracker",
    "CiLinker",
    "DocumentPublisher",
    "DuplicateCloser",
    "KnowledgeBase",
    "KnowledgeMethods",
    "KnowledgePart",
    "OwnLogin",
    "ProblemTracker",
    "RecoveryPolicy",
    "SenderPolicy",
    "SourceCapabilities",
    "check_backend",
    "check_notifier",
    "check_source",
    "protocol_members",
]

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from connector.contracts.adapters import Backend, HistoryReader, PushSource, Source, UserDirectory
from connector.contracts.notifiers import Notifier
from connector.domain.errors import PluginError
from connector.domain.knowledge import KbArticle
from connector.domain.links import ChangeLink, ProblemRecord
from connector.domain.models import TicketRef

# --- optional backend capabilities -------------------------------------------------------------


@runtime_checkable
class OwnLogin(Protocol):
    """A backend that knows the helpdesk login it acts as: the sync-back and the KPI export
    leave that user's changes out (they are the connector's, not people's)."""

    def connector_login(self) -> str | None:
        """The login the connector's credentials belong to (``None`` when it cannot tell)."""
        ...


@runtime_checkable
class DocumentPublisher(Protocol):
    """A backend that keeps free-standing documents (GLPI's Documents): the monthly report's
    files are published there when the helpdesk has no wiki."""

    def publish_document(self, filename: str, content: bytes, content_type: str, title: str) -> str:
        """Store one file under ``title``; returns the document's id."""
        ...


@runtime_checkable
class DuplicateCloser(Protocol):
    """A backend that says whether *closing* a master closes its duplicates by itself (Redmine
    does); without it the connector closes them. (Resolving is ``Backend.resolves_duplicates``.)"""

    closes_duplicates: bool


@runtime_checkable
class ResolutionWriter(Protocol):
    """A backend that writes a ``Resolution``'s ``changes`` (the SLA target cleared) in the same
    write as the resolve (Redmine: one PUT); without it the connector updates them after it."""

    writes_resolution_changes: bool


# --- optional source capabilities --------------------------------------------------------------


@runtime_checkable
class RecoveryPolicy(Protocol):
    """A source whose recoveries resolve the ticket (``resolve``) or only add a note (``note``)."""

    on_recovery: str


@runtime_checkable
class Acknowledging(Protocol):
    """A source that says whether it wants an ``ack`` after its ticket is created (a mailbox
    and a replay file do not; Zabbix does)."""

    acknowledge_enabled: bool


@runtime_checkable
class SenderPolicy(Protocol):
    """A source of user reports that says what to do with a sender the helpdesk does not know."""

    unknown_senders: str


# --- the records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackendCapabilities:
    """The optional protocols one backend satisfies, each as the backend itself (typed) or ``None``."""

    users: UserDirectory | None = None
    history: HistoryReader | None = None
    own_login: OwnLogin | None = None
    documents: DocumentPublisher | None = None
    closes_duplicates: bool = False
    #: knowledge-base candidates (issue 13); ``None`` also when the backend has them switched off
    knowledge_base: KnowledgeBase | None = None
    #: links to configuration items (issue 13); ``None`` also when switched off
    ci_links: CiLinker | None = None
    problems: ProblemTracker | None = None
    changes: ChangeTracker | None = None
    writes_resolution_changes: bool = False

    @classmethod
    def of(cls, backend: object) -> BackendCapabilities:
        """Test ``backend`` against every optional protocol (once: the record is kept)."""
        return cls(
            users=backend if isinstance(backend, UserDirectory) else None,
            history=backend if isinstance(backend, HistoryReader) else None,
            own_login=backend if isinstance(backend, OwnLogin) else None,
            documents=backend if isinstance(backend, DocumentPublisher) else None,
            closes_duplicates=bool(backend.closes_duplicates) if isinstance(backend, DuplicateCloser) else False,
            knowledge_base=backend if isinstance(backend, KnowledgeBase) and backend.kb_candidates_enabled else None,
            ci_links=backend if isinstance(backend, CiLinker) and backend.ci_links_enabled else None,
            problems=backend if isinstance(backend, ProblemTracker) and backend.problem_records else None,
            changes=backend if isinstance(backend, ChangeTracker) and backend.change_links else None,
            writes_resolution_changes=(
                bool(backend.writes_resolution_changes) if isinstance(backend, ResolutionWriter) else False
            ),
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The capabilities present, for the start-up log line."""
        present = {
            "UserDirectory": self.users,
            "HistoryReader": self.history,
            "OwnLogin": self.own_login,
            "DocumentPublisher": self.documents,
            "KnowledgeBase": self.knowledge_base,
            "CiLinker": self.ci_links,
            "ProblemTracker": self.problems,
            "ChangeTracker": self.changes,
        }
        names = [name for name, value in present.items() if value is not None]
        flags = {
            "closes_duplicates": self.closes_duplicates,
            "writes_resolution_changes": self.writes_resolution_changes,
        }
        return (*names, *(flag for flag, on in flags.items() if on))


@dataclass(frozen=True)
class SourceCapabilities:
    """What the engine needs to know of one source, with the defaults of a source that says nothing."""

    on_recovery: Literal["resolve", "note"] = "resolve"
    acknowledges: bool = True
    rejects_unknown_senders: bool = False
    push: PushSource | None = None

    @classmethod
    def of(cls, source: object) -> SourceCapabilities:
        """Test ``source`` against every optional protocol (once: the record is kept)."""
        recovery = source.on_recovery if isinstance(source, RecoveryPolicy) else "resolve"
        return cls(
            on_recovery="note" if str(recovery) == "note" else "resolve",
            acknowledges=bool(source.acknowledge_enabled) if isinstance(source, Acknowledging) else True,
            rejects_unknown_senders=isinstance(source, SenderPolicy) and str(source.unknown_senders) == "reject",
            push=source if isinstance(source, PushSource) else None,
        )


# --- the required members ----------------------------------------------------------------------


def protocol_members(protocol: type) -> tuple[str, ...]:
    """The public attributes and methods a protocol declares (its own body, in order)."""
    annotations = tuple(getattr(protocol, "__annotations__", {}))
    methods = tuple(name for name, value in vars(protocol).items() if not name.startswith("_") and callable(value))
    return (*annotations, *(m for m in methods if m not in annotations))


def _missing(adapter: object, protocol: type) -> list[str]:
    missing = []
    for name in protocol_members(protocol):
        declared = vars(protocol).get(name)
        if not hasattr(adapter, name):
            missing.append(f"{name}()" if callable(declared) else name)
        elif callable(declared) and not callable(getattr(adapter, name)):
            missing.append(f"{name}() (it is not callable)")
    return missing


def _check(adapter: object, protocol: type, built_by: str, plugin: str) -> None:
    missing = _missing(adapter, protocol)
    if missing:
        raise PluginError(
            f"{built_by} built a {type(adapter).__name__} without {', '.join(missing)}, "
            f"which every {protocol.__name__} must have",
            plugin=plugin,
        )


def check_backend(backend: object, type_name: str) -> None:
    """Raise ``PluginError`` naming each ``Backend`` member ``backend`` lacks."""
    _check(backend, Backend, f"the backend type {type_name!r}", type_name)


def check_source(source: object, type_name: str) -> None:
    """Raise ``PluginError`` naming each ``Source`` member ``source`` lacks."""
    _check(source, Source, f"the source type {type_name!r}", type_name)


def check_notifier(notifier: object, channel: str) -> None:
    """Raise ``PluginError`` naming each ``Notifier`` member the notifier of ``channel`` lacks."""
    _check(notifier, Notifier, f"the notifier of channel {channel!r}", channel)


# --- knowledge and configuration items (issue 13) ----------------------------------------------


@runtime_checkable
class KnowledgeBase(Protocol):
    """A backend that keeps knowledge articles (a Redmine wiki, GLPI's KnowbaseItem): a successful
    close with a solution and a root cause leaves one *candidate* there, unpublished, for people
    to edit and publish (``knowledge.yaml``'s ``kb_candidate``)."""

    #: whether the site configured where candidates go (a backend may have the method and no place)
    kb_candidates_enabled: bool

    def write_kb_candidate(self, article: KbArticle) -> str:
        """Write the candidate of ticket ``article.key`` unless it is there already (a retry after
        an answer that was lost finds it and writes nothing); returns where it is (a page title,
        an article id)."""
        ...


# --- problem and change management (issue 13) --------------------------------------------------


@runtime_checkable
class ProblemTracker(Protocol):
    """A backend that keeps problem records (PROCESS §12): Redmine an issue in a Problem tracker
    with a ``relates`` relation, GLPI a ``Problem`` with ``Problem_Ticket``. Every write is safe
    to repeat: the outbox retries one whose answer was lost (docs/idempotency.md)."""

    #: whether this helpdesk is set up for problem records (its config names where they go)
    problem_records: bool

    def find_problem(self, key: str) -> TicketRef | None:
        """The problem record that carries the connector key ``key``, if one was made."""
        ...

    def create_problem(self, problem: ProblemRecord) -> TicketRef:
        """Open the problem record (carrying ``problem.key``, for ``find_problem``)."""
        ...

    def link_problem(self, problem_id: str, ticket_id: str) -> None:
        """Link the incident ``ticket_id`` to the problem ``problem_id``; an existing link is done."""
        ...

    def add_problem_note(self, problem_id: str, text: str) -> None:
        """Add ``text`` to the problem record (a later incident of the same root cause); written
        once per outbox operation, as every note is."""
        ...


@runtime_checkable
class CiLinker(Protocol):
    """A backend that knows configuration items as objects (GLPI's Computer, NetworkEquipment, …;
    a Redmine issue in a "CI" tracker): the incident links the CI itself, not only its name."""

    #: whether the site configured where CIs are found
    ci_links_enabled: bool

    def link_ci(self, ticket_id: str, ci: str) -> str | None:
        """Link the ticket to the CI named ``ci`` (once: a link already there is left alone);
        returns the CI object's reference, or ``None`` when the helpdesk has no such CI."""
        ...


class KnowledgePart(Protocol):
    """What a backend's knowledge helper offers (Redmine's ``RedmineKnowledge``, GLPI's
    ``GlpiKnowledge``): ``KnowledgeMethods`` hands the two capabilities above to it."""

    @property
    def kb_enabled(self) -> bool:
        """Whether the site configured where KB candidates go."""
        ...

    @property
    def ci_enabled(self) -> bool:
        """Whether the site configured where CIs are found."""
        ...

    def write_kb_candidate(self, article: KbArticle) -> str:
        """As ``KnowledgeBase.write_kb_candidate``."""
        ...

    def link_ci(self, ticket_id: str, ci: str) -> str | None:
        """As ``CiLinker.link_ci``."""
        ...


class KnowledgeMethods:
    """The ``KnowledgeBase`` and ``CiLinker`` members of a backend, handed to its
    ``_knowledge`` (a ``KnowledgePart``): one copy for every backend that mixes it in, so the
    backend module stays one job."""

    _knowledge: KnowledgePart

    @property
    def kb_candidates_enabled(self) -> bool:
        """Whether the site configured where candidates go (``KnowledgeBase``)."""
        return self._knowledge.kb_enabled

    @property
    def ci_links_enabled(self) -> bool:
        """Whether the site configured where CIs are found (``CiLinker``)."""
        return self._knowledge.ci_enabled

    def write_kb_candidate(self, article: KbArticle) -> str:
        """The candidate of the ticket, written once; where it is (``KnowledgeBase``)."""
        return self._knowledge.write_kb_candidate(article)

    def link_ci(self, ticket_id: str, ci: str) -> str | None:
        """Link the ticket to its CI's object, once; its reference, or ``None`` (``CiLinker``)."""
        return self._knowledge.link_ci(ticket_id, ci)


@runtime_checkable
class ChangeTracker(Protocol):
    """A backend where people link change requests to incidents (Redmine: a relation to an issue
    of the Change tracker; GLPI: ``Change_Ticket``): the sync-back reads the links and whether
    each change is closed, and moves the incident into and out of *pending change*."""

    #: whether this helpdesk is set up for change links (its config names the change tracker)
    change_links: bool

    def linked_changes(self, ticket_ids: Sequence[str]) -> list[ChangeLink]:
        """The open changes linked to any of the incidents ``ticket_ids``."""
        ...

    def closed_changes(self, change_ids: Sequence[str]) -> set[str]:
        """Which of the changes ``change_ids`` are closed now."""
        ...
