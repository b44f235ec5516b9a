"""Every exception the connector raises, split by what the caller does next.

::

    ConnectorError                  root: one ``except`` catches everything we raise
    ├── ConfigError                 a config or rule file is wrong: stop startup, print file:line
    ├── PluginError                 a plugin failed to load or breaks the hook contract: stop startup
    ├── SourceError                 a source could not be read this cycle: log, try next cycle
    ├── StoreError                  the state database failed: stop, nothing is acknowledged
    ├── RuleError                   a rule failed on one alert: dead-letter that alert, go on
    ├── MalformedInput              an input cannot become an Alert: dead-letter it, go on
    ├── BackendError                a helpdesk call failed
    │   ├── BackendUnavailable      transient (refused, timeout, 5xx, 429): retry from the outbox
    │   └── BackendRejected         permanent for this operation (4xx): dead-letter the operation
    └── NotifierError               a notice could not be sent (e-mail, phone gateway, robot)
        ├── NotifierUnavailable     transient (refused, timeout, 5xx, rate limited): retry later
        └── NotifierRejected        permanent (bad recipient, invalid key): dead-letter the notice

Context is passed as keyword-only arguments and kept as attributes; the full text goes to
``Exception.__init__`` so ``str(exc)`` is exactly what the log shows.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BackendRejected",
    "BackendUnavailable",
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "MalformedInput",
    "NotifierError",
    "NotifierRejected",
    "NotifierUnavailable",
    "PluginError",
    "RuleError",
    "SourceError",
    "StoreError",
]

from dataclasses import dataclass


class ConnectorError(Exception):
    """Root of every error raised by itsm-connector."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a config or rule file, printed as ``file:line: reason``."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.reason}"


class ConfigError(ConnectorError):
    """Raised when a config or rule file does not validate; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PluginError(ConnectorError):
    """Raised when a plugin cannot be imported or implements a hook the contract lacks."""

    def __init__(self, message: str, *, plugin: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class SourceError(ConnectorError):
    """Raised when a source cannot be read this cycle (the next cycle tries again)."""

    def __init__(self, message: str, *, source: str) -> None:
        self.source = source
        super().__init__(f"source {source!r}: {message}")


class StoreError(ConnectorError):
    """Raised when the state database cannot be opened, migrated or written."""


class RuleError(ConnectorError):
    """Raised when a rule fails on one alert; that alert is dead-lettered with the rule's name."""

    def __init__(self, message: str, *, rule: str, alert: str) -> None:
        self.rule = rule
        self.alert = alert
        super().__init__(f"rule {rule!r} failed on alert {alert!r}: {message}")


class MalformedInput(ConnectorError):
    """Raised when an input (payload, mail, line) cannot become an Alert."""

    def __init__(self, reason: str, *, source: str, external_id: str | None = None) -> None:
        self.reason = reason
        self.source = source
        self.external_id = external_id
        super().__init__(f"{source}:{external_id or '?'}: {reason}")


class BackendError(ConnectorError):
    """A helpdesk call failed; the subclass says whether retrying can help."""

    def __init__(self, message: str, *, backend: str, operation: str) -> None:
        self.backend = backend
        self.operation = operation
        super().__init__(f"{backend} {operation}: {message}")


class BackendUnavailable(BackendError):
    """Raised for transient failures (refused, timeout, 5xx, 429); the outbox retries later.

    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one.
    """

    def __init__(self, message: str, *, backend: str, operation: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, backend=backend, operation=operation)


class BackendRejected(BackendError):
    """Raised when the helpdesk refuses this operation for good (4xx); it is dead-lettered."""


class NotifierError(ConnectorError):
    """A notice could not be sent through one channel; the subclass says whether retrying can help."""

    def __init__(self, message: str, *, notifier: str, operation: str) -> None:
        self.notifier = notifier
        self.operation = operation
        super().__init__(f"{notifier} {operation}: {message}")


class NotifierUnavailable(NotifierError):
    """Raised when the channel cannot take the notice now (refused, timeout, 5xx, rate limited).

    ``retry_after`` is how long the server asked us to wait, in seconds, when it said so.
    """

    def __init__(self, message: str, *, notifier: str, operation: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, notifier=notifier, operation=operation)


class NotifierRejected(NotifierError):
    """Raised when the channel refuses the notice for good (bad recipient, invalid key or
    signature, malformed message); retrying the same notice cannot succeed."""
