"""Secrets come from the environment or from files, never from the YAML itself.

The config loader replaces ``${VAR}`` with the variable's value and ``<key>_file: PATH`` with
``<key>: <content of PATH>``, wrapping the result in ``SecretSource`` so that a ``Secret``
field can tell a reference from a password pasted into the file (which it refuses). Every
resolved value is also handed to ``Redactor`` so it never reaches a log line.
"""

from __future__ import annotations

__all__ = ["Redactor", "Secret", "SecretSource"]

import logging
import threading
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr


class SecretSource(str):
    """A string that came from ``${ENV}`` or a ``*_file`` reference."""

    __slots__ = ()


def _from_reference(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, SecretSource):
        return SecretStr(str(value))
    if value is None:
        return value
    raise ValueError("a secret must be given as ${ENV_VAR} or as <key>_file: PATH, never written in the file")


#: a config field holding a secret (API key, token, password)
Secret = Annotated[SecretStr, BeforeValidator(_from_reference)]


class Redactor(logging.Filter):
    """A logging filter that replaces every registered secret value with ``***``."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        """Hide ``value`` in every later log line (short values are ignored: too many false hits)."""
        if value and len(value) >= 4:
            with self._lock:
                self._secrets.add(value)

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            cleaned = self.redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and not record.exc_text:
                record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            elif record.exc_text:
                record.exc_text = self.redact(record.exc_text)
        return True
