"""The state file's connection: opening it (WAL, ``synchronous=FULL``), migrating it,
transactions, and the two small tables every part writes to (dead letters, cursors).

The tables with a job of their own (``journal``, ``outbox``, ``tickets``) are written by the
mixins beside this module and put together as ``connector.state.store.Store``; they all go
through ``_exec``, so a SQLite failure is a ``StoreError`` naming the file, and rows come back
as ``sqlite3.Row`` (read by column name, never by position).
"""

from __future__ import annotations

__all__ = ["Database"]

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.domain.errors import StoreError
from connector.state.schema import MIGRATIONS

#: seconds a connection waits for another's lock (and a new file's switch to WAL)
_OPEN_TIMEOUT = 30.0


class Database:
    """One connection to the state file. One instance per process; not shared between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=_OPEN_TIMEOUT)
            self._db.row_factory = sqlite3.Row
            self._enter_wal()
            # FULL: a commit survives a power cut, not only a crash of the process — the journal
            # acknowledges input (a mail marked seen, a webhook answered 200) on the strength of it
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._depth = 0
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open state database {self.path}: {exc}") from exc

    # --- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database."""
        self._db.close()

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
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a transaction on {self.path}: {exc}") from exc
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"commit failed on {self.path}: {exc}") from exc
        finally:
            self._depth = 0

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc} in {sql.split()[0]} statement") from exc

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Every row of a query, each readable by column name."""
        rows: list[sqlite3.Row] = self._exec(sql, params).fetchall()
        return rows

    def _row(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a query, or ``None``."""
        row: sqlite3.Row | None = self._exec(sql, params).fetchone()
        return row

    def _enter_wal(self) -> None:
        """Switch the file to WAL. On a new file that two processes open at the same moment,
        SQLite answers the second "database is locked" at once instead of waiting (the busy
        timeout does not apply to this lock upgrade), so it is asked again, for at most the
        connect timeout; once in WAL the pragma takes no lock at all."""
        deadline = time.monotonic() + _OPEN_TIMEOUT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _migrate(self) -> None:
        """Bring the file to the latest schema. Two processes opening a new file at the same
        moment must not both create it: the version is read again inside ``BEGIN IMMEDIATE``
        (the second waits for the first's write lock, then finds nothing left to do)."""
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        if self._version() == len(MIGRATIONS):
            return  # the usual open: no write lock taken
        with self.transaction():
            current = self._version()
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {current}, newer than this connector knows ({len(MIGRATIONS)})"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    def _version(self) -> int:
        row = self._db.execute("SELECT max(version) AS version FROM schema_version").fetchone()
        return int(row["version"] or 0)

    @property
    def schema_version(self) -> int:
        """The migration the file is at."""
        row = self._row("SELECT max(version) AS version FROM schema_version")
        return int(row["version"] or 0) if row is not None else 0

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
        self, kind: str, source: str | None, ref: str | None, reason: str, payload: str | None, now: datetime
    ) -> None:
        """Keep something that cannot be processed, with the reason, for a person to look at."""
        self._exec(
            "INSERT INTO dead_letter (kind, source, ref, reason, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, source, ref, reason, payload, now.isoformat()),
        )

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead-letter row, oldest first."""
        rows = self._rows("SELECT id, kind, source, ref, reason, payload, created_at FROM dead_letter ORDER BY id")
        return [dict(row) for row in rows]

    def _counts(self, table: str) -> dict[str, int]:
        """Rows of ``table`` (journal or outbox) per status."""
        rows = self._rows(f"SELECT status, count(*) AS n FROM {table} GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}
