"""What the connector keeps so that nothing accepted is lost: the state store (journal, outbox,
ticket map, dead letters, cursors) on SQLite or PostgreSQL, and the attachment spool.

The store's SQL is written once, in the subset both engines run; ``connector.state.dialect``
translates the rest of the spelling for PostgreSQL. Conventions for every statement (new ones
included), what that layer handles and what it does not:

- ``?`` placeholders only (never ``%s`` or ``:name``); a ``?`` or ``%`` inside a quoted literal is
  text. ``x IS ?`` compares with NULL on both (it becomes ``IS NOT DISTINCT FROM``).
- ``INSERT … ON CONFLICT … DO NOTHING/DO UPDATE`` (never ``INSERT OR IGNORE/REPLACE``); the
  id of a new row from ``… RETURNING id`` (never ``cursor.lastrowid``); an INSERT names its
  columns (PostgreSQL tables carry a hidden ``rowid`` column).
- ``ORDER BY rowid`` is insertion order on both (PostgreSQL: an identity column each table gets,
  or its integer key); rows never show it.
- No SQLite-only functions (``julianday``, ``datetime()``, ``strftime``; ``coalesce``, not
  ``ifnull``), no ``PRAGMA``; no aggregate over a condition (``sum(a IS NULL)``: write
  ``sum(CASE WHEN … THEN 1 ELSE 0 END)``); every selected column is grouped or aggregated (no
  SQLite "bare column" beside ``max()``); ``LIKE`` only on text whose case is known (SQLite's
  ignores ASCII case, PostgreSQL's does not).
- Timestamps are ISO-8601 UTC TEXT, compared as text (byte by byte on both: PostgreSQL text
  columns are ``COLLATE "C"``); booleans are 0/1 INTEGER (a Python ``bool`` parameter is written
  as 0/1 on both).
- Tables: ``id INTEGER PRIMARY KEY AUTOINCREMENT`` (or ``INTEGER PRIMARY KEY``) becomes an identity
  column; ``INTEGER`` is 64-bit on both. A schema change is a string appended to
  ``connector.state.schema.MIGRATIONS``; tests use ``len(MIGRATIONS)``, never a number.
- Go through ``Database._exec``/``_rows``/``_row`` (rows read by column name), inside
  ``with store.transaction()`` for anything that must be atomic; never a raw ``sqlite3`` call.
"""
