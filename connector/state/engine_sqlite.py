"""The state store in one SQLite file: WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``.

What ``Database`` did by itself before the PostgreSQL engine came: the statements are the
store's own SQL as written (SQLite is the dialect it is written in), rows are ``sqlite3.Row``.
"""

from __future__ import annotations

__all__ = ["SqliteConnection"]

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from connector.domain.errors import StoreError

#: seconds a connection waits for another's lock (and a new file's switch to WAL)
_OPEN_TIMEOUT = 30.0


class SqliteConnection:
    """One connection to the state file. Raises ``StoreError`` naming the file."""

    engine = "sqlite"

    def __init__(self, path: str) -> None:
        self.name = path
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, timeout=_OPEN_TIMEOUT)
            self._db.row_factory = sqlite3.Row
            self._enter_wal()
            # FULL: a commit survives a power cut, not only a crash of the process — the journal
            # acknowledges input (a mail marked seen, a webhook answered 200) on the strength of it
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open state database {path}: {exc}") from exc

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

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement; a failure is a ``StoreError`` naming the file."""
        try:
            return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.name}: {exc} in {sql.split()[0]} statement") from exc

    def ddl(self, statement: str) -> str:
        """Migrations are written in SQLite's DDL: as they are."""
        return statement

    def begin(self) -> None:
        """``BEGIN IMMEDIATE``: the file's write lock now, not at the first write (a reader that
        later writes would otherwise deadlock with another writer)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot start a transaction on {self.name}: {exc}") from exc

    def commit(self) -> None:
        """Commit; ``StoreError`` when the file refuses."""
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"commit failed on {self.name}: {exc}") from exc

    def rollback(self) -> None:
        """Roll back the open transaction."""
        self._db.execute("ROLLBACK")

    @contextlib.contextmanager
    def migration_lock(self) -> Iterator[None]:
        """Nothing to add: the migration's ``BEGIN IMMEDIATE`` already makes a second process wait."""
        yield

    def table_sizes(self) -> dict[str, int]:
        """Rows per table."""
        names = [
            row["name"]
            for row in self.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
            if not str(row["name"]).startswith("sqlite_")
        ]
        return {name: int(self.execute(f'SELECT count(*) AS n FROM "{name}"').fetchone()["n"]) for name in names}

    def close(self) -> None:
        """Close the file."""
        self._db.close()
