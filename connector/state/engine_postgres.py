"""The state store in a PostgreSQL database (psycopg 3), for several daemons on one state.

The statements are the store's own SQL, translated word by word (``connector.state.dialect``);
a transaction is ``BEGIN`` … ``COMMIT`` on a connection that otherwise autocommits, exactly as
the SQLite engine runs it (READ COMMITTED: each statement sees what others committed before it);
migrating holds an advisory lock, so two daemons opening one new database do not both migrate.
Rows are dicts (psycopg's ``dict_row`` less the hidden ``rowid`` column, which SQLite's
``SELECT *`` leaves out too). Booleans are written as 0/1, as the INTEGER columns hold them.

A failure is a ``StoreError`` naming the server (``postgresql://user@host:port/db``); the
password is given to libpq apart from the URL and is never part of a message.

Why psycopg's binary package: it carries its own libpq, so ``pip install`` is the whole
installation on any machine (no ``libpq5`` from the system to match, no compiler), and it is the
fast C implementation; the pure-Python one would need Debian's ``libpq5`` beside every venv.
"""

from __future__ import annotations

__all__ = ["PostgresConnection"]

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from connector.domain.errors import StoreError
from connector.state.dialect import pg_ddl, pg_query
from connector.state.target import StateTarget

#: seconds to wait for the server before the start fails
_CONNECT_TIMEOUT = 10
#: first key of the advisory lock held while migrating (the second is the schema's hash)
_MIGRATION_LOCK = 0x17C5


def _row_maker(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """psycopg's ``dict_row`` without the ``rowid`` column (SQLite hides its rowid too)."""
    names = [column.name for column in cursor.description or ()]
    keep = [(index, name) for index, name in enumerate(names) if name != "rowid"]

    def make(values: Sequence[Any]) -> dict[str, Any]:
        return {name: values[index] for index, name in keep}

    return make


class PostgresConnection:
    """One connection to the state database. Raises ``StoreError`` naming the server."""

    engine = "postgresql"

    def __init__(self, target: StateTarget, *, connect_timeout: int = _CONNECT_TIMEOUT) -> None:
        self.name = target.display
        self._password = target.password
        try:
            self._db: psycopg.Connection[dict[str, Any]] = psycopg.connect(
                target.location,
                password=target.password,
                autocommit=True,
                connect_timeout=connect_timeout,
                row_factory=_row_maker,
                application_name="itsm-connector",
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot open state database {self.name}: {self._clean(exc)}") from None

    def _clean(self, exc: BaseException) -> str:
        """The error's text, the password cut out should a server ever quote it."""
        text = " ".join(str(exc).split())
        return text.replace(self._password, "***") if self._password else text

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[dict[str, Any]]:
        """Run one statement (translated); a failure is a ``StoreError`` naming the server."""
        values = tuple(int(value) if isinstance(value, bool) else value for value in params)
        return self._run(pg_query(sql), values, sql)

    def _run(self, query: str, values: Sequence[Any], sql: str) -> psycopg.Cursor[dict[str, Any]]:
        try:
            return self._db.execute(query.encode(), values)  # bytes: psycopg types a str query as LiteralString
        except psycopg.Error as exc:
            raise StoreError(f"{self.name}: {self._clean(exc)} in {sql.split()[0]} statement") from None

    def ddl(self, statement: str) -> str:
        """A migration statement in PostgreSQL's DDL."""
        return pg_ddl(statement)

    def begin(self) -> None:
        """Start a transaction."""
        self._run("BEGIN", (), "BEGIN")

    def commit(self) -> None:
        """Commit; ``StoreError`` when the server refuses."""
        self._run("COMMIT", (), "COMMIT")

    def rollback(self) -> None:
        """Roll back (a failed statement has already aborted the transaction: this ends it)."""
        self._run("ROLLBACK", (), "ROLLBACK")

    @contextlib.contextmanager
    def migration_lock(self) -> Iterator[None]:
        """A session advisory lock per schema: the second daemon waits, then finds nothing to do."""
        self.execute("SELECT pg_advisory_lock(?, hashtext(current_schema()))", (_MIGRATION_LOCK,))
        try:
            yield
        finally:
            self.execute("SELECT pg_advisory_unlock(?, hashtext(current_schema()))", (_MIGRATION_LOCK,))

    def table_sizes(self) -> dict[str, int]:
        """Rows per table of the current schema."""
        names = [
            row["table_name"]
            for row in self.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                " AND table_type = 'BASE TABLE' ORDER BY table_name"
            ).fetchall()
        ]
        sizes: dict[str, int] = {}
        for name in names:
            row = self.execute(f'SELECT count(*) AS n FROM "{name}"').fetchone()
            sizes[name] = int(row["n"]) if row else 0
        return sizes

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
