"""The only place that reads the wall clock.

Everything time-based (SLA dates, escalation, windows, outbox backoff) takes a ``Clock``, so a
test can run a month in milliseconds with ``FakeClock.advance``. A test greps the package to
keep ``datetime.now`` and ``time.time`` out of every other module.
"""

from __future__ import annotations

__all__ = ["Clock", "FakeClock", "SystemClock", "ensure_utc", "isoformat", "parse_time"]

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that says what time it is, as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to; for tests and for replaying recorded input."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, /, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)``; returns the new time."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("a clock does not go backwards")
        self._now += step
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (never backwards)."""
        when = ensure_utc(when)
        if when > self._now:
            self._now = when


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """Parse ISO 8601 (``Z`` allowed) into aware UTC; raises ValueError on anything else."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    return ensure_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def isoformat(value: datetime | None) -> str | None:
    """``value`` as ISO 8601 text, or ``None`` for ``None`` (how the store and outbox keep times)."""
    return None if value is None else value.isoformat()
