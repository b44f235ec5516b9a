"""Which engine the store-using tests run on: SQLite files (the default), or PostgreSQL when
``ITSM_TEST_STATE_URL`` (or ``pytest --state-url``) names a database.

A test opens its store with ``make_store(path)`` where it used to write ``Store(path)``. On
SQLite that is exactly ``Store(path)``. On PostgreSQL each distinct path of the running test is
a fresh schema of that database (``CREATE SCHEMA t_<uuid>``, the connection's ``search_path``),
so the same path opened twice is the same store, two paths are two stores, tests stay isolated
from each other and from earlier runs, and ``tests/conftest.py`` drops the schemas after the test.
``:memory:`` stays SQLite (it is about SQLite's own memory database).

Tests that hand the path to code that opens it itself (the CLI, the daemon) or read the file
with ``sqlite3`` keep ``Store(path)``: they are about SQLite files.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg

from connector.state.store import Store, open_store
from connector.state.target import StateTarget

STATE_URL_ENV = "ITSM_TEST_STATE_URL"

#: set by tests/conftest.py from --state-url or the environment; None: SQLite
state_url: str | None = os.environ.get(STATE_URL_ENV) or None
_schemas: dict[str, str] = {}
_opened: list[Store] = []


def on_postgresql() -> bool:
    """Whether the store-using tests run on PostgreSQL in this session."""
    return state_url is not None


def fresh_schema(url: str) -> str:
    """A new empty schema in the database at ``url``; its name."""
    name = f"t_{uuid.uuid4().hex[:20]}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {name}".encode())
    return name


def drop_schemas(url: str, names: list[str]) -> None:
    """Drop these schemas and everything in them."""
    if names:
        with psycopg.connect(url, autocommit=True) as db:
            for name in names:
                db.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE".encode())


def in_schema(url: str, schema: str) -> str:
    """``url`` with ``schema`` as the connection's ``search_path``."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


def state_target(path: Path | str) -> Path | str | StateTarget:
    """What ``make_store`` opens for ``path`` in this session."""
    if state_url is None or str(path) == ":memory:":
        return path
    key = str(path)
    if key not in _schemas:
        _schemas[key] = fresh_schema(state_url)
    return StateTarget.parse(in_schema(state_url, _schemas[key]))


def make_store(path: Path | str) -> Store:
    """The store a test opens at ``path``: the SQLite file, or that path's schema on PostgreSQL."""
    store = open_store(state_target(path))
    if state_url is not None:
        _opened.append(store)  # closed after the test: a test need not close what it opened
    return store


def state_yaml(path: Path) -> str:
    """The ``state:`` mapping of a config file (YAML flow style) for the store ``make_store(path)``
    opens: ``{path: FILE}`` on SQLite, ``{url: postgresql://…}`` (that path's schema) on
    PostgreSQL — so a test that runs the CLI or the daemon on a config file covers both engines."""
    target = state_target(path)
    if isinstance(target, StateTarget):
        return "{url: " + json.dumps(in_schema(str(state_url), _schemas[str(path)])) + "}"
    return "{path: " + json.dumps(str(path)) + "}"


def drop_test_schemas() -> None:
    """Drop the schemas the finished test made (tests/conftest.py, after each test)."""
    while _opened:
        _opened.pop().close()
    if state_url is not None and _schemas:
        names = list(_schemas.values())
        _schemas.clear()
        drop_schemas(state_url, names)
