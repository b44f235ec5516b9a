"""What the store needs of a database engine: one ``Connection`` interface, two implementations.

``connector.state.database.Database`` (and through it every table mixin) talks to a
``Connection`` only: ``engine_sqlite.SqliteConnection`` (one file, WAL) or
``engine_postgres.PostgresConnection`` (one server). Each takes statements written in the store's
portable SQL with ``?`` placeholders, turns a failure into a ``StoreError`` naming the file or the
server (never a password), and returns rows readable by column name.
"""

from __future__ import annotations

__all__ = ["Connection", "Cursor", "Row"]

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Row(Protocol):
    """One result row, read by column name (``row["status"]``; ``dict(row)`` for all of it)."""

    def keys(self) -> Any:
        """The column names."""

    def __getitem__(self, key: str, /) -> Any:
        """The value of one column."""


class Cursor(Protocol):
    """What a statement returns: its rows and how many rows it changed."""

    @property
    def rowcount(self) -> int:
        """Rows an INSERT/UPDATE/DELETE changed."""

    def fetchone(self) -> Any:
        """The next row, or ``None``."""

    def fetchall(self) -> Any:
        """Every row left."""


class Connection(Protocol):
    """One connection to one state store (not shared between threads)."""

    #: ``sqlite`` or ``postgresql``
    engine: str
    #: what messages name: the file, or ``postgresql://user@host:port/db`` (never the password)
    name: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement (``?`` placeholders); ``StoreError`` on failure."""

    def ddl(self, statement: str) -> str:
        """One migration statement (written for SQLite) as this engine runs it."""

    def begin(self) -> None:
        """Start a write transaction (SQLite: ``BEGIN IMMEDIATE``, the file's write lock)."""

    def commit(self) -> None:
        """Commit the transaction."""

    def rollback(self) -> None:
        """Roll the transaction back."""

    def migration_lock(self) -> AbstractContextManager[None]:
        """Held around a migration, so two processes opening one new store do not both migrate."""

    def table_sizes(self) -> dict[str, int]:
        """Rows per table of the store (``state check``)."""

    def close(self) -> None:
        """Close the connection."""
