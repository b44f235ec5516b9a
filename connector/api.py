"""The public API for plugin authors: the one module a plugin imports from the connector.

This is the stable surface of itsm-connector. Everything listed in ``__all__`` keeps its name,
its import path and its meaning within a major version (semantic versioning): a name is
removed, or changes incompatibly, only with a new major version. Every other module of
``connector`` is internal and may move in any release (the code was reorganised into layers
once already); a plugin that imports only from here does not notice.

What is here, by what a plugin does with it:

* mark hook implementations: ``hookimpl`` (the hooks themselves are ``connector.contracts.hookspecs``,
  documented in ``docs/plugins.md``; their argument types are below);
* the entry-point group a package declares its plugin in: ``ENTRY_POINT_GROUP`` (``itsm_connector``);
* what flows through the process: ``Alert``, ``Ticket``, ``TicketRef``, ``Attachment``, the
  enums, a ``Decision`` and its ``Action``, a ``Notice``;
* what the rule stages read: ``RuleBook`` (``default_rulebook()``: the shipped one),
  ``TicketIndex`` and the ``TicketState`` it answers;
* a push source served by the daemon's one HTTP server: ``MountableSource``, the ``HttpEndpoint``
  it returns and the ``HttpRequest``/``HttpReply`` it handles (``docs/plugins.md``);
* the adapter contracts: ``Source``, ``PushSource``, ``Backend`` and its optional capabilities
  (``HistoryReader``, ``UserDirectory``), ``Notifier``; the registration types a plugin returns
  (``SourceType``, ``BackendType``, ``NotifierType``) and the ``PluginContext`` their factories
  are handed (with its ``Clock`` and ``Spool``; ``FakeClock`` for a plugin's own tests);
* the errors an adapter raises to say what the host should do next.

Why a module of re-exports and no logic: a plugin needs one import path that survives internal
moves, and the host must never depend on it (an import-linter contract forbids every
``connector`` package to import ``connector.api``), so this module can only ever grow by
re-exporting, never become a second home of behaviour.
"""

from __future__ import annotations

__all__ = [
    "ENTRY_POINT_GROUP",
    "Action",
    "AddressKind",
    "Alert",
    "Attachment",
    "Backend",
    "BackendError",
    "BackendRejected",
    "BackendType",
    "BackendUnavailable",
    "Change",
    "ChangeKind",
    "Clock",
    "ClosureCode",
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "Contact",
    "Decision",
    "DoneAfter",
    "FakeClock",
    "HelpdeskUser",
    "HistoryReader",
    "HttpEndpoint",
    "HttpReply",
    "HttpRequest",
    "Impact",
    "IntakeJournal",
    "Journaled",
    "MalformedInput",
    "MountableSource",
    "Notice",
    "NoticeKind",
    "Notifier",
    "NotifierError",
    "NotifierRejected",
    "NotifierType",
    "NotifierUnavailable",
    "OutgoingMessage",
    "PluginContext",
    "PluginError",
    "PollResult",
    "Priority",
    "PushSource",
    "Recipient",
    "Rejected",
    "Relation",
    "Resolution",
    "ResolutionCode",
    "ResolverRole",
    "RuleBook",
    "RuleError",
    "Source",
    "SourceError",
    "SourceType",
    "Spool",
    "Stage",
    "StatusEvent",
    "StoreError",
    "Ticket",
    "TicketHistory",
    "TicketIndex",
    "TicketLink",
    "TicketRef",
    "TicketSnapshot",
    "TicketSource",
    "TicketState",
    "TicketStatus",
    "TicketUpdate",
    "Urgency",
    "UserDirectory",
    "default_rulebook",
    "hookimpl",
]

from connector.contracts.adapters import (
    Backend,
    BackendType,
    Change,
    ChangeKind,
    HelpdeskUser,
    HistoryReader,
    IntakeJournal,
    Journaled,
    PluginContext,
    PollResult,
    PushSource,
    Rejected,
    Relation,
    Resolution,
    Source,
    SourceType,
    TicketHistory,
    TicketSnapshot,
    UserDirectory,
)
from connector.contracts.hookspecs import hookimpl
from connector.contracts.http import HttpEndpoint, HttpReply, HttpRequest, MountableSource
from connector.contracts.notifiers import AddressKind, Notifier, NotifierType, OutgoingMessage, Recipient
from connector.contracts.plugin_manager import ENTRY_POINT_GROUP
from connector.domain.clock import Clock, FakeClock
from connector.domain.decision import Action, Decision, TicketUpdate
from connector.domain.errors import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    ConfigProblem,
    ConnectorError,
    MalformedInput,
    NotifierError,
    NotifierRejected,
    NotifierUnavailable,
    PluginError,
    RuleError,
    SourceError,
    StoreError,
)
from connector.domain.models import (
    Alert,
    Attachment,
    ClosureCode,
    Impact,
    Priority,
    ResolutionCode,
    ResolverRole,
    Stage,
    Ticket,
    TicketRef,
    TicketSource,
    TicketStatus,
    Urgency,
)
from connector.domain.notice import Contact, Notice, NoticeKind, StatusEvent, TicketLink
from connector.domain.ticket_state import DoneAfter, TicketIndex, TicketState
from connector.rules.book import RuleBook
from connector.rules.loading import default_rulebook
from connector.state.spool import Spool
