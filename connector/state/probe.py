"""Whether a PostgreSQL state database takes writes now: ``/readyz``'s ``state`` check.

A connection of its own (not the engine's, which belongs to the engine's thread), short
timeouts, no migration: ``BEGIN``, ``SET TRANSACTION READ WRITE`` (a read-only server or a
standby refuses it), ``ROLLBACK``. The answer names the server, never the password.
"""

from __future__ import annotations

__all__ = ["probe_postgresql"]

from connector.domain.errors import StoreError
from connector.state.engine_postgres import PostgresConnection
from connector.state.target import StateTarget


def probe_postgresql(target: StateTarget, timeout: float = 2.0) -> str | None:
    """``None`` when the database at ``target`` takes a write transaction now, else why not."""
    try:
        db = PostgresConnection(target, connect_timeout=max(1, round(timeout)))
    except StoreError as exc:
        return str(exc)
    try:
        db.begin()
        db.execute("SET TRANSACTION READ WRITE")
        db.rollback()
    except StoreError as exc:
        return f"{target.display} takes no write: {exc}"
    finally:
        db.close()
    return None
