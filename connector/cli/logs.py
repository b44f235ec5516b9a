"""Where the command's log lines go, and in which shape: text for a person at a terminal, one JSON
object per line for a log shipper (``--log-format json``).

The JSON shape comes from python-json-logger (a well-kept formatter; no reason to write our own):
``time``, ``level``, ``logger``, ``message``, and the context a call passes in ``extra`` —
``key`` (the ticket key), ``external_id``, ``operation`` — when it has one. Secrets never reach
either shape: the redacting filter runs first and cleans the message, the traceback and every
string value passed in ``extra``.
"""

from __future__ import annotations

__all__ = ["CONTEXT_FIELDS", "setup_logging"]

import logging
import sys
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

from connector.util.secrets import Redactor

#: the context fields a log call may pass in ``extra`` (each becomes a JSON key)
CONTEXT_FIELDS = ("key", "external_id", "operation", "source", "ticket_id")
LogFormat = Literal["text", "json"]


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to whatever ``sys.stderr`` is when a record comes (as logging's own
    last-resort handler does): whoever calls ``main`` more than once in a process (tests, an
    embedding tool) swaps ``sys.stderr`` between calls, and a handler bound to the first one would
    write into a closed file ever after — a background thread's late record then ends in a
    "Logging error" traceback instead of a log line."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """``setStream`` and ``__init__`` assign it; the current ``sys.stderr`` is always used."""


class _RedactContext(logging.Filter):
    """Cleans the string values of the context fields too (the redactor cleans message and traceback)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if isinstance(value, str):
                record.__dict__[name] = self._redactor.redact(value)
        return True


def _json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        json_ensure_ascii=False,
    )


def setup_logging(level: str, redactor: Redactor, fmt: LogFormat = "text") -> None:
    """One handler on the root logger, on stderr, in ``fmt``; the noisy libraries kept at INFO."""
    handler = _CurrentStderr()
    if fmt == "json":
        handler.setFormatter(_json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    handler.addFilter(_RedactContext(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # the pyzabbix and urllib3 loggers print payloads (tokens included) at DEBUG
    for noisy in ("pyzabbix", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
