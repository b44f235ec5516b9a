"""How long an owed operation waits after a failure: exponential backoff, never shorter than
what the server asked for (``Retry-After``), optionally giving up after some attempts."""

from __future__ import annotations

__all__ = ["RetryPolicy"]

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for owed operations."""

    initial_seconds: float = 5.0
    max_seconds: float = 900.0
    max_attempts: int | None = None

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds to wait after the ``attempts``-th failure (1-based), at least ``retry_after``."""
        backoff = min(self.initial_seconds * (2.0 ** max(attempts - 1, 0)), self.max_seconds)
        return float(max(backoff, retry_after or 0.0))
