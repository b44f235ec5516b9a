"""The state store's connection: opening it, migrating it, transactions, and the two small
tables every part writes to (dead letters, cursors).

The tables with a job of their own (``journal``, ``outbox``, ``tickets``) are written by the
mixins beside this module and put together as ``connector.state.store.Store``; they all go
through ``_exec``/``_rows``/``_row``, so a failure is a ``StoreError`` naming the file or the
server, and rows are read by column name, never by position. The engine underneath (a SQLite
file or a PostgreSQL database) is a ``connector.state.connection.Connection``, chosen from the
target (``connector.state.target``): the SQL here is the portable subset of ``connector.state``.
"""

from __future__ import annotations

__all__ = ["Database", "connect"]

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.domain.errors import StoreError
from connector.state.connection import Connection, Cursor, Row
from connector.state.dialect import split_statements
from connector.state.schema import MIGRATIONS
from connector.state.target import StateTarget


def connect(target: StateTarget) -> Connection:
    """A new connection to ``target`` (its engine's module imported only when it is used:
    psycopg is not loaded by a connector on SQLite)."""
    if target.engine == "postgresql":
        from connector.state.engine_postgres import PostgresConnection

        return PostgresConnection(target)
    from connector.state.engine_sqlite import SqliteConnection

    return SqliteConnection(target.location)


class Database:
    """One connection to the state store. One instance per process (per thread); not shared
    between threads.

    :param target: a SQLite file (a path, as before), a ``sqlite:``/``postgresql:`` URL, or a
        parsed ``StateTarget``.
    :param migrate: bring the store to the latest schema on open (``state migrate --dry-run``
        and ``state check`` open it without).
    """

    def __init__(self, target: Path | str | StateTarget, *, migrate: bool = True) -> None:
        try:
            self.target = target if isinstance(target, StateTarget) else StateTarget.parse(target)
        except ValueError as exc:
            raise StoreError(f"state: {exc}") from None
        #: what messages name: the file, or the server without the password
        self.path = self.target.display
        self._conn = connect(self.target)
        self._depth = 0
        try:
            if migrate:
                self._migrate()
        except BaseException:
            self._conn.close()
            raise

    @property
    def engine(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._conn.engine

    # --- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work (nesting joins the outer transaction)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._conn.begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            self._conn.rollback()
            raise
        else:
            self._conn.commit()
        finally:
            self._depth = 0

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of a query, each readable by column name."""
        rows: list[Row] = self._exec(sql, params).fetchall()
        return rows

    def _row(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or ``None``."""
        row: Row | None = self._exec(sql, params).fetchone()
        return row

    # --- schema --------------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the store to the latest schema. Two processes opening a new store at the same
        moment must not both create it: the version is read again inside the migration's
        transaction (SQLite: ``BEGIN IMMEDIATE``, the second waits for the first's write lock),
        under the engine's migration lock (PostgreSQL: an advisory lock, taken before even
        ``schema_version`` is created), and the second finds nothing left to do."""
        with self._conn.migration_lock():
            self._exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            if self._version() == len(MIGRATIONS):
                return  # the usual open: no write lock taken
            with self.transaction():
                current = self._version()
                self._check_not_newer(current)
                for version in range(current + 1, len(MIGRATIONS) + 1):
                    for statement in self.pending_statements(version):
                        self._exec(statement)
                    self._exec("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def _check_not_newer(self, current: int) -> None:
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this connector knows ({len(MIGRATIONS)})"
            )

    def pending_statements(self, version: int) -> list[str]:
        """The statements of migration ``version`` (1-based) as this store's engine runs them."""
        return [self._conn.ddl(statement) for statement in split_statements(MIGRATIONS[version - 1])]

    def _version(self) -> int:
        try:
            row = self._row("SELECT max(version) AS version FROM schema_version")
        except StoreError as exc:
            if self._depth or "schema_version" not in str(exc):
                raise
            return 0  # opened without migrating, and nothing was ever migrated
        return int(row["version"] or 0) if row is not None else 0

    @property
    def schema_version(self) -> int:
        """The migration the store is at."""
        return self._version()

    def migrate(self) -> tuple[int, int]:
        """Bring the store to the latest schema now; (from, to) versions."""
        before = self._version()
        self._migrate()
        return before, self._version()

    def table_sizes(self) -> dict[str, int]:
        """Rows per table (``state check``)."""
        return self._conn.table_sizes()

    # --- cursors -------------------------------------------------------------------------------

    def get_cursor(self, source: str) -> str | None:
        """How far ``source`` has been read, as the source itself encoded it."""
        row = self._row("SELECT cursor FROM cursors WHERE source = ?", (source,))
        return None if row is None else row["cursor"]

    def set_cursor(self, source: str, cursor: str | None, now: datetime) -> None:
        """Remember how far ``source`` has been read."""
        self._exec(
            "INSERT INTO cursors (source, cursor, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            (source, cursor, now.isoformat()),
        )

    # --- dead letters --------------------------------------------------------------------------

    def dead_letter(
        self,
        kind: str,
        source: str | None,
        ref: str | None,
        reason: str,
        payload: str | None,
        now: datetime,
        *,
        item_id: int | None = None,
    ) -> None:
        """Keep something that cannot be processed, with the reason, for a person to look at;
        ``item_id``: the journal entry (kinds ``intake``, ``rule``) or outbox operation (``outbox``)
        marked dead with it, the row ``dead-letters retry`` puts back."""
        self._exec(
            "INSERT INTO dead_letter (kind, source, ref, reason, payload, created_at, item_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, source, ref, reason, payload, now.isoformat(), item_id),
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead-letter row, oldest first."""
        rows = self._rows("SELECT id, kind, source, ref, reason, payload, created_at FROM dead_letter ORDER BY id")
        return [dict(row) for row in rows]

    def _counts(self, table: str) -> dict[str, int]:
        """Rows of ``table`` (journal or outbox) per status."""
        rows = self._rows(f"SELECT status, count(*) AS n FROM {table} GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}
